"""Command line: ``sana-streaming COMMAND``. Parses, configures and calls; no tensor math here."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from sana_streaming.models.checkpoint import CheckpointError


def _verify_official(args: argparse.Namespace) -> int:
    from sana_streaming.eval.official_fixtures import verify_official

    results = []
    for result in verify_official(args.folder):
        results.append(result)
        if not args.quiet or not result.passed:
            print(result.line(), flush=True)
    failed = [r.name for r in results if not r.passed]
    print(f"{len(results)} cases: {len(results) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


def _convert_official(args: argparse.Namespace) -> int:
    from sana_streaming.models.transformer import SanaStreamingTransformer

    model = SanaStreamingTransformer.from_official(args.checkpoint, args.preset)
    model.save_pretrained(args.output)
    count = sum(p.numel() for p in model.parameters())
    print(f"wrote {args.output}/config.json and model.safetensors ({count:,} parameters, preset {args.preset})")
    return 0


def _dry_run(args: argparse.Namespace) -> int:
    import torch

    from sana_streaming.engine.sampler import StreamingSampler
    from sana_streaming.models.config import get_config
    from sana_streaming.models.transformer import SanaStreamingTransformer

    torch.manual_seed(args.seed)
    cfg = get_config(args.preset)
    model = SanaStreamingTransformer(cfg).eval()
    sampler = StreamingSampler(model)
    height, width = args.latent_size
    text = model.encode_text(torch.randn(1, 8, cfg.caption_channels))
    state = sampler.init_state(1, (height, width), sampler.config.chunk_frames)
    frames = sampler.config.chunk_frames
    print(
        f"{cfg.name}: {sum(p.numel() for p in model.parameters()):,} parameters, random weights, "
        f"latent {frames}x{height}x{width} per chunk"
    )
    for chunk in range(args.chunks):
        noise = torch.randn(1, cfg.in_channels, frames, height, width)
        source = torch.randn(1, cfg.source_channels, frames, height, width)
        start = time.perf_counter()
        sampler.denoise_chunk(noise, source, text, state)
        elapsed = time.perf_counter() - start
        print(f"chunk {chunk:3d}: {elapsed * 1e3:7.1f} ms, cache {state.nbytes() / 2**20:6.2f} MiB")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sana-streaming", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    verify = commands.add_parser("verify-official", help="replay tensors recorded from the official code")
    verify.add_argument("folder", type=Path, help="fixture folder (fixtures_index.json + *.safetensors)")
    verify.add_argument("--quiet", action="store_true", help="print only failures and the summary")
    verify.set_defaults(run=_verify_official)

    convert = commands.add_parser("convert-official", help="official .pth/.safetensors -> our model folder")
    convert.add_argument("checkpoint", type=Path)
    convert.add_argument("output", type=Path)
    convert.add_argument("--preset", default="sana-streaming-2b-720p")
    convert.set_defaults(run=_convert_official)

    dry = commands.add_parser("dry-run", help="stream random latents through a random model (no video I/O)")
    dry.add_argument("--preset", default="tiny")
    dry.add_argument("--chunks", type=int, default=8)
    dry.add_argument("--latent-size", type=int, nargs=2, default=(12, 20), metavar=("H", "W"))
    dry.add_argument("--seed", type=int, default=0)
    dry.set_defaults(run=_dry_run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (CheckpointError, ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
