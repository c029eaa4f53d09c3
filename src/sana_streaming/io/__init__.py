"""Video input and output: sources yield :class:`VideoFrame` (uint8 RGB + time), sinks consume them.

Sources: ``open_source`` (files, image folders, webcams, network streams) and :class:`PushSource`.
Sinks: ``open_sink`` (MP4/MOV/MKV, image folders, network streams, callbacks).
Transforms: ``fit_frame`` (crop / letterbox to the model size), :class:`FrameRateResampler`, ``side_by_side``.
Imports nothing from the model; errors are :class:`VideoError` with one user-facing line.
"""

from __future__ import annotations

import importlib

# Names resolve on first use, so that frames, transforms and push sources work where PyAV is not installed
# (a GPU worker fed frames by a server, say); the file, network and image-folder classes need PyAV.
_WHERE = {
    "VideoSink": "base",
    "VideoSource": "base",
    "VideoError": "frames",
    "VideoFrame": "frames",
    "to_uint8_rgb": "frames",
    "ImageFolderSink": "images",
    "ImageFolderSource": "images",
    "PushSource": "push",
    "CallbackSink": "sinks",
    "Mp4Sink": "sinks",
    "NetworkSink": "sinks",
    "open_sink": "sinks",
    "FileSource": "sources",
    "NetworkSource": "sources",
    "WebcamSource": "sources",
    "open_source": "sources",
    "FrameRateResampler": "transform",
    "fit_frame": "transform",
    "side_by_side": "transform",
}


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)


__all__ = sorted(_WHERE)
