"""Where each term of an inference breakdown comes from: a measured kernel curve of the hardware profile, a collective
model fitted to nccl-tests rows, an engine host term fitted on published rows or assumed, or a stated model (MoE
routing, speculative acceptance). Shown next to every breakdown (CLI, JSON, app) so a user sees which parts are
calibrated and which are priors."""

from __future__ import annotations

from simulator.core.hardware import Accelerator
from simulator.core.inference.deployment import Deployment
from simulator.core.inference.kernels import device_constants, expert_width_per_gpu
from simulator.core.model import TransformerSpec

MEASURED = "measured curve"
FITTED_COMM = "fitted collective model"
FITTED_ENGINE = "fitted engine term"
ASSUMED_ENGINE = "assumed engine prior"
STATED = "stated model"
NONE = "none"


def breakdown_provenance(model: TransformerSpec, hw: Accelerator, dep: Deployment) -> dict[str, dict[str, str]]:
    """For each breakdown term: {kind, basis}, kind one of MEASURED, FITTED_COMM, FITTED_ENGINE, ASSUMED_ENGINE,
    STATED or NONE (a term this deployment does not have)."""
    prof = dep.profile
    eta = float(device_constants(hw, dep).gemm_curve.compute_efficiency)
    gemm = (f"{hw.id} GEMM soft roofline (efficiency.gemm at {dep.quant.compute_dtype}: compute {eta:.2f} incl. the "
            f"engine's compute scale {prof.compute_scale:g}, memory {hw.gemm.memory_efficiency:.2f}, p {hw.gemm.p:g})")
    if model.moe is not None:
        gemm += (f"; MoE experts: busiest expert-parallel rank of uniform top-{model.moe.top_k} routing"
                 f"{f' with popularity cv {model.moe.routing_cv:g}' if model.moe.routing_cv else ''} (stated model), "
                 f"fused-MoE kernels at {hw.moe_memory_scale:g} of the memory efficiency plus "
                 f"{hw.moe_layer_overhead_s * 1e6:.1f} us per layer (fitted on published fused-MoE kernel timings, "
                 f"measured on {', '.join(hw.moe_measured_on) or 'no GPU'}"
                 f"{'' if hw.id in hw.moe_measured_on else '; assumed for ' + hw.id})")
        width = expert_width_per_gpu(model, dep)
        slowdown, extra_s = prof.moe_kernel_terms(dep.precision, width)
        if slowdown != 1.0 or extra_s:
            gemm += (f"; {prof.name} {prof.version}'s own fused MoE for {dep.precision} computes {slowdown:.2f}x "
                     f"slower and adds {extra_s * 1e6:.1f} us per layer ({width:g}-wide experts per GPU; fitted on "
                     f"its module timings in aiconfigurator's kernel database)")
    comm = (f"{hw.id} links (intra-node bus efficiency {hw.intra.bus_efficiency:.2f}, latency "
            f"{hw.intra.latency_s * 1e6:.1f} us), fitted to published nccl-tests rows")
    engine_kind = FITTED_ENGINE if prof.host_terms_fitted else ASSUMED_ENGINE
    if prof.step_overhead_s == prof.layer_launch_s == prof.seq_overhead_s == 0.0:
        engine_kind = NONE
    overlapped = " beside the device (overlap scheduler)" if prof.host_overlap else ""
    terms = {
        "linear": (MEASURED, gemm),
        "attention": (MEASURED, f"{hw.id} flash_attention_efficiency {hw.flash_attention_efficiency:.2f} (FlashAttention "
                                f"in-step measurements) and memory_bandwidth_efficiency "
                                f"{hw.memory_bandwidth_efficiency:.2f} for the KV reads"),
        "elementwise": (MEASURED, f"{hw.id} memory_bandwidth_efficiency {hw.memory_bandwidth_efficiency:.2f} "
                                  f"(streamed bytes of norms, activations, RoPE, KV writes"
                                  f"{', MoE routing gather/combine' if model.moe is not None else ''})"),
        "lm_head": (MEASURED, gemm.split(";")[0]),
        "tp_comm": (FITTED_COMM, comm) if dep.tp > 1 else (NONE, "tp 1: no all-reduce"),
        "pp_comm": (FITTED_COMM, comm) if dep.pp > 1 else (NONE, "pp 1: no stage hand-off"),
        "overhead": (engine_kind, f"{prof.name} {prof.version or ''} host terms: step {prof.step_overhead_s * 1e3:.2f} "
                                  f"ms, per sequence {prof.seq_overhead_s * 1e6:.1f} us{overlapped}, layer launch "
                                  f"{prof.layer_launch_s * 1e6:.1f} us ({'fitted on published rows' if prof.host_terms_fitted else 'assumed priors'})"),
    }
    return {k: {"kind": kind, "basis": basis} for k, (kind, basis) in terms.items()}
