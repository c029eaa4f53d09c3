"""``torch.compile`` for the DiT and the VAE, applied from outside: fuse the elementwise chains between the GEMMs.

Each block is compiled with static shapes (a stream has three call shapes: the first chunk, the second, and
every later one). Blocks of the same kind share one compiled graph (parameters are graph inputs), so the
whole model compiles two block graphs per shape. Combine with :class:`CudaGraphRunner` to also remove the
launch overhead.
"""

from __future__ import annotations

import torch

from sana_streaming.models.transformer import SanaStreamingTransformer
from sana_streaming.nn.mix_ffn import DepthwiseConv


def compile_model(
    model: SanaStreamingTransformer, mode: str | None = None, *, unroll_depthwise: bool = False
) -> SanaStreamingTransformer:
    """Compile every block and the final layer in place; returns ``model``. ``unroll_depthwise``: the Mix-FFN's
    depthwise conv as nine taps that the compiler fuses with its neighbours (see DepthwiseConv) instead of
    cuDNN's kernel; measured 24 ms a chunk slower on the H200 (benchmarks/NOTES.md), so off by default."""
    # 2 block kinds x 3 chunk shapes x (cache-writing or not) stay well under this.
    torch._dynamo.config.cache_size_limit = max(torch._dynamo.config.cache_size_limit, 64)
    for module in model.modules():
        if isinstance(module, DepthwiseConv):
            module.unrolled = unroll_depthwise
    for block in model.blocks:
        block.compile(mode=mode, dynamic=False)
    model.final_layer.compile(mode=mode, dynamic=False)
    return model
