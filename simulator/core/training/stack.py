"""A training software stack (Megatron-Core, NeMo, torchtitan, llm-foundry, DeepSpeed, MaxText) as the step model sees
it: what the engine fuses and overlaps, its fixed per-step cost, its fp8 recipe costs, its allocator, and the plans
it can run. The figures live in sourced data files (workloads/stacks/<id>.yaml, read by simulator.catalog.stacks);
`Stack()` with no arguments is the idealised engine the roofline describes (every figure neutral)."""

from __future__ import annotations

from dataclasses import dataclass, field

from simulator.errors import PlanError
from simulator.vocab import PP_SCHEDULES, PRECISIONS, RECOMPUTE, ZERO_STAGES

# the recompute mode a plan gets when it names none: the first of these the stack offers
RECOMPUTE_PREFERENCE = tuple(sorted(RECOMPUTE, key=lambda r: (r == "none", r == "full", r == "op")))  # sel, op, full


@dataclass(frozen=True, slots=True)
class Stack:
    """How one training stack runs a plan. Defaults are neutral: no overhead, nothing missing, everything allowed.

    Time: `compute_efficiency_scale` multiplies the GEMM and attention efficiency of the hardware profile (the
    profiles are set on Megatron/NeMo runs: 1.0 there); `step_overhead_s` is paid once per optimizer step (optimizer
    launch, gradient clipping, host sync, logging); `fp8_cast_passes` are the extra 16-bit reads per fp8 GEMM input
    element that the stack's scaling recipe makes (amax for dynamic scaling), and `fp8_weight_cache` says whether
    fp8 weights are cast once per step (Transformer Engine) or at every micro-batch (torchao); `fp8_saves_inputs`
    keeps the fp8 casts of the GEMM inputs for the weight gradients (1 byte each instead of 2, TE Linear).
    `logits_bytes` per logit element of one micro-batch: 16-bit logits plus an fp32 copy for the loss (6), or a
    fused cross-entropy that keeps only the 16-bit logits (2). The `eager_*_extra_bytes` are the forward bytes per
    element that the stack's eager norm (per hidden element), rotary embedding (per q and k element) and activation
    (per d_ff element) move beyond one fused kernel, when nothing fuses them (backward: twice).
    ZeRO-3/FSDP: `fsdp_overlap` prefetches the gathers behind compute; `fsdp_pp_unsharded` keeps a pipeline stage's
    weights and gradients unsharded across its micro-batches (gathered and reduced once per step); `zero3_bytes_per_s` (None: the collective
    model) and `zero3_rank_layer_s` replace it by a measured gather path (DeepSpeed 2021), `zero3_gather_unit` is what
    one gather brings in ("block" or "module").
    Memory: `allocator_reserve_fraction` is what the caching allocator reserves beyond the allocated peak,
    `workspace_bytes` the fixed per-GPU buffers (cuBLAS/Transformer Engine workspaces, NCCL channels) and
    `fp8_weight_copy_bytes` the bytes per parameter of fp8 weight copies kept for the step (TE: weight + transpose).
    Plans: the ZeRO stages, schedules, recompute modes and combinations the stack supports.
    """

    id: str = "ideal"
    name: str = "idealised engine (roofline only)"
    fused_kernels: bool = True
    attention_kernel: str = "flash"
    tp_comm_overlap: bool = False
    tp_overlap_share: float = 0.8  # share of the GEMM time overlapped TP collectives can hide behind
    grad_reduce_fp32: bool = True
    compile: bool = False
    fp8_recipe: str | None = None  # the fp8 scaling recipe chosen (its cost is fp8_cast_passes)
    compute_efficiency_scale: float = 1.0
    step_overhead_s: float = 0.0
    fp8_cast_passes: float = 0.0
    fp8_weight_cache: bool = True
    fp8_saves_inputs: bool = False
    logits_bytes: float = 6.0
    eager_norm_extra_bytes: float = 0.0
    eager_rope_extra_bytes: float = 0.0
    eager_activation_extra_bytes: float = 0.0
    fsdp_overlap: bool = True
    fsdp_pp_unsharded: bool = False
    zero3_bytes_per_s: float | None = None
    zero3_rank_layer_s: float = 0.0
    zero3_gather_unit: str = "block"
    allocator_reserve_fraction: float = 0.0
    workspace_bytes: float = 0.0
    fp8_weight_copy_bytes: float = 0.0
    zero_stages: tuple[int, ...] = ZERO_STAGES
    pp_schedules: tuple[str, ...] = PP_SCHEDULES
    recompute_modes: tuple[str, ...] = RECOMPUTE
    precisions: tuple[str, ...] = PRECISIONS
    zero3_with_pp: bool = True
    uneven_pp: bool = True
    interleaved_any_micro_batches: bool = True
    hsdp: bool = True
    context_parallel: bool = True
    expert_parallel: bool = True
    vendors: tuple[str, ...] = ()  # accelerator vendors the stack runs on (empty: any)
    fp8_needs_compile: bool = False  # its fp8 casts are only fused (and fast) under torch.compile (torchao)
    fitted_on: tuple[str, ...] = field(default=())  # validation sources its fitted figures came from

    def label(self) -> str:
        """How tables name the stack: its id, with torch.compile when on (fp8 plans name their recipe themselves)."""
        return self.id + (" (torch.compile)" if self.compile else "")

    def record_fields(self, precision: str) -> dict[str, object]:
        """What a result record says about the stack: its id, torch.compile, (fp8 plans) the fp8 recipe, and notes on
        what the estimate does not capture for this combination."""
        notes = []
        if precision == "fp8" and self.fp8_needs_compile and not self.compile:
            notes.append(f"{self.id}'s fp8 casts run as unfused eager kernels without torch.compile, which the estimate "
                         "does not model: expect it slower (turn on --compile, as the stack recommends)")
        return {"stack": self.id, "compile": self.compile,
                "fp8_recipe": self.fp8_recipe if precision == "fp8" else None, "notes": notes}

    def default_zero(self) -> int:
        """The ZeRO stage a plan gets when it names none: ZeRO-1 where offered (Megatron's distributed optimizer),
        else the highest stage the stack offers (FSDP)."""
        return 1 if 1 in self.zero_stages else max(self.zero_stages)

    def default_recompute(self) -> str:
        """The recompute mode a plan gets when it names none: selective (Korthikanti) where offered, else op-level
        checkpointing, else full."""
        return next(r for r in RECOMPUTE_PREFERENCE if r in self.recompute_modes)

    def check_hardware(self, vendor: str, hardware_id: str) -> None:
        """PlanError when the stack does not run on the accelerator's vendor (Megatron on a TPU, say)."""
        if self.vendors and not any(vendor.startswith(v) for v in self.vendors):
            raise PlanError(f"stack {self.id} runs on {' and '.join(self.vendors)} accelerators, not on {hardware_id} "
                            f"({vendor}); choose a stack that does (simulator list stacks)")

    def check_plan(self, *, zero: int, pp: int, pp_schedule: str, recompute: str, precision: str, cp: int, ep: int,
                   fsdp_shard: int | None = None, shard_group: int | None = None) -> None:
        """PlanError naming the stack and the reason when it cannot run the plan."""
        problems = []
        if zero not in self.zero_stages:
            problems.append(f"ZeRO stage {zero} (it offers {', '.join(map(str, self.zero_stages))})")
        if pp > 1 and not self.pp_schedules:
            problems.append("pipeline parallelism (it has none; use --pp 1)")
        elif pp > 1 and pp_schedule not in self.pp_schedules:
            problems.append(f"the {pp_schedule} pipeline schedule (it offers {', '.join(self.pp_schedules)})")
        if recompute not in self.recompute_modes:
            problems.append(f"recompute {recompute!r} (it offers {', '.join(self.recompute_modes)})")
        if precision not in self.precisions:
            problems.append(f"precision {precision} (it offers {', '.join(self.precisions)})")
        if zero == 3 and pp > 1 and not self.zero3_with_pp and self.pp_schedules:
            problems.append("ZeRO-3/FSDP together with pipeline parallelism")
        if cp > 1 and not self.context_parallel:
            problems.append("context parallelism")
        if ep > 1 and not self.expert_parallel:
            problems.append("expert parallelism")
        if fsdp_shard is not None and shard_group is not None and fsdp_shard < shard_group and not self.hsdp:
            problems.append("HSDP (sharding over part of the data-parallel group)")
        if problems:
            raise PlanError(f"stack {self.id} cannot run {'; '.join(problems)}; choose another plan or --stack")
