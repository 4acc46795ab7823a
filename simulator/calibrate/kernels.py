"""What each microbenchmark case is, what it counts (FLOP, bytes) and which suites run it.

Pure and light: numpy and the roofline counting functions only, so the harness can import it on
a bare GPU box. FLOP and byte counts are the ones the estimators charge for the same kernel, so a
measured time divided by them is directly the efficiency the profile stores.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from simulator.core import roofline
from simulator.vocab import COLLECTIVE_OPS

# Bytes per element of the dtypes the backends know (numpy and torch names both map here).
DTYPE_BYTES = {"fp64": 8, "fp32": 4, "tf32": 4, "bf16": 2, "fp16": 2, "fp8": 1}

GEMM = "gemm"
ATTENTION = "attention"
MEMORY = "memory"
ELEMENTWISE = "elementwise"
HOST_COPY = "hostcopy"
FAMILIES = (GEMM, ATTENTION, MEMORY, ELEMENTWISE, HOST_COPY, *COLLECTIVE_OPS)

# Bytes moved per element by each streaming kernel, with the number of kernels it launches.
# numpy's triad (a = b + s*c) is two passes (multiply into a, then add b), torch's one (torch.add alpha).
STREAM_KERNELS = {
    "copy": (2, 1),     # read a, write b
    "scale": (2, 1),    # b = s * a
    "add": (3, 1),      # c = a + b
    "triad": (3, 1),    # a = b + s * c  (STREAM count; backends with two passes say so in n_kernels)
    "sum": (1, 1),      # reduction over the whole array
}
# Logical bytes of the transformer elementwise kernels the training model charges (read inputs, write output).
ELEMENTWISE_KERNELS = {
    "rmsnorm": (2, 1),    # read x, write y (the weight vector is negligible)
    "silu_mul": (3, 1),   # read gate and up, write out
    "residual_add": (3, 1),
}


@dataclass(frozen=True, slots=True)
class Case:
    """One kernel configuration to time. Sizes are element counts; `bytes` is what the model charges."""

    family: str
    kernel: str
    shape_family: str
    dtype: str
    flop: float
    bytes: float
    m: int = 0
    n: int = 0
    k: int = 0
    batch: int = 1
    seq_len: int = 0
    heads: int = 0
    head_dim: int = 0
    causal: bool = False
    world_size: int = 1
    n_kernels: int = 1
    flush: bool = False


def attention_flop(batch: float, seq_len: float, heads: float, head_dim: float, causal: bool) -> float:
    """Self-attention forward FLOP (roofline.attention_flop with q = kv = seq_len, d_qk = d_v)."""
    return float(roofline.attention_flop(batch, seq_len, seq_len, heads, head_dim, head_dim, causal))


def attention_bytes(batch: float, seq_len: float, heads: float, head_dim: float, dtype_bytes: float) -> float:
    """Minimum HBM traffic of fused attention: read Q, K, V and write O once (FlashAttention's IO bound)."""
    return 4.0 * batch * seq_len * heads * head_dim * dtype_bytes


def gemm_case(shape_family: str, m: int, n: int, k: int, dtype: str, kernel: str = "matmul",
              flush: bool = True) -> Case:
    size = DTYPE_BYTES[dtype]
    out = 2 if dtype == "fp8" else size  # fp8 GEMMs write bf16
    return Case(GEMM, kernel, shape_family, dtype, float(roofline.gemm_flop(m, n, k)),
                float(roofline.gemm_bytes(m, n, k, size, out)), m=m, n=n, k=k, flush=flush)


def attention_case(shape_family: str, batch: int, seq_len: int, heads: int, head_dim: int, causal: bool,
                   dtype: str, kernel: str) -> Case:
    return Case(ATTENTION, kernel, shape_family, dtype, attention_flop(batch, seq_len, heads, head_dim, causal),
                attention_bytes(batch, seq_len, heads, head_dim, DTYPE_BYTES[dtype]), batch=batch,
                seq_len=seq_len, heads=heads, head_dim=head_dim, causal=causal)


def stream_case(kernel: str, n_elements: int, dtype: str, n_kernels: int | None = None) -> Case:
    per_elem, kernels = STREAM_KERNELS[kernel]
    return Case(MEMORY, kernel, kernel, dtype, 0.0, float(per_elem * n_elements * DTYPE_BYTES[dtype]),
                m=n_elements, n_kernels=n_kernels or kernels, flush=True)


def elementwise_case(kernel: str, tokens: int, hidden: int, dtype: str) -> Case:
    per_elem, kernels = ELEMENTWISE_KERNELS[kernel]
    return Case(ELEMENTWISE, kernel, kernel, dtype, 0.0, float(per_elem * tokens * hidden * DTYPE_BYTES[dtype]),
                m=tokens, n=hidden, n_kernels=kernels, flush=True)


def collective_case(family: str, size_bytes: int, world_size: int, dtype: str = "bf16") -> Case:
    """`bytes` follows comm.py: the full buffer per rank (all-gather: the gathered output)."""
    return Case(family, family, family, dtype, 0.0, float(size_bytes), world_size=world_size)


def _transformer_gemms(tag: str, hidden: int, ffn: int, tokens: list[int], tps: list[int], dtype: str,
                       ops: tuple[str, ...] = ("qkv", "o", "up", "down"), gated: bool = False) -> list[Case]:
    """The four linear layers of a transformer block under tensor parallelism (Megatron split);
    `gated` fuses gate and up projections (SwiGLU: N = 2 d_ff / TP), as Vidur's mlp_up_proj does."""
    out = []
    for tp in tps:
        shapes = {"qkv": (3 * hidden // tp, hidden), "o": (hidden, hidden // tp),
                  "up": ((2 if gated else 1) * ffn // tp, hidden), "down": (hidden, ffn // tp)}
        for m in tokens:
            for op in ops:
                n, k = shapes[op]
                out.append(gemm_case(tag, m, n, k, dtype))
    return out


def _pow2_sizes(lo: int, hi: int, step: int) -> list[int]:
    sizes, s = [], lo
    while s <= hi:
        sizes.append(s)
        s *= step
    return sizes


def cpu_suite(name: str) -> list[Case]:
    """Shapes sized for a small CPU (numpy/BLAS): quick < 1 min on 2 cores, full a few minutes.

    Shape families are listed so that alternating them (fit, check, fit, ...) puts whole models
    and whole kernels on each side: the check half never shares a shape with the fit half.
    """
    full = name == "full"
    dt = "fp32"
    cases: list[Case] = []
    cases += [gemm_case("square-a", s, s, s, dt) for s in ([128, 256, 512, 1024, 2048] if not full
                                                            else [64, 128, 256, 512, 1024, 2048, 3072])]
    cases += [gemm_case("square-b", s, s, s, dt) for s in ([192, 384, 768, 1536] if not full
                                                           else [96, 192, 384, 768, 1536, 2560])]
    prefill = [128, 512] if not full else [64, 128, 256, 512, 1024]
    tps = [1, 4] if not full else [1, 2, 4, 8]
    decode = [1, 4, 16, 64, 256] if not full else [1, 2, 4, 8, 16, 32, 64, 128, 256]
    cases += [replace(c, shape_family="h1024-prefill") for c in _transformer_gemms("", 1024, 4096, prefill, tps, dt)]
    cases += [replace(c, shape_family="h1536-prefill") for c in _transformer_gemms("", 1536, 6144, prefill, tps, dt)]
    cases += [replace(c, shape_family="h1024-decode")
              for c in _transformer_gemms("", 1024, 4096, decode, [1], dt, ("qkv", "up", "down"))]
    cases += [replace(c, shape_family="h1536-decode")
              for c in _transformer_gemms("", 1536, 6144, decode, [1], dt, ("qkv", "up", "down"))]
    if full:
        cases += [gemm_case("square-fp64", s, s, s, "fp64") for s in [256, 512, 1024, 2048]]
    seqs = [128, 256, 512, 1024] if not full else [128, 256, 512, 1024, 2048]
    for hd, fam in ((64, "attn-hd64"), (128, "attn-hd128")):
        for s in seqs:
            cases.append(attention_case(fam, 1, s, 8 if hd == 64 else 4, hd, False, dt, "numpy_attention"))
    sizes = [2**12, 2**16, 2**20, 2**24] if not full else _pow2_sizes(2**10, 2**25, 4)
    for kernel in ("copy", "scale", "add", "triad", "sum"):
        for n_elem in sizes:
            cases.append(stream_case(kernel, n_elem, dt, n_kernels=2 if kernel == "triad" else None))
    if full:
        for kernel in ELEMENTWISE_KERNELS:
            for tokens in (256, 1024, 4096):
                cases.append(elementwise_case(kernel, tokens, 1024, dt))
    return cases


def gpu_suite(name: str, world_size: int = 1, fp8: bool = False) -> list[Case]:
    """Shapes sized for a datacenter GPU (bf16 tensor cores), plus collectives when world_size > 1."""
    full = name == "full"
    dt = "bf16"
    cases: list[Case] = []
    cases += [gemm_case("square-a", s, s, s, dt) for s in ([256, 1024, 4096, 8192] if not full
                                                            else [256, 512, 1024, 2048, 4096, 8192, 16384])]
    cases += [gemm_case("square-b", s, s, s, dt) for s in ([512, 2048, 6144] if not full
                                                           else [384, 768, 1536, 3072, 6144, 12288])]
    prefill = [1024, 4096] if not full else [512, 1024, 2048, 4096, 8192]
    tps = [1, 2, 4, 8] if full else [1, 8]
    decode = [1, 8, 32, 128, 256] if not full else [1, 2, 4, 8, 16, 32, 64, 128, 256]
    cases += [replace(c, shape_family="h4096-prefill") for c in _transformer_gemms("", 4096, 14336, prefill, tps, dt, gated=True)]
    cases += [replace(c, shape_family="h8192-prefill") for c in _transformer_gemms("", 8192, 28672, prefill, tps, dt, gated=True)]
    cases += [replace(c, shape_family="h4096-decode") for c in _transformer_gemms("", 4096, 14336, decode, [1], dt, gated=True)]
    cases += [replace(c, shape_family="h8192-decode") for c in _transformer_gemms("", 8192, 28672, decode, [1], dt, gated=True)]
    if full:
        cases += [gemm_case("square-fp16", s, s, s, "fp16") for s in [1024, 4096, 8192]]
        cases += [gemm_case("square-tf32", s, s, s, "tf32") for s in [1024, 4096, 8192]]
    if fp8:
        cases += [gemm_case("square-fp8", s, s, s, "fp8", kernel="scaled_mm") for s in [1024, 4096, 8192]]
    seqs = [512, 2048, 8192] if not full else [512, 1024, 2048, 4096, 8192, 16384]
    # order so alternating families fits on (hd64, hd128 causal) and checks on (hd64 causal, hd128)
    for hd, causal in ((64, False), (64, True), (128, True), (128, False)):
        for s in seqs:
            batch = max(1, 16384 // s)  # 16k tokens per batch, as in the FlashAttention-2 benchmarks
            cases.append(attention_case(f"attn-hd{hd}{'-causal' if causal else ''}", batch, s, 32 if hd == 64 else 16,
                                        hd, causal, dt, "sdpa"))
    sizes = _pow2_sizes(2**20, 2**30, 16) if not full else _pow2_sizes(2**16, 2**31, 4)
    for kernel in ("copy", "scale", "add", "triad", "sum"):
        for nbytes in sizes:
            cases.append(stream_case(kernel, nbytes // 2, dt))
    for kernel in ELEMENTWISE_KERNELS:
        for tokens in ((1024, 8192) if not full else (256, 1024, 4096, 16384)):
            cases.append(elementwise_case(kernel, tokens, 8192, dt))
    for kernel in ("h2d", "d2h"):
        for nbytes in _pow2_sizes(2**20, 2**30, 32 if not full else 4):
            cases.append(Case(HOST_COPY, kernel, kernel, "bf16", 0.0, float(nbytes), m=nbytes // 2))
    if world_size > 1:
        hi = 2**30 if not full else 2**32
        for fam in COLLECTIVE_OPS:
            for nbytes in _pow2_sizes(2**10, hi, 4 if not full else 2):
                cases.append(collective_case(fam, nbytes, 2 if fam == "sendrecv" else world_size))
    return cases


def collective_cases(name: str, world_size: int, hi_bytes: int | None = None) -> list[Case]:
    """Collectives alone (used by the CPU/gloo path of the torch backend, where sizes stay small)."""
    hi = hi_bytes or (2**30 if name != "full" else 2**32)
    out = []
    for fam in COLLECTIVE_OPS:
        for nbytes in _pow2_sizes(2**10, hi, 4 if name != "full" else 2):
            out.append(collective_case(fam, nbytes, 2 if fam == "sendrecv" else world_size, "fp32"))
    return out
