"""What one evaluation of many training plans shares: the options, the framework that runs ZeRO-3/FSDP, the
byte sizes of training state, and the derived per-plan arrays every step of the model reads."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.core.hardware import Accelerator
from simulator.core.plans import PlanGrid
from simulator.errors import PlanError
from simulator.vocab import PRECISIONS

ACT_BYTES = 2.0  # activations stay 16-bit, also in fp8 training (Transformer Engine casts per GEMM)
MASK_BYTES = 1.0
MASTER_AND_ADAM_BYTES = 12.0  # fp32 master weights + Adam m and v (Rajbhandari et al. 2020, sec. 3)
WEIGHT_BYTES = 2.0  # 16-bit working weights

# The step-time parts of `evaluate` (seconds per step on the critical path) and the memory parts (bytes per GPU).
BREAKDOWN_KEYS = ("compute", "recompute", "tp_comm", "cp_comm", "ep_comm", "pp_comm", "bubble", "dp_comm",
                  "optimizer")
MEMORY_KEYS = ("weights", "gradients", "optimizer_states", "activations", "buffers")


@dataclass(frozen=True, slots=True)
class Framework:
    """How a training framework runs its ZeRO-3/FSDP parameter gathers and gradient reductions.

    `standard` uses the collective model (comm.py: NCCL rates, prefetched behind compute). A framework
    whose own gather path is slower than NCCL carries measured terms instead: per micro-batch (ZeRO-3
    releases gathered weights after use, so each micro-batch gathers again; Rajbhandari et al. 2020,
    sec. 5.3) it spends `zero3_bytes_per_s` on the (n-1)/n share of each GPU's 16-bit stage weights held
    by the other n-1 ranks (all gathers and reductions together), plus `zero3_rank_layer_s` per layer
    for every other rank, and overlaps none of it when `zero3_overlap` is False. Measured terms hold
    for the hardware they were fitted on (`fitted_on`); elsewhere they are an extrapolation.
    `zero3_gather_unit` is what one gather brings in: a transformer block (FSDP wrapping per block) or a
    module, the largest weight matrix (DeepSpeed's per-submodule hooks); two units are live at once.
    """

    name: str
    zero3_overlap: bool = True
    zero3_bytes_per_s: float | None = None  # None: the collective model of comm.py
    zero3_rank_layer_s: float = 0.0
    zero3_gather_unit: str = "block"  # "block" | "module"
    source: str = ""
    fitted_on: tuple[str, ...] = ()  # validation rows the terms were fitted on (kept out of the check set)


FRAMEWORKS: dict[str, Framework] = {
    "standard": Framework(
        "standard", source="Megatron-LM/Megatron-Core, NeMo and PyTorch FSDP (llm-foundry): NCCL collectives at "
                           "the rates of comm.py, ZeRO-3/FSDP gathers prefetched behind compute (Zhao et al. 2023)"),
    "deepspeed-zero3-2021": Framework(
        "deepspeed-zero3-2021", zero3_overlap=False, zero3_bytes_per_s=13.73e9, zero3_rank_layer_s=185e-6,
        zero3_gather_unit="module",
        source="DeepSpeed ZeRO-3 as of spring 2021 on DGX A100 over InfiniBand (Narayanan et al. 2021, Table 2): "
               "each gather synchronised the device (DeepSpeed PR #1188), so nothing overlaps; parameters are "
               "gathered module by module (pre-forward hooks in deepspeed/runtime/zero/stage3.py), so gather buffers hold weight matrices, not "
               "blocks (memory only: it does not enter the fitted time terms); the two terms are "
               "fitted on the 175B rows at 768 and 1,536 GPUs (simulator.validation.training.fit_framework) and checked on "
               "the other four Table 2 ZeRO-3 rows. Every Table 2 run has one micro-batch per step, so the "
               "per-micro-batch scaling and other hardware are extrapolations",
        fitted_on=("narayanan-t2-zero3-175b-768g", "narayanan-t2-zero3-175b-1536g")),
}


def resolve_framework(framework: str | Framework) -> Framework:
    """The Framework an option names (a key of FRAMEWORKS, or a Framework); PlanError otherwise."""
    if isinstance(framework, Framework):
        return framework
    if isinstance(framework, str) and framework in FRAMEWORKS:
        return FRAMEWORKS[framework]
    raise PlanError(f"--framework {framework!r} is not one of {', '.join(FRAMEWORKS)}")


@dataclass(frozen=True, slots=True)
class TrainingOptions:
    """Scalars shared by every plan of one evaluation."""

    seq_len: int
    global_batch: int
    attention_kernel: str = "flash"  # "flash" (FA2/FA3), "flash1" (FA1 / Triton port) or "unfused" (Megatron 2021)
    causal: bool = True
    grad_reduce_fp32: bool = True  # Megatron accumulates and reduces gradients in fp32
    dp_overlap: bool = True  # overlap the gradient reduction with the last backward pass
    tp_comm_overlap: bool = False  # hide TP collectives behind GEMMs (Megatron --tp-comm-overlap)
    dropout: bool | None = None  # dropout masks stored; None: as the model file says (GPT/Megatron yes, Llama no)
    fused_kernels: bool = True  # Megatron/NeMo fuse bias+activation, bias+dropout+add, softmax; eager code does not
    uneven_pp: bool = False  # allow pipeline stages whose layer counts differ (the heaviest stage sets the pace)
    framework: str | Framework = "standard"  # key of FRAMEWORKS (or a Framework): how the training framework runs ZeRO-3/FSDP collectives


@dataclass(frozen=True, slots=True)
class PlanArrays:
    """Per-plan sizes as float arrays and the device figures each plan runs at (one evaluation)."""

    tp: np.ndarray
    pp: np.ndarray
    dp: np.ndarray
    cp: np.ndarray
    ep: np.ndarray
    mb: np.ndarray  # micro-batch (sequences)
    v: np.ndarray  # virtual stages per pipeline rank
    sp: np.ndarray  # sequence parallelism (bool)
    fp8: np.ndarray  # fp8 GEMMs (bool)
    peak16: float  # dense bf16 peak FLOP/s
    peak_gemm: np.ndarray  # the GEMM peak of each plan's precision
    bw: float  # HBM bytes per second
    sp_share: np.ndarray  # share of the sequence-sharded activations a TP rank holds: 1/tp with sequence parallelism

    @staticmethod
    def of(grid: PlanGrid, hw: Accelerator) -> PlanArrays:
        fp8 = grid.precision == PRECISIONS.index("fp8")
        peak16 = hw.peak("bf16")
        return PlanArrays(
            tp=grid.tp.astype(float), pp=grid.pp.astype(float), dp=grid.dp.astype(float), cp=grid.cp.astype(float),
            ep=grid.ep.astype(float), mb=grid.micro_batch.astype(float), v=grid.vpp.astype(float),
            sp=grid.sequence_parallel.astype(bool), fp8=fp8, peak16=peak16,
            peak_gemm=np.where(fp8, hw.peak_flop_per_s.get("fp8", peak16), peak16), bw=hw.hbm_bandwidth_bytes_per_s,
            sp_share=np.where(grid.sequence_parallel.astype(bool), 1.0 / grid.tp.astype(float), 1.0))
