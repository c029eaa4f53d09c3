"""A deeper editor or VAE decoder from a trained one, to train on from where it is:

    python benchmarks/grow_model.py .data/call13_editor_edited2 /tmp/editor_depth8 --depth 8
    python benchmarks/grow_model.py src/sana_streaming/weights/default/vae /tmp/vae_dec2 --decoder-layers 2 2 2 2

An editor (`sana_streaming.models.grow.grow_depth`): the new blocks come after the trained ones, each an identity
at first (the grown model gives the trained one's outputs); softmax attention in every fourth new block unless
--softmax-layers says otherwise. A VAE (`sana_streaming.vae.grow.grow_decoder`): resnets appended to the decoder's
blocks (the config's `decoder_layers_per_block` order), each an identity at first; the encoder, hence the latents,
unchanged. Written as a folder (config.json + model.safetensors) in float32, for `model.init` or `vae.path` of a
training recipe.
"""

from __future__ import annotations

import argparse

import torch

from sana_streaming.models.grow import grow_depth
from sana_streaming.models.transformer import SanaStreamingTransformer
from sana_streaming.vae.autoencoder import VideoAutoencoder
from sana_streaming.vae.grow import grow_decoder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a trained model or VAE folder")
    parser.add_argument("out", help="the grown model's folder")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--depth", type=int, help="an editor's new number of blocks")
    what.add_argument("--decoder-layers", type=int, nargs="+", help="a VAE decoder's new resnets per block")
    parser.add_argument("--softmax-layers", type=int, nargs="+", help="default: the model's, then every fourth")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.decoder_layers:
        vae = grow_decoder(VideoAutoencoder.from_pretrained(args.model), tuple(args.decoder_layers), seed=args.seed)
        vae.save_pretrained(args.out)
        count = sum(p.numel() for p in vae.decoder.parameters()) / 1e6
        print(f"{args.out}: decoder resnets {list(vae.cfg.decoder_layers_per_block)}, {count:.1f} M parameters")
        return
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
