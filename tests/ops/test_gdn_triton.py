"""The fused Triton GDN against the reference: in Triton's interpreter on the CPU, natively on the GPU."""

from __future__ import annotations

import pytest
import torch

from sana_streaming.ops.gdn.reference import gdn_bidirectional
from tests.ops.interpreter import run_interpreted
from tests.ops.test_gdn_reference import random_inputs

triton = pytest.importorskip("triton")  # torch's CUDA builds ship it; the CPU CI image may not have it

RELRMS = {torch.float32: 2e-3, torch.bfloat16: 5e-3}


def rel_rms(a, b) -> float:
    return ((a.double() - b.double()).pow(2).mean().sqrt() / b.double().pow(2).mean().sqrt()).item()


def check(
    device: str,
    dtype: torch.dtype,
    chunks,
    with_state: bool,
    spatial: int = 37,
    dk: int = 20,
    dv: int = 12,
    out_dtype: torch.dtype = torch.float32,
    **tuning,
) -> None:
    from sana_streaming.ops.gdn.triton_kernel import gdn_triton

    args = [a.to(device) for a in random_inputs(batch=1, heads=2, frames=5, spatial=spatial, dk=dk, dv=dv, seed=4)]
    init = {}
    if with_state:
        init = dict(
            state_kv=torch.randn(1, 2, dv, dk, device=device) * 0.1, state_z=torch.rand(1, 2, dk, device=device)
        )
    ref, ref_kv, ref_z = gdn_bidirectional(
        *[a.double() for a in args], chunks=chunks, **{k: v.double() for k, v in init.items()}
    )
    low = [a.to(dtype) if a.dim() == 5 else a for a in args]  # features in dtype; gates stay float32
    out, kv, z = gdn_triton(*low, chunks=chunks, **init, out_dtype=out_dtype, **{"block_s": 16, **tuning})
    assert out.dtype == out_dtype and out.shape == ref.shape and torch.isfinite(out).all()
    assert rel_rms(out, ref) <= RELRMS[dtype]
    assert rel_rms(kv, ref_kv) <= RELRMS[dtype] and rel_rms(z, ref_z) <= RELRMS[dtype]


@pytest.mark.parametrize(
    ("chunks", "with_state", "sizes"),
    [
        (None, False, ""),
        (None, True, ""),
        ((2, 3), False, ""),
        ((2, 3), True, ""),
        ((2, 3), True, ", spatial=150, dk=40, dv=36"),  # 4 token splits in phase A, 2 row blocks in phase B
        ((2, 3), True, ", spatial=150, dk=40, dv=36, block_rows=16, splits=3, block_s=32"),
        ((2, 3), True, ", spatial=150, dk=40, dv=36, scan_precision='tf32x3'"),
    ],
    ids=["one-chunk", "one-chunk-state", "two-chunks", "two-chunks-state", "splits-and-row-blocks", "tuning", "tf32x3"],
)
def test_triton_gdn_in_the_interpreter(chunks, with_state, sizes):
    run_interpreted(
        "import torch; from tests.ops.test_gdn_triton import check; "
        f"check('cpu', torch.float32, {chunks!r}, {with_state}{sizes})",
        timeout=300,
    )


def check_compiled(device: str) -> None:
    """Under torch.compile the kernel call is one opaque operator whose declared shapes and strides hold."""
    from sana_streaming.ops.gdn.triton_kernel import gdn_triton

    args = [a.to(device) for a in random_inputs(batch=1, heads=2, frames=5, spatial=37, dk=20, dv=12, seed=4)]
    dtype = torch.bfloat16 if device == "cuda" else torch.float32  # Triton's interpreter has no bfloat16
    low = [a.to(dtype) if a.dim() == 5 else a for a in args]

    def call(*tensors):
        out, kv, z = gdn_triton(*tensors, chunks=(2, 3), out_dtype=dtype, block_s=16)
        return out.float() * 2, kv, z

    eager = call(*low)
    compiled = torch.compile(call, fullgraph=True)(*low)
    for got, want in zip(compiled, eager, strict=True):
        torch.testing.assert_close(got, want, atol=0, rtol=0)


def test_triton_gdn_is_one_opaque_operator_under_compile():
    run_interpreted("from tests.ops.test_gdn_triton import check_compiled; check_compiled('cpu')")


@pytest.mark.gpu
def test_triton_gdn_under_compile_on_gpu():
    check_compiled("cuda")


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("chunks", [None, (2, 3)])
def test_triton_gdn_on_gpu(dtype, chunks):
    check("cuda", dtype, chunks, with_state=True)
    check("cuda", dtype, chunks, with_state=True, spatial=150, dk=40, dv=36)


@pytest.mark.gpu
def test_triton_gdn_at_the_720p_size_writes_bf16_token_major():
    """The 2B model's size (D = 112 padded to 128, 880 tokens a frame), bf16 in and out."""
    check("cuda", torch.bfloat16, (2, 3), with_state=True, spatial=880, dk=112, dv=112, out_dtype=torch.bfloat16)
    check("cuda", torch.float32, (2, 3), with_state=True, spatial=880, dk=112, dv=112, scan_precision="tf32x3")


@pytest.mark.gpu
@torch.no_grad()
def test_a_gdn_block_with_the_triton_backend_matches_the_chunkwise_one():
    """The block-level path: bf16 features straight into the kernel, its token-major output merged as a view."""
    from sana_streaming.nn.gdn import GatedDeltaNetAttention
    from sana_streaming.nn.rope import rope_table

    torch.manual_seed(0)
    block = GatedDeltaNetAttention(448, 112).cuda()
    for p in block.parameters():
        p.copy_(torch.randn_like(p) * p[0].numel() ** -0.5 if p.dim() > 1 else torch.randn_like(p) * 0.3)
    block = block.to(torch.bfloat16)
    x = torch.randn(1, 5 * 22 * 40, 448, device="cuda", dtype=torch.bfloat16)
    rope = rope_table(112, 0, 5, 22, 40, device="cuda")
    state = dict(
        state_kv=torch.randn(1, 4, 112, 112, device="cuda") * 0.05, state_z=torch.rand(1, 4, 112, device="cuda")
    )
    outs = {}
    for backend in ("chunkwise", "triton"):
        block.backend = backend
        outs[backend] = block(x, 5, rope, chunks=(2, 3), **state)
    (ref, ref_kv, ref_z), (out, kv, z) = outs["chunkwise"], outs["triton"]
    assert out.dtype == torch.bfloat16 and out.shape == ref.shape
    assert rel_rms(out, ref) <= RELRMS[torch.bfloat16]
    assert rel_rms(kv, ref_kv) <= RELRMS[torch.bfloat16] and rel_rms(z, ref_z) <= RELRMS[torch.bfloat16]


HOPPER_SHARED_BYTES = 232448  # per block on the H100 / H200 (sm_90)


@pytest.mark.parametrize("kernel", ["summaries", "scan", "scan-tf32x3", "scan-16-rows", "output"])
def test_the_kernels_fit_hoppers_shared_memory_at_the_720p_size(kernel):
    """Compiled here for sm_90 with Triton's own ptxas (no GPU needed): D = 112 runs padded to 128."""
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    from sana_streaming.ops.gdn import triton_kernel as kernels

    jit, options, constants, pointer_types = {
        "summaries": (
            kernels._summaries_kernel,
            {"num_warps": 8},
            {"WITH_VECTOR": True, "BLOCK_S": 64, "BLOCK_D": 128, "PRECISION": "tf32"},
            {"left_ptr": "*bf16", "right_ptr": "*bf16"},
        ),
        "scan": (
            kernels._scan_kernel,
            {"num_warps": 4, "num_stages": 1},
            {"BLOCK_D": 128, "BLOCK_R": 32, "PRECISION": "ieee"},
            {"chunk_ptr": "*i32"},
        ),
        "scan-tf32x3": (
            kernels._scan_kernel,
            {"num_warps": 4, "num_stages": 1},
            {"BLOCK_D": 128, "BLOCK_R": 32, "PRECISION": "tf32x3"},
            {"chunk_ptr": "*i32"},
        ),
        "scan-16-rows": (
            kernels._scan_kernel,
            {"num_warps": 4, "num_stages": 1},
            {"BLOCK_D": 128, "BLOCK_R": 16, "PRECISION": "ieee"},
            {"chunk_ptr": "*i32"},
        ),
        "output": (
            kernels._output_kernel,
            {"num_warps": 4},
            {"BLOCK_S": 64, "BLOCK_D": 128, "PRECISION": "tf32"},
            {"q_ptr": "*bf16", "qr_ptr": "*bf16", "out_ptr": "*bf16"},
        ),
    }[kernel]
    signature = {
        name: "constexpr"
        if name in constants
        else pointer_types.get(name, "*fp32")
        if name.endswith("_ptr")
        else "fp32"
        if name == "eps"
        else "i32"
        for name in jit.arg_names
    }
    source = ASTSource(
        fn=jit, signature=signature, constexprs={(jit.arg_names.index(k),): v for k, v in constants.items()}
    )
    try:
        compiled = triton.compile(source, target=GPUTarget("cuda", 90, 32), options=options)
    except RuntimeError as err:  # no ptxas in this Triton build
        pytest.skip(f"cannot compile for sm_90 here: {str(err)[:200]}")
    assert 0 < compiled.metadata.shared <= HOPPER_SHARED_BYTES


@pytest.mark.gpu
def test_triton_gdn_replays_in_a_cuda_graph():
    """No host-to-device copies inside: the kernel can be captured, and a replay on new inputs is right."""
    from sana_streaming.ops.gdn.triton_kernel import gdn_triton

    def inputs(seed):
        args = random_inputs(batch=1, heads=2, frames=5, spatial=150, dk=40, dv=36, seed=seed)
        return [a.cuda().to(torch.bfloat16) if a.dim() == 5 else a.cuda() for a in args]

    static = inputs(1)
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        gdn_triton(*static, chunks=(2, 3))  # compile and warm up outside the capture
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        out, kv, z = gdn_triton(*static, chunks=(2, 3))
    fresh = inputs(2)
    for target, value in zip(static, fresh, strict=True):
        target.copy_(value)
    graph.replay()
    expected = gdn_triton(*fresh, chunks=(2, 3))
    for got, want in zip((out, kv, z), expected, strict=True):
        torch.testing.assert_close(got, want, atol=0, rtol=0)
