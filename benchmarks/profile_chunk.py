"""Profile one streaming chunk (4 steps + refresh) of a model on the GPU: the top operators by device time.

python benchmarks/profile_chunk.py --preset sana-streaming-2b-720p --out profile.txt
"""

from __future__ import annotations

import argparse

import torch
from torch.profiler import ProfilerActivity, profile

from sana_streaming.engine.compile import compile_model
from sana_streaming.engine.sampler import SamplerConfig, StreamingSampler
from sana_streaming.models.config import get_config
from sana_streaming.models.transformer import SanaStreamingTransformer
from sana_streaming.nn.gdn import set_gdn_backend
from sana_streaming.ops.quant.policy import quantize_


@torch.no_grad()
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="sana-streaming-2b-720p")
    parser.add_argument("--latent-size", type=int, nargs=2, default=(22, 40))
    parser.add_argument("--rows", type=int, default=30)
    parser.add_argument("--out", default=None)
    parser.add_argument("--policy", default="bf16", help="precision policy applied with quantize_")
    parser.add_argument("--compile", action="store_true", help="torch.compile the blocks first")
    parser.add_argument("--gdn", default="chunkwise", help="GDN backend: reference, chunkwise or triton")
    args = parser.parse_args()
    device = torch.device("cuda")
    cfg = get_config(args.preset)
    with torch.device(device):
        model = SanaStreamingTransformer(cfg).to(torch.bfloat16).eval()
    for p in model.parameters():
        p.normal_(0, 0.02)
    set_gdn_backend(model, args.gdn)
    if args.policy != "bf16":
        quantize_(model, args.policy, nvfp4="fp8")
    if args.compile:
        compile_model(model)
    sampler = StreamingSampler(model, SamplerConfig())
    h, w = args.latent_size
    text = model.encode_text(torch.randn(1, 300, cfg.caption_channels, device=device))
    state = sampler.init_state(1, (h, w), 3)
    noise = torch.randn(1, cfg.in_channels, 3, h, w, device=device)
    source = torch.randn(1, cfg.source_channels, 3, h, w, device=device)
    for _ in range(6):  # warm-up (and compilation), and fill the cache window
        sampler.denoise_chunk(noise, source, text, state)
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        sampler.denoise_chunk(noise, source, text, state)
        torch.cuda.synchronize()
    table = prof.key_averages().table(sort_by="self_cuda_time_total", row_limit=args.rows, max_name_column_width=60)
    print(table)
    events = prof.key_averages()
    cuda_total = sum(e.self_device_time_total for e in events) / 1000
    print(f"total self device time {cuda_total:.1f} ms")
    if args.out:
        with open(args.out, "w") as f:
            f.write(table)


if __name__ == "__main__":
    main()
