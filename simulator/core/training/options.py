"""What one evaluation of many training plans shares: the options (with the software stack), the
byte sizes of training state, and the derived per-plan arrays every step of the model reads."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from simulator.core.hardware import Accelerator
from simulator.core.plans import PlanGrid
from simulator.core.training.stack import Stack
from simulator.vocab import PRECISIONS

ACT_BYTES = 2.0  # activations stay 16-bit, also in fp8 training (Transformer Engine casts per GEMM)
MASK_BYTES = 1.0
MASTER_AND_ADAM_BYTES = 12.0  # fp32 master weights + Adam m and v (Rajbhandari et al. 2020, sec. 3)
WEIGHT_BYTES = 2.0  # 16-bit working weights

# The step-time parts of `evaluate` (seconds per step on the critical path) and the memory parts (bytes per GPU).
BREAKDOWN_KEYS = ("compute", "recompute", "tp_comm", "cp_comm", "ep_comm", "pp_comm", "bubble", "dp_comm",
                  "optimizer", "overhead")
MEMORY_KEYS = ("weights", "gradients", "optimizer_states", "activations", "buffers")


@dataclass(frozen=True, slots=True)
class TrainingOptions:
    """Scalars shared by every plan of one evaluation."""

    seq_len: int
    global_batch: int
    # None: what the stack does (Stack.attention_kernel, .grad_reduce_fp32, .tp_comm_overlap, .fused_kernels)
    attention_kernel: str | None = None  # "flash" (FA2/FA3), "flash1" (FA1 / Triton port) or "unfused" (Megatron 2021)
    causal: bool = True
    grad_reduce_fp32: bool | None = None  # Megatron accumulates and reduces gradients in fp32
    dp_overlap: bool = True  # overlap the gradient reduction with the last backward pass
    tp_comm_overlap: bool | None = None  # hide TP collectives behind GEMMs (Megatron --tp-comm-overlap)
    dropout: bool | None = None  # dropout masks stored; None: as the model file says (GPT/Megatron yes, Llama no)
    fused_kernels: bool | None = None  # Megatron/NeMo and torch.compile fuse elementwise ops; eager code does not
    uneven_pp: bool | None = None  # allow stages whose layer counts differ (heaviest sets the pace), where the stack can
    stack: Stack = Stack()  # the software stack (core.training.stack; loaded by simulator.catalog.load_stack)

    def resolved(self, model_dropout: bool) -> TrainingOptions:
        """These options with every None filled in: the stack's choices, the model file's dropout."""
        st = self.stack
        return replace(
            self, dropout=model_dropout if self.dropout is None else self.dropout,
            attention_kernel=st.attention_kernel if self.attention_kernel is None else self.attention_kernel,
            grad_reduce_fp32=st.grad_reduce_fp32 if self.grad_reduce_fp32 is None else self.grad_reduce_fp32,
            tp_comm_overlap=st.tp_comm_overlap if self.tp_comm_overlap is None else self.tp_comm_overlap,
            fused_kernels=(st.fused_kernels or st.compile) if self.fused_kernels is None else self.fused_kernels,
            uneven_pp=bool(self.uneven_pp) and st.uneven_pp)


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
    shard: np.ndarray  # data-parallel ranks the model states shard over (dp x cp, or the HSDP group)
    schedule: np.ndarray  # pipeline schedule, index into vocab.PP_SCHEDULES
    gemm_eta: np.ndarray  # GEMM compute-efficiency cap of each plan's precision, under the stack's kernels
    kernel_scale: float  # the stack's compute_efficiency_scale (attention kernels follow the GEMMs)

    @staticmethod
    def of(grid: PlanGrid, hw: Accelerator, stack: Stack | None = None) -> PlanArrays:
        fp8 = grid.precision == PRECISIONS.index("fp8")
        peak16 = hw.peak("bf16")
        scale = (stack or Stack()).compute_efficiency_scale
        return PlanArrays(
            tp=grid.tp.astype(float), pp=grid.pp.astype(float), dp=grid.dp.astype(float), cp=grid.cp.astype(float),
            ep=grid.ep.astype(float), mb=grid.micro_batch.astype(float), v=grid.vpp.astype(float),
            sp=grid.sequence_parallel.astype(bool), fp8=fp8, peak16=peak16,
            peak_gemm=np.where(fp8, hw.peak_flop_per_s.get("fp8", peak16), peak16), bw=hw.hbm_bandwidth_bytes_per_s,
            sp_share=np.where(grid.sequence_parallel.astype(bool), 1.0 / grid.tp.astype(float), 1.0),
            shard=grid.shard_group.astype(float), schedule=grid.schedule, gemm_eta=hw.gemm.compute_efficiency_for(fp8) * scale,
            kernel_scale=scale)
