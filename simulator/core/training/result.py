"""The result of one training plan: its record (the `simulator train --json` contract) and a plain-words account
of where the time and memory go."""

from __future__ import annotations

from typing import Any, ClassVar

from simulator import units
from simulator.core.training.record import plan_row
from simulator.errors import InfeasiblePlanError
from simulator.results import RecordResult, frame


class TrainingResult(RecordResult):
    """One plan's estimate. `to_dict()` is the JSON contract of `simulator train --json`."""

    kind: ClassVar[str] = "training"

    def to_frame(self) -> Any:
        """One row, as `plan_training(...).to_frame()` gives its plans (a plan that was not estimated: its reason)."""
        rec = dict(self.record)
        return frame([plan_row(rec) if "breakdown" in rec else rec])

    def explain(self) -> str:
        """A few sentences on where the time and memory go and what would help most."""
        r = self.record
        vpp = f"x{r['vpp']}" if r["vpp"] > 1 else ""
        lines = [f"{r['model']} on {r['gpus']:,} x {r['hardware']} (TP{r['tp']} PP{r['pp']}{vpp} DP{r['dp']} "
                 f"CP{r['cp']} EP{r['ep']}, micro-batch {r['micro_batch']}, ZeRO-{r['zero']}, "
                 f"{r['recompute']} recompute, {r['precision']})."]
        if not r["feasible"]:
            lines.append(f"It does not run as planned: {r['reason']}.")
        step = r["step_time_s"]
        parts = sorted(((v, k) for k, v in r["breakdown"].items() if v > 0), reverse=True)
        lines.append(f"A step takes {units.human_duration(step)}: "
                     + ", ".join(f"{k.replace('_', ' ')} {v / step:.0%}" for v, k in parts[:4])
                     + f"; MFU {r['mfu']:.1%}.")
        overheads = {k: v for k, v in r["breakdown"].items() if k != "compute"}
        worst = max(overheads, key=lambda k: overheads[k])
        if overheads[worst] > 0.05 * step:
            lines.append(f"Largest overhead: {worst.replace('_', ' ')} ({overheads[worst] / step:.0%}); "
                         f"{_HINTS[worst]}.")
        mem = r["memory_breakdown"]
        big = max(mem, key=lambda k: mem[k])
        lines.append(f"Memory {units.human_bytes(r['memory_per_gpu_bytes'])} of "
                     f"{units.human_bytes(r['memory_capacity_bytes'])} usable per GPU, mostly "
                     f"{big.replace('_', ' ')} ({units.human_bytes(mem[big])}).")
        if r.get("total_time_s"):
            cost = units.human_usd(r["cost_usd"]) if r.get("cost_usd") is not None else "no price in the book"
            lines.append(f"The run: {units.human_duration(r['total_time_s'])}, {r['gpu_hours']:,.0f} GPU-hours, "
                         f"{cost}, {r['energy_kwh'] / 1000:,.0f} MWh.")
        return " ".join(lines)

    def raise_if_infeasible(self) -> TrainingResult:
        """Raise InfeasiblePlanError (with the reason) when the plan does not fit."""
        if not self.record["feasible"]:
            raise InfeasiblePlanError(self.record["reason"])
        return self


_HINTS = {
    "bubble": "more micro-batches per step or interleaved stages (vpp) shrink the pipeline bubble",
    "tp_comm": "TP communication costs time (exposed, or slowing the GEMMs it overlaps): overlap it if it is "
               "not, or use a smaller TP",
    "dp_comm": "data-parallel communication costs time (exposed, or slowing the compute it overlaps): more "
               "pipeline parallelism, a smaller data-parallel group or a lower ZeRO stage helps",
    "recompute": "recomputation costs time: selective instead of full recompute if memory allows",
    "pp_comm": "pipeline send/recv is exposed: fewer virtual stages or a faster scale-out network",
    "cp_comm": "the context-parallel exchange is exposed: use a smaller CP",
    "ep_comm": "the expert all-to-all is exposed: keep expert parallelism inside the scale-up domain",
    "optimizer": "the optimizer step is significant: shard it (ZeRO-1)",
    "overhead": "the stack's fixed per-step cost (optimizer launch, clipping, host sync) is significant: a larger "
                "global batch per step amortises it",
}
