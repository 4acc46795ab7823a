"""Parallel plans as a struct of numpy arrays, their validity checks and their enumeration."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from itertools import product
from typing import Any

import numpy as np

from simulator.core.model import TransformerSpec
from simulator.vocab import PP_SCHEDULES, PRECISIONS, RECOMPUTE, ZERO_STAGES

# Reason codes: bit flags, so one plan can carry several reasons at once.
REASONS: dict[int, str] = {
    1: "tensor parallel size does not divide the number of attention heads",
    2: "tensor parallel size and KV heads are incompatible (neither divides the other)",
    4: "pipeline stages x virtual stages do not divide the number of layers (or exceed it with uneven stages)",
    8: "global batch is not divisible by data-parallel size x micro-batch",
    16: "sequence length is not divisible by 2 x context-parallel size",
    32: "expert parallel size must divide both the number of experts and the data-parallel size",
    64: "interleaved schedule needs pp > 1 (and, on this stack, a number of micro-batches divisible by pp)",
    128: "this stack cannot combine ZeRO-3/FSDP with pipeline parallelism",
    256: "does not fit in device memory",
    512: "tensor parallel group is larger than the scale-up (NVLink) domain",
    1024: "GPU count is not tp x pp x cp x dp",
    2048: "the hardware has no peak for this precision",
    4096: "the software stack does not offer this ZeRO stage, recompute mode or precision",
    8192: "the FSDP shard group must divide dp x cp and needs ZeRO >= 1",
    16384: "the pipeline schedule does not match the virtual stages (interleaved needs vpp > 1, the others vpp = 1)",
}
STACK_LACKS = 4096
OUT_OF_MEMORY = 256
INTERLEAVED = PP_SCHEDULES.index("interleaved")
PP_NOT_DIVIDING_LAYERS = 4
FP8_MISSING = 2048
TP_REASONS = 1 | 2 | 512  # the reasons a tensor-parallel size alone can cause (heads, KV heads, scale-up domain)


def reason_counts(codes: np.ndarray) -> dict[str, int]:
    """How many plans each reason rules out, commonest first (reasons no plan has are left out)."""
    counts = {text: int(((codes & bit) != 0).sum()) for bit, text in REASONS.items()}
    return {t: c for t, c in sorted(counts.items(), key=lambda x: -x[1]) if c}


def describe_reasons(code: int) -> str:
    """Human text for a reason bitmask ('' when the plan is valid and fits)."""
    return "; ".join(text for bit, text in REASONS.items() if code & bit)


@dataclass(frozen=True)
class PlanGrid:
    """Many plans at once: each field is an int array of the same length (one plan = length 1)."""

    tp: np.ndarray
    pp: np.ndarray
    dp: np.ndarray
    cp: np.ndarray
    ep: np.ndarray
    micro_batch: np.ndarray
    zero: np.ndarray
    recompute: np.ndarray  # index into RECOMPUTE
    vpp: np.ndarray  # virtual stages per pipeline rank (1 = plain 1F1B)
    precision: np.ndarray  # index into PRECISIONS
    sequence_parallel: np.ndarray  # 0/1
    # ranks that shard the model states (HSDP: shard inside a group, replicate across groups); 0: all dp x cp ranks
    shard: np.ndarray = None  # type: ignore[assignment]  # filled with zeros by __post_init__ when not given
    # index into PP_SCHEDULES; grids built without it: interleaved where vpp > 1, else 1F1B
    schedule: np.ndarray = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.shard is None:  # grids built without the column shard over every data-parallel rank
            object.__setattr__(self, "shard", np.zeros_like(self.tp))
        if self.schedule is None:
            object.__setattr__(self, "schedule", np.where(self.vpp > 1, INTERLEAVED, 0).astype(np.int64))

    @property
    def shard_group(self) -> np.ndarray:
        """Ranks each model-state shard spans: the shard column, or every dp x cp rank where it is 0."""
        full = self.dp * self.cp
        return np.where(self.shard > 0, np.minimum(self.shard, full), full)

    def __len__(self) -> int:
        return int(self.tp.shape[0])

    @property
    def gpus(self) -> np.ndarray:
        return self.tp * self.pp * self.cp * self.dp

    def take(self, index: np.ndarray | slice | int) -> PlanGrid:
        idx = np.atleast_1d(np.arange(len(self))[index])
        return PlanGrid(**{f.name: getattr(self, f.name)[idx] for f in fields(self)})

    def row(self, i: int) -> dict[str, Any]:
        """One plan as plain Python values (CLI/JSON form)."""
        return {
            "tp": int(self.tp[i]), "pp": int(self.pp[i]), "dp": int(self.dp[i]), "cp": int(self.cp[i]),
            "ep": int(self.ep[i]), "micro_batch": int(self.micro_batch[i]), "zero": int(self.zero[i]),
            "recompute": RECOMPUTE[int(self.recompute[i])], "vpp": int(self.vpp[i]),
            "pp_schedule": PP_SCHEDULES[int(self.schedule[i])],
            "precision": PRECISIONS[int(self.precision[i])],
            "sequence_parallel": bool(self.sequence_parallel[i]),
            "fsdp_shard": int(self.shard_group[i]),
        }

    @staticmethod
    def from_columns(**cols: Iterable[int]) -> PlanGrid:
        arrays = {k: np.asarray(list(v) if not isinstance(v, np.ndarray) else v, dtype=np.int64) for k, v in cols.items()}
        n = max(len(a) for a in arrays.values())
        return PlanGrid(**{k: np.broadcast_to(a, (n,)).copy() for k, a in arrays.items()})


def encode_plan(*, tp: int = 1, pp: int = 1, dp: int = 1, cp: int = 1, ep: int = 1, micro_batch: int = 1,
                zero: int = 0, recompute: str = "none", vpp: int = 1, precision: str = "bf16",
                sequence_parallel: bool | None = None, fsdp_shard: int | None = None,
                pp_schedule: str | None = None) -> dict[str, int]:
    """One plan as the integer columns of a PlanGrid (enumerated fields as indices; sequence parallelism defaults
    to on with tensor parallelism; fsdp_shard None: the model states shard over every data-parallel rank)."""
    sp = (tp > 1) if sequence_parallel is None else sequence_parallel
    return {"tp": int(tp), "pp": int(pp), "dp": int(dp), "cp": int(cp), "ep": int(ep), "micro_batch": int(micro_batch),
            "zero": int(zero), "recompute": RECOMPUTE.index(recompute), "vpp": int(vpp),
            "precision": PRECISIONS.index(precision), "sequence_parallel": int(sp),
            "shard": 0 if fsdp_shard is None or fsdp_shard == dp * cp else int(fsdp_shard),
            "schedule": PP_SCHEDULES.index(pp_schedule) if pp_schedule else (INTERLEAVED if vpp > 1 else 0)}


def single_plan(**plan: Any) -> PlanGrid:
    """A grid of length 1 from keyword values (strings for enumerated fields; encode_plan's defaults)."""
    return PlanGrid.from_columns(**{k: [v] for k, v in encode_plan(**plan).items()})


def structural_reasons(grid: PlanGrid, model: TransformerSpec, global_batch: int, seq_len: int,
                       scale_up_domain: int, uneven_pp: bool = False, zero3_with_pp: bool = False,
                       interleaved_any_micro_batches: bool = False) -> np.ndarray:
    """Reason bitmask for every plan, before any time or memory is computed. The last two follow the stack:
    ZeRO-3/FSDP with pipeline stages (torchtitan, Llama 3), and interleaving with a micro-batch count that pp does
    not divide (Megatron-Core since microbatch_group_size_per_vp_stage)."""
    r = np.zeros(len(grid), dtype=np.int64)
    r |= np.where(model.n_heads % grid.tp != 0, 1, 0)
    kv = model.n_kv_heads
    r |= np.where((kv % grid.tp != 0) & (grid.tp % kv != 0), 2, 0)
    if uneven_pp:  # stages may differ by one layer chunk (Megatron --decoder-first/last-pipeline-num-layers)
        r |= np.where(grid.pp * grid.vpp > model.n_layers, 4, 0)
    else:
        r |= np.where(model.n_layers % (grid.pp * grid.vpp) != 0, 4, 0)
    r |= np.where(global_batch % (grid.dp * grid.micro_batch) != 0, 8, 0)
    r |= np.where((grid.cp > 1) & (seq_len % (2 * grid.cp) != 0), 16, 0)
    if model.moe is not None:
        r |= np.where((model.moe.n_experts % grid.ep != 0) | ((grid.dp * grid.cp) % grid.ep != 0), 32, 0)
    else:
        r |= np.where(grid.ep != 1, 32, 0)
    n_micro = global_batch // np.maximum(grid.dp * grid.micro_batch, 1)
    uneven_micro = (n_micro % grid.pp != 0) & (not interleaved_any_micro_batches)
    r |= np.where((grid.vpp > 1) & ((grid.pp == 1) | uneven_micro), 64, 0)
    if not zero3_with_pp:
        r |= np.where((grid.zero == 3) & (grid.pp > 1), 128, 0)
    r |= np.where(grid.tp > scale_up_domain, 512, 0)
    r |= np.where((grid.schedule == INTERLEAVED) != (grid.vpp > 1), 16384, 0)
    hsdp = grid.shard > 0
    r |= np.where(hsdp & (((grid.dp * grid.cp) % np.maximum(grid.shard, 1) != 0) | (grid.zero == 0)), 8192, 0)
    return r


def divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def powers_of_two_upto(n: int) -> list[int]:
    out, v = [], 1
    while v <= n:
        out.append(v)
        v *= 2
    return out


def enumerate_plans(model: TransformerSpec, gpus: int, global_batch: int, seq_len: int, scale_up_domain: int,
                    precisions: Iterable[str] = ("bf16",), zero_stages: Iterable[int] = ZERO_STAGES,
                    recompute: Iterable[str] = RECOMPUTE, max_micro_batch: int = 16,
                    max_cp: int = 16, max_vpp: int = 8, uneven_pp: bool = False, zero3_with_pp: bool = False,
                    interleaved_any_micro_batches: bool = False, pipeline: bool = True,
                    hsdp: bool = False, schedules: Iterable[str] = ("1f1b", "interleaved")) -> PlanGrid:
    """Every structurally plausible plan for a GPU count (invalid ones are masked later, not here,
    except combinations that can never be valid, which are skipped to keep the grid small). With `hsdp`, ZeRO-3
    plans also shard inside one scale-up domain and replicate across domains (shard = domain / tp)."""
    tps = [t for t in powers_of_two_upto(min(gpus, scale_up_domain)) if model.n_heads % t == 0]
    pps = [p for p in divisors(model.n_layers) if gpus % p == 0] if pipeline else [1]
    if uneven_pp and pipeline:
        pps = sorted(set(pps) | {p for p in powers_of_two_upto(min(gpus, model.n_layers)) if gpus % p == 0})
    cps = [c for c in powers_of_two_upto(min(max_cp, gpus)) if c == 1 or seq_len % (2 * c) == 0]
    rows: list[tuple[int, ...]] = []
    zs, rcs = list(zero_stages), [RECOMPUTE.index(r) for r in recompute]
    # the non-interleaved schedules to try on pipelines (1F1B first: equal plans keep the simpler schedule)
    flat = [PP_SCHEDULES.index(s) for s in ("1f1b", "zb", "gpipe") if s in schedules] or [0]
    precs = [PRECISIONS.index(p) for p in precisions]
    for tp, pp, cp in product(tps, pps, cps):
        if gpus % (tp * pp * cp):
            continue
        dp = gpus // (tp * pp * cp)
        if global_batch % dp:
            continue
        per_dp = global_batch // dp
        mbs = [m for m in powers_of_two_upto(min(max_micro_batch, per_dp)) if per_dp % m == 0]
        if model.moe is not None:
            eps = [e for e in divisors(dp * cp) if model.moe.n_experts % e == 0]
        else:
            eps = [1]
        vpps = [1] + ([v for v in powers_of_two_upto(max_vpp)[1:]
                       if (pp * v <= model.n_layers if uneven_pp else model.n_layers % (pp * v) == 0)]
                      if pp > 1 else [])
        for mb, ep, v, z, rc, pr in product(mbs, eps, vpps, zs, rcs, precs):
            if z == 3 and pp > 1 and not zero3_with_pp:
                continue
            if v > 1 and (per_dp // mb) % pp and not interleaved_any_micro_batches:
                continue
            local = scale_up_domain // tp  # HSDP: shard over the data-parallel ranks of one domain (stride tp)
            shards = [0, local] if hsdp and z == 3 and 1 < local < dp * cp and (dp * cp) % local == 0 else [0]
            scheds = [INTERLEAVED] if v > 1 else (flat if pp > 1 else [0])
            for shard, sched in product(shards, scheds):
                rows.append((tp, pp, dp, cp, ep, mb, z, rc, v, pr, int(tp > 1), shard, sched))
    if not rows:
        return PlanGrid.from_columns(**{f.name: np.zeros(0, dtype=np.int64) for f in fields(PlanGrid)})
    a = np.asarray(rows, dtype=np.int64)
    names = [f.name for f in fields(PlanGrid)]
    return PlanGrid(**{name: a[:, i].copy() for i, name in enumerate(names)})
