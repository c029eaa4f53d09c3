"""A deeper or wider editor, a deeper VAE decoder, a wider VAE or latent, from a trained model, to train on from
where it is:

    python benchmarks/grow_model.py .data/call13_editor_edited2 /tmp/editor_depth8 --depth 8
    python benchmarks/grow_model.py src/sana_streaming/weights/default/vae /tmp/vae_dec2 --decoder-layers 2 2 2 2
    python benchmarks/grow_model.py src/sana_streaming/weights/default/vae /tmp/vae_c64 --latent-channels 64
    python benchmarks/grow_model.py src/sana_streaming/weights/default/model /tmp/model_c64 --latent-channels 64
    python benchmarks/grow_model.py src/sana_streaming/weights/default/model /tmp/model_w2 --width 2
    python benchmarks/grow_model.py src/sana_streaming/weights/default/vae /tmp/vae_w2 --width 2 [--width-parts decoder]
    python benchmarks/grow_model.py .data/call7_tiny_vae_c128 /tmp/vae_c128_cal --calibrate .data/clips/*.mp4 \
        --calibrate-from 32

An editor (`sana_streaming.models.grow.grow_depth`): the new blocks come after the trained ones, each an identity
at first (the grown model gives the trained one's outputs); softmax attention in every fourth new block unless
--softmax-layers says otherwise. A wider editor (`sana_streaming.models.grow.grow_width`): its width, heads and
feed-forward channels repeated, equal to the trained editor but for a little noise on the copies. A VAE
(`sana_streaming.vae.grow.grow_decoder`): resnets appended to the decoder's blocks (the config's
`decoder_layers_per_block` order), each an identity at first; the encoder, hence the latents, unchanged. A wider
latent (`sana_streaming.vae.grow.grow_latent`, `sana_streaming.models.grow.grow_channels`): the trained channels
first, encoded and decoded as before, the new ones unused at first by the decoder and predicted as 0 by the editor.
A wider VAE (`sana_streaming.vae.grow.grow_width`): every channel of the encoder's and the decoder's blocks (or the
decoder's alone, which keeps the latents) repeated, equal to the trained VAE but for a little noise on the copies.
`--calibrate CLIP ...` measures the statistics of the latent channels from `--calibrate-from` on (default: those
--latent-channels adds) on those clips (`sana_streaming.vae.grow.calibrate_latents`): a grown latent's new
channels, once trained, are far smaller than the unit scale they start with, and an editor grown for them leaves
the sampler's noise in them at first.
Written as a folder (config.json + model.safetensors) in float32, for `model.init` or `vae.path` of a training
recipe.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from sana_streaming.eval.report import load_clip
from sana_streaming.models.grow import grow_channels, grow_depth
from sana_streaming.models.grow import grow_width as grow_width_editor
from sana_streaming.models.transformer import SanaStreamingTransformer
from sana_streaming.vae.autoencoder import VideoAutoencoder
from sana_streaming.vae.grow import calibrate_latents, grow_decoder, grow_latent, grow_width


def video_tensor(path: str) -> torch.Tensor:
    """(1, 3, 1 + 8k, 224, 384) in [-1, 1]: at most 81 frames of the clip at 16 fps, as the editor sees it."""
    frames = load_clip(path, fps=16, size=(384, 224), max_frames=81).frames
    frames = frames[: 1 + 8 * ((len(frames) - 1) // 8)]
    if len(frames) < 9:
        raise ValueError(f"{path}: {len(frames)} frames at 16 fps; --calibrate needs at least 9")
    return torch.from_numpy(frames).permute(3, 0, 1, 2)[None].float() / 127.5 - 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a trained model or VAE folder")
    parser.add_argument("out", help="the grown model's folder")
    parser.add_argument("--depth", type=int, help="an editor's new number of blocks")
    parser.add_argument("--decoder-layers", type=int, nargs="+", help="a VAE decoder's new resnets per block")
    parser.add_argument("--latent-channels", type=int, help="a VAE's, or an editor's, new latent channels")
    parser.add_argument("--width", type=int, help="a VAE's or an editor's channels times this (a whole number)")
    parser.add_argument(
        "--width-parts", nargs="+", default=["encoder", "decoder"], help="what --width widens (default: both)"
    )
    parser.add_argument("--calibrate", nargs="+", metavar="CLIP", help="a VAE's latent statistics from these clips")
    parser.add_argument("--calibrate-from", type=int, help="the first latent channel --calibrate measures")
    parser.add_argument("--softmax-layers", type=int, nargs="+", help="default: the model's, then every fourth")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    is_vae = "latent_channels" in json.loads((Path(args.model) / "config.json").read_text())
    if (is_vae and args.depth) or (not is_vae and args.decoder_layers):
        parser.error("--depth grows an editor, --decoder-layers a VAE")
    if not (args.depth or args.decoder_layers or args.latent_channels or args.width or args.calibrate):
        parser.error("nothing to do: give --depth, --decoder-layers, --latent-channels, --width or --calibrate")
    if args.calibrate and not is_vae:
        parser.error("--calibrate measures a VAE's latent statistics")
    if is_vae:
        vae = VideoAutoencoder.from_pretrained(args.model)
        trained_channels = vae.cfg.latent_channels
        if args.decoder_layers:
            vae = grow_decoder(vae, tuple(args.decoder_layers), seed=args.seed)
        if args.latent_channels:
            vae = grow_latent(vae, args.latent_channels, seed=args.seed)
        if args.width:
            try:
                vae = grow_width(vae, args.width, tuple(args.width_parts), seed=args.seed)
            except ValueError as err:
                parser.error(str(err))
        if args.calibrate:
            first = args.calibrate_from
            if first is None and not args.latent_channels:
                parser.error("--calibrate needs --calibrate-from (or --latent-channels: its new channels)")
            try:
                calibrate_latents(vae, map(video_tensor, args.calibrate), trained_channels if first is None else first)
            except ValueError as err:
                parser.error(str(err))
        vae.save_pretrained(args.out)
        count = sum(p.numel() for p in vae.parameters()) / 1e6
        print(
            f"{args.out}: latent {vae.cfg.latent_channels} channels, encoder widths "
            f"{list(vae.cfg.block_out_channels)}, "
            f"decoder widths {list(vae.cfg.decoder_block_out_channels)}, decoder resnets "
            f"{list(vae.cfg.decoder_layers_per_block)}, {count:.1f} M parameters"
        )
        return
    model = SanaStreamingTransformer.from_pretrained(args.model, dtype=torch.float32)
    if args.depth:
        layers = tuple(args.softmax_layers) if args.softmax_layers else None
        model = grow_depth(model, args.depth, layers, seed=args.seed)
    if args.latent_channels:
        model = grow_channels(model, args.latent_channels)
    if args.width:
        try:
            model = grow_width_editor(model, args.width, seed=args.seed)
        except ValueError as err:
            parser.error(str(err))
    model.save_pretrained(args.out)
    count = sum(p.numel() for p in model.parameters()) / 1e6
    print(
        f"{args.out}: depth {model.cfg.depth} (softmax in {list(model.cfg.softmax_layers)}), width "
        f"{model.cfg.hidden_size}, latent "
        f"{model.cfg.in_channels} channels, {count:.1f} M parameters"
    )


if __name__ == "__main__":
    main()
