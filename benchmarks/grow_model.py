"""A deeper editor from a trained one (`sana_streaming.models.grow.grow_depth`), to train on from where it is:

    python benchmarks/grow_model.py .data/call13_editor_edited2 /tmp/editor_depth8 --depth 8

The new blocks come after the trained ones, each an identity at first (the grown model gives the trained one's
outputs); softmax attention in every fourth new block unless --softmax-layers says otherwise. Written as a model
folder (config.json + model.safetensors) in float32, for `model.init` of a training recipe.
"""

from __future__ import annotations

import argparse

import torch

from sana_streaming.models.grow import grow_depth
from sana_streaming.models.transformer import SanaStreamingTransformer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a trained model folder")
    parser.add_argument("out", help="the grown model's folder")
    parser.add_argument("--depth", type=int, required=True)
    parser.add_argument("--softmax-layers", type=int, nargs="+", help="default: the model's, then every fourth")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    model = SanaStreamingTransformer.from_pretrained(args.model, dtype=torch.float32)
    layers = tuple(args.softmax_layers) if args.softmax_layers else None
    grown = grow_depth(model, args.depth, layers, seed=args.seed)
    grown.save_pretrained(args.out)
    count = sum(p.numel() for p in grown.parameters()) / 1e6
    print(
        f"{args.out}: depth {grown.cfg.depth} (softmax in {list(grown.cfg.softmax_layers)}), {count:.1f} M parameters"
    )


if __name__ == "__main__":
    main()
