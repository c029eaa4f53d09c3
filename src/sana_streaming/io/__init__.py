"""Video input and output: sources yield :class:`VideoFrame` (uint8 RGB + time), sinks consume them.

Sources: ``open_source`` (files, image folders, webcams, network streams) and :class:`PushSource`.
Sinks: ``open_sink`` (MP4/MOV/MKV, image folders, network streams, callbacks).
Transforms: ``fit_frame`` (crop / letterbox to the model size), :class:`FrameRateResampler`, ``side_by_side``.
Imports nothing from the model; errors are :class:`VideoError` with one user-facing line.
"""

from sana_streaming.io.base import VideoSink, VideoSource
from sana_streaming.io.frames import VideoError, VideoFrame, to_uint8_rgb
from sana_streaming.io.images import ImageFolderSink, ImageFolderSource
from sana_streaming.io.push import PushSource
from sana_streaming.io.sinks import CallbackSink, Mp4Sink, NetworkSink, open_sink
from sana_streaming.io.sources import FileSource, NetworkSource, WebcamSource, open_source
from sana_streaming.io.transform import FrameRateResampler, fit_frame, side_by_side

__all__ = [
    "CallbackSink",
    "FileSource",
    "FrameRateResampler",
    "ImageFolderSink",
    "ImageFolderSource",
    "Mp4Sink",
    "NetworkSink",
    "NetworkSource",
    "PushSource",
    "VideoError",
    "VideoFrame",
    "VideoSink",
    "VideoSource",
    "WebcamSource",
    "fit_frame",
    "open_sink",
    "open_source",
    "side_by_side",
    "to_uint8_rgb",
]
