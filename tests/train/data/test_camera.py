"""Synthetic camera moves over stills: sizes, smoothness in time, views inside the image, determinism."""

import numpy as np
import pytest

from sana_streaming.io import VideoError
from sana_streaming.train.data.camera import CAMERA_KINDS, camera_path, camera_path_video
from tests.train.data.synthetic import smooth_image, textured_frame


@pytest.mark.parametrize("kind", CAMERA_KINDS)
@pytest.mark.parametrize(("image_size", "size"), [((320, 200), (96, 64)), ((150, 260), (61, 37)), ((40, 30), (96, 64))])
def test_shape_dtype_and_motion(kind, image_size, size):
    video = camera_path_video(textured_frame(image_size), 9, size, np.random.default_rng(0), kinds=(kind,))
    assert video.shape == (9, size[1], size[0], 3) and video.dtype == np.uint8
    assert np.abs(video[-1].astype(np.int16) - video[0]).mean() > 2.0  # first and last differ


@pytest.mark.parametrize("kind", CAMERA_KINDS)
def test_consecutive_frames_are_close(kind):
    image = smooth_image((480, 300))
    for seed in range(3):
        video = camera_path_video(image, 17, (128, 80), np.random.default_rng(seed), kinds=(kind,)).astype(np.int16)
        steps = np.abs(np.diff(video, axis=0)).mean(axis=(1, 2, 3))
        total = np.abs(video[-1] - video[0]).mean()
        # An eased move over 16 steps: no step is more than a quarter of the whole change (uniform would be 1/16).
        assert total > 4.0 and steps.max() <= 0.25 * total, (seed, steps.max(), total)


@pytest.mark.parametrize("kind", CAMERA_KINDS)
def test_path_is_smooth_eased_and_inside_the_image(kind):
    image_size, size = (400, 300), (160, 96)
    for seed in range(5):
        path = camera_path(33, image_size, size, np.random.default_rng(seed), kinds=(kind,))
        assert path.kind == kind
        for track in (path.center[:, 0], path.center[:, 1], path.scale, path.angle):
            speed = np.diff(track)
            # Eased: the first and last steps are about 5% of the fastest (pi / 32 for a half cosine over 32 steps).
            assert abs(speed[0]) <= 0.1 * np.abs(speed).max() + 1e-9
            assert abs(speed[-1]) <= 0.1 * np.abs(speed).max() + 1e-9
            assert np.abs(np.diff(speed)).max() <= 0.2 * np.abs(speed).max() + 1e-9  # no jerks
        assert np.abs(path.angle).max() <= np.radians(6.0)
        for corner in view_corners(path):
            assert (corner[:, 0] >= -1e-6).all() and (corner[:, 0] <= image_size[0] + 1e-6).all()
            assert (corner[:, 1] >= -1e-6).all() and (corner[:, 1] <= image_size[1] + 1e-6).all()


def view_corners(path) -> list[np.ndarray]:
    """(T, 2) image positions of each corner of the rotated view."""
    corners = []
    for sx, sy in ((-1, -1), (1, -1), (1, 1), (-1, 1)):
        dx, dy = sx * path.scale * path.base[0] / 2, sy * path.scale * path.base[1] / 2
        cos, sin = np.cos(path.angle), np.sin(path.angle)
        corners.append(np.stack([path.center[:, 0] + cos * dx - sin * dy, path.center[:, 1] + sin * dx + cos * dy], 1))
    return corners


def test_deterministic_for_a_seed_and_varied_across_seeds():
    image = textured_frame((200, 150))
    first = camera_path_video(image, 5, (64, 48), np.random.default_rng(3))
    assert np.array_equal(first, camera_path_video(image, 5, (64, 48), np.random.default_rng(3)))
    paths = [camera_path(5, (200, 150), (64, 48), np.random.default_rng(seed)) for seed in range(12)]
    assert {p.kind for p in paths} == set(CAMERA_KINDS)
    assert len({p.center.tobytes() for p in paths}) == len(paths)


def test_single_frame_and_errors():
    image = textured_frame((100, 80))
    assert camera_path_video(image, 1, (32, 24), np.random.default_rng(0)).shape == (1, 24, 32, 3)
    with pytest.raises(VideoError, match="camera kinds must be a non-empty list from pan, zoom, rotate, got 'pan'"):
        camera_path_video(image, 5, (32, 24), np.random.default_rng(0), kinds="pan")
    with pytest.raises(VideoError, match="num_frames must be a positive int, got 0"):
        camera_path_video(image, 0, (32, 24), np.random.default_rng(0))
    with pytest.raises(VideoError, match="camera_path_video needs one image, got 2 frames"):
        camera_path_video(np.stack([image, image]), 5, (32, 24), np.random.default_rng(0))
