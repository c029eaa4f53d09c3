"""The library of classical edit families that makes paired training clips: a name, user-style prompts for the
edit and for undoing it, a parameter space sampled once per clip, and a deterministic per-frame edit.

    family = FAMILIES["pencil_sketch"]
    params = family.sample_params(rng)          # e.g. {"sigma": 2.7, "darkness": 2.1, ...}, JSON-ready
    edited = family.apply(frames, params)       # (T, H, W, 3) uint8 -> (T, H, W, 3) uint8
"""

from __future__ import annotations

from sana_streaming.train.data import styles
from sana_streaming.train.data.family import EditFamily, ParamRange

__all__ = ["FAMILIES", "EditFamily", "ParamRange", "get_family"]


def get_family(name: str) -> EditFamily:
    """The family called ``name``; a one-line error listing the known names otherwise."""
    family = FAMILIES.get(name)
    if family is None:
        raise ValueError(f"unknown edit family {name!r} (known: {', '.join(FAMILIES)})")
    return family


def _family(name, transform, space, prompts, reverse_prompts) -> EditFamily:
    return EditFamily(name, tuple(prompts), tuple(reverse_prompts), space, transform)


def _uniform(low: float, high: float) -> ParamRange:
    return ParamRange(low, high)


def _integers(low: int, high: int) -> ParamRange:
    return ParamRange(low, high, integer=True)


FAMILIES: dict[str, EditFamily] = {
    family.name: family
    for family in (
        _family(
            "black_and_white",
            styles.black_and_white,
            {"red": _uniform(0.22, 0.38), "green": _uniform(0.5, 0.62), "contrast": _uniform(1.0, 1.3)},
            [
                "make it black and white",
                "convert the video to black and white",
                "turn this into a monochrome film",
                "remove all the colour, grayscale only",
                "give it a classic black-and-white look",
            ],
            [
                "bring back the original colours",
                "colourize the black-and-white video",
                "turn the grayscale footage back into full colour",
                "restore the natural colours",
            ],
        ),
        _family(
            "pencil_sketch",
            styles.pencil_sketch,
            {
                "sigma": _uniform(1.5, 4.0),
                "darkness": _uniform(1.5, 3.0),
                "shading": _uniform(0.0, 0.35),
                "warmth": _uniform(0.0, 0.08),
            },
            [
                "make it a pencil sketch",
                "turn the video into a pencil drawing",
                "redraw this as a graphite sketch on white paper",
                "make it look hand-drawn with a pencil",
            ],
            [
                "turn the pencil sketch back into a colour photo",
                "make the drawing look like real footage again",
                "restore the original video from the sketch",
                "replace the pencil lines with the real, colourful scene",
            ],
        ),
        _family(
            "cartoon",
            styles.cartoon,
            {
                "smooth": _uniform(1.0, 2.0),
                "levels": _integers(4, 7),
                "saturation": _uniform(1.2, 1.6),
                "edge_threshold": _uniform(0.05, 0.1),
            },
            [
                "make it look like a cartoon",
                "turn this into an animated cartoon",
                "give it a cel-shaded comic look with bold outlines",
                "cartoonify the video",
            ],
            [
                "make the cartoon look like real life",
                "turn the cartoon back into realistic footage",
                "remove the cartoon style and restore the photo",
                "make it photorealistic again",
            ],
        ),
        _family(
            "watercolor",
            styles.watercolor,
            {
                "sigma": _uniform(1.5, 2.5),
                "levels": _integers(5, 8),
                "saturation": _uniform(1.1, 1.35),
                "edge": _uniform(0.8, 1.6),
                "density": _uniform(0.75, 0.9),
                "grain": _uniform(0.06, 0.15),
                "paper_seed": _integers(0, 2**31 - 1),
            },
            [
                "make it a watercolor painting",
                "turn the video into a watercolour",
                "paint this in soft watercolours on paper",
                "give it a watercolor painting style",
            ],
            [
                "turn the watercolor painting back into a photo",
                "remove the watercolour effect",
                "make the painting look like real footage again",
                "restore the sharp original video",
            ],
        ),
        _family(
            "night",
            styles.night,
            {
                "exposure": _uniform(0.35, 0.55),
                "gamma": _uniform(1.2, 1.5),
                "saturation": _uniform(0.4, 0.7),
                "blue": _uniform(0.15, 0.3),
                "vignette": _uniform(0.3, 0.6),
            },
            [
                "make it night",
                "turn day into night",
                "make it look like it was filmed at night",
                "darken the scene to a moonlit night",
            ],
            [
                "make it daytime",
                "turn the night scene into daylight",
                "brighten it back to a sunny day",
                "restore the daytime lighting",
            ],
        ),
        _family(
            "sepia_film",
            styles.sepia_film,
            {
                "strength": _uniform(0.8, 1.0),
                "contrast": _uniform(0.95, 1.15),
                "fade": _uniform(0.04, 0.12),
                "vignette": _uniform(0.2, 0.45),
            },
            [
                "make it look like an old sepia photograph",
                "give it a vintage sepia film look",
                "turn this into faded old film",
                "apply an antique sepia tone",
            ],
            [
                "remove the sepia tone and restore the colours",
                "make the old film look modern and colourful",
                "restore the natural colours of the scene",
                "undo the vintage sepia look",
            ],
        ),
        _family(
            "warm_grading",
            styles.warm_grading,
            {"temperature": _uniform(0.1, 0.2), "saturation": _uniform(1.0, 1.2)},
            [
                "make the colours warmer",
                "give it a warm golden-hour grade",
                "add a warm orange tint",
                "colour grade it warm like a sunset",
            ],
            [
                "remove the warm tint",
                "make the colours neutral again",
                "cool the colours back to normal",
                "undo the warm colour grade",
            ],
        ),
        _family(
            "cool_grading",
            styles.cool_grading,
            {"temperature": _uniform(0.1, 0.2), "saturation": _uniform(0.85, 1.05)},
            [
                "make the colours cooler",
                "give it a cold blue colour grade",
                "add a cool teal tint",
                "make it feel cold and wintry",
            ],
            [
                "remove the blue tint",
                "make the colours neutral again",
                "warm the colours back to normal",
                "undo the cool colour grade",
            ],
        ),
        _family(
            "invert",
            styles.invert,
            {"amount": _uniform(0.9, 1.0)},
            [
                "invert the colours",
                "make it a colour negative",
                "turn the video into a photo negative",
                "flip all the colours to their opposites",
            ],
            [
                "invert the colours back to normal",
                "turn the negative back into a normal image",
                "restore the original colours from the negative",
                "undo the colour inversion",
            ],
        ),
        _family(
            "posterize",
            styles.posterize,
            {"levels": _integers(2, 4), "saturation": _uniform(1.4, 2.0), "contrast": _uniform(1.1, 1.4)},
            [
                "make it pop art",
                "turn this into a bold pop-art poster",
                "posterize the colours",
                "give it flat, saturated poster colours",
            ],
            [
                "remove the pop-art effect",
                "restore smooth, natural colours",
                "turn the poster back into a realistic video",
                "undo the posterization",
            ],
        ),
        _family(
            "blur",
            styles.blur,
            {"sigma": _uniform(2.0, 4.5)},
            ["blur the video", "make everything soft and out of focus", "add a strong blur", "make it blurry"],
            [
                "sharpen the blurry video",
                "bring the video back into focus",
                "remove the blur",
                "make it crisp and sharp again",
            ],
        ),
        _family(
            "sharpen",
            styles.sharpen,
            {"amount": _uniform(1.5, 3.0), "sigma": _uniform(1.0, 2.0)},
            [
                "sharpen the video",
                "make the details crisper",
                "increase the sharpness",
                "make it look crisp and detailed",
            ],
            [
                "soften the oversharpened video",
                "remove the sharpening halos",
                "make it look natural and soft again",
                "undo the sharpening",
            ],
        ),
        _family(
            "pixelate",
            styles.pixelate_blocks,
            {"block": _integers(6, 14)},
            [
                "pixelate the video",
                "make it look like blocky 8-bit pixel art",
                "turn this into big square pixels",
                "give it a low-resolution mosaic effect",
            ],
            [
                "remove the pixelation",
                "restore the full-resolution detail",
                "turn the pixel art back into a smooth video",
                "undo the mosaic effect",
            ],
        ),
        _family(
            "thermal",
            styles.thermal,
            {"gamma": _uniform(0.8, 1.25), "contrast": _uniform(1.0, 1.3)},
            [
                "make it look like a thermal camera",
                "turn this into infrared heat vision",
                "show the scene as a thermal image",
                "apply a heat-map look",
            ],
            [
                "turn the thermal image back into a normal colour video",
                "remove the heat-vision colours",
                "make it look like an ordinary camera again",
                "restore the natural colours from the thermal view",
            ],
        ),
    )
}
