"""Webcams and network streams: clear failures, an HTTP file, and NetworkSink -> listener round trips on localhost."""

import functools
import http.server
import io
import os
import re
import socket
import threading
import time

import av
import numpy as np
import pytest

from sana_streaming.io import Mp4Sink, NetworkSink, NetworkSource, VideoError, WebcamSource, open_sink, open_source
from tests.io.clips import decoded_index, index_frames


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("spec", ["webcam:7", 7, "/dev/video7"])
def test_missing_webcam(spec):
    if os.path.exists("/dev/video7"):
        pytest.skip("this machine has a /dev/video7")
    with pytest.raises(VideoError) as info:
        open_source(spec)
    assert str(info.value) == "webcam not found: /dev/video7"


def test_plain_webcam_spec_is_device_zero():
    if os.path.exists("/dev/video0"):
        pytest.skip("this machine has a camera")
    with pytest.raises(VideoError) as info:
        WebcamSource()
    assert str(info.value) == "webcam not found: /dev/video0"


@pytest.mark.parametrize("scheme", ["rtsp", "rtmp", "tcp", "http"])
def test_refused_url_fails_fast(scheme):
    start = time.monotonic()
    with pytest.raises(VideoError) as info:
        open_source(f"{scheme}://user:secret@127.0.0.1:9/live")
    assert time.monotonic() - start < 2.0
    assert str(info.value) == f"cannot open URL: {scheme}://user:***@127.0.0.1:9/live (Connection refused)"


def test_silent_url_times_out():
    port = free_port(socket.SOCK_DGRAM)
    start = time.monotonic()
    with pytest.raises(VideoError) as info:
        open_source(f"udp://127.0.0.1:{port}", timeout=0.5)
    assert time.monotonic() - start < 3.0
    assert str(info.value) == f"cannot open URL: udp://127.0.0.1:{port} (no answer within 0.5 s)"


def test_unsupported_url_scheme():
    with pytest.raises(VideoError) as info:
        open_source("ftp://example.com/clip.mp4")
    assert str(info.value) == (
        "unsupported URL scheme ftp:// in ftp://example.com/clip.mp4 "
        "(expected rtsp, rtsps, rtmp, rtmps, srt, udp, tcp, http, https)"
    )


@pytest.fixture
def http_root(tmp_path):
    class QuietHandler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=tmp_path))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield tmp_path, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_http_file(http_root):
    root, base_url = http_root
    with Mp4Sink(root / "clip.mp4", 16) as sink:
        sink.write(index_frames(24))
    with open_source(f"{base_url}/clip.mp4") as source:
        assert isinstance(source, NetworkSource) and not source.live
        assert source.size == (64, 48) and source.fps == 16
        frames = list(source)
    assert [decoded_index(f.image) for f in frames] == list(range(24)) and source.error is None
    with pytest.raises(VideoError) as info:
        open_source(f"{base_url}/missing.mp4")
    assert str(info.value) == f"cannot open URL: {base_url}/missing.mp4 (Server returned 404 Not Found)"


def collect_tcp(server: socket.socket, received: bytearray) -> None:
    connection, _ = server.accept()
    with connection:
        while data := connection.recv(65536):
            received.extend(data)


def test_network_sink_tcp_round_trip():
    server = socket.create_server(("127.0.0.1", 0))
    received = bytearray()
    reader = threading.Thread(target=collect_tcp, args=(server, received))
    reader.start()
    with open_sink(f"tcp://127.0.0.1:{server.getsockname()[1]}", fps=16, size=(67, 45)) as sink:
        assert isinstance(sink, NetworkSink)
        sink.write(index_frames(20, (67, 45)))
    reader.join(5)
    server.close()
    with av.open(io.BytesIO(bytes(received)), format="mpegts") as container:
        stream = container.streams.video[0]
        assert stream.codec_context.pix_fmt == "yuv420p" and (stream.width, stream.height) == (68, 46)  # padded even
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
    assert [decoded_index(f[:45, :67]) for f in frames] == list(range(20))


def test_network_sink_udp_datagrams():
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(0.5)
    datagrams = []

    def collect():
        try:
            while True:
                datagrams.append(receiver.recv(65536))
        except TimeoutError:
            pass

    reader = threading.Thread(target=collect)
    reader.start()
    with NetworkSink(f"udp://127.0.0.1:{receiver.getsockname()[1]}", 16) as sink:
        sink.write(index_frames(12))
    reader.join(5)
    receiver.close()
    assert datagrams and max(len(d) for d in datagrams) <= 1316
    with av.open(io.BytesIO(b"".join(datagrams)), format="mpegts") as container:
        assert len(list(container.decode(video=0))) == 12


def test_network_sink_into_live_network_source():
    """A NetworkSource listening on tcp receives what a NetworkSink sends, through its reader thread."""
    port, received, failures = free_port(), [], []

    def listen():
        try:
            with open_source(f"tcp://127.0.0.1:{port}?listen=1", timeout=5) as source:
                received.extend([source.live, *source])
        except VideoError as err:
            failures.append(err)

    listener = threading.Thread(target=listen)
    listener.start()
    for _ in range(200):  # until the listener is up
        try:
            sink = NetworkSink(f"tcp://127.0.0.1:{port}", 16, size=(64, 48))
            break
        except VideoError:
            time.sleep(0.01)
    with sink:
        sink.write(index_frames(16))
    listener.join(10)
    assert not failures and received[0] is True
    assert [decoded_index(f.image) for f in received[1:]] == list(range(16))
    np.testing.assert_allclose([f.time for f in received[1:]], np.arange(16) / 16, atol=2e-3)


def test_network_sink_refused_and_bad_scheme():
    with pytest.raises(VideoError) as info:
        NetworkSink("rtmp://127.0.0.1:9/live/key", 16, size=(64, 48))
    assert str(info.value) == "cannot open URL: rtmp://127.0.0.1:9/live/key (Connection refused)"
    with pytest.raises(VideoError) as info:
        open_sink("ftp://example.com/out", fps=16)
    assert (
        str(info.value)
        == "unsupported output URL scheme ftp:// in ftp://example.com/out (expected rtmp, rtmps, srt, udp, tcp)"
    )


def test_closing_a_live_source_mid_stream_stops_promptly_and_the_sender_sees_it():
    port, sources, send_errors = free_port(), [], []
    listener = threading.Thread(
        target=lambda: sources.append(open_source(f"tcp://127.0.0.1:{port}?listen=1", timeout=5))
    )
    listener.start()
    for _ in range(200):
        try:
            sink = NetworkSink(f"tcp://127.0.0.1:{port}", 32, size=(64, 48))
            break
        except VideoError:
            time.sleep(0.01)

    def send():
        try:
            for image in np.tile(index_frames(8), (40, 1, 1, 1)):
                sink.write(image)
                time.sleep(1 / 64)
        except VideoError as err:
            send_errors.append(err)
        finally:
            sink.close()

    sender = threading.Thread(target=send)
    sender.start()
    listener.join(10)
    source = sources[0]
    frames = iter(source)
    first = [next(frames) for _ in range(3)]
    start = time.monotonic()
    source.close()
    assert time.monotonic() - start < 1.5
    assert [f.index for f in first] == [0, 1, 2]
    sender.join(10)
    assert len(send_errors) == 1
    assert re.fullmatch(
        rf"lost connection to tcp://127\.0\.0\.1:{port} \((Broken pipe|Connection reset by peer)\)", str(send_errors[0])
    )
