"""What a serving run simulates: replicas of one deployment (or prefill and decode pools) and the SLO."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from simulator.catalog import load_model
from simulator.core.inference import Deployment
from simulator.core.inference.speculative import SpeculativeDecoding
from simulator.core.model import TransformerSpec
from simulator.errors import BadValueError, UnknownIdError, setting
from simulator.limits import check_ref


@dataclass(frozen=True)
class ServingConfig:
    """Replicas of one deployment (or a prefill and a decode pool) behind a router, and the SLO."""

    deployment: Deployment = field(default_factory=Deployment)
    replicas: int = 1
    router: str = "least_outstanding"
    prefill_replicas: int = 0  # > 0 with decode_replicas > 0: disaggregated prefill / decode pools
    decode_replicas: int = 0
    decode_deployment: Deployment | None = None  # default: same as `deployment`
    slo_ttft_s: float = float("inf")
    slo_tpot_s: float = float("inf")
    max_time_s: float | None = None  # stop at this simulated time (the run then reports incomplete requests)
    max_waiting: int | None = None  # stop early, reported as overloaded, once this many requests wait

    @property
    def disaggregated(self) -> bool:
        return self.prefill_replicas > 0 and self.decode_replicas > 0

    def gpus(self) -> int:
        if self.disaggregated:
            d = self.decode_deployment or self.deployment
            return self.prefill_replicas * self.deployment.gpus + self.decode_replicas * d.gpus
        return self.replicas * self.deployment.gpus


def resolve_draft(dep: Deployment) -> Deployment:
    """The deployment with its speculative draft model loaded (an id or path becomes a TransformerSpec); an unknown
    draft is refused in one line naming the setting (--draft-model, or its scenario-file field)."""
    spec = dep.speculative
    if spec is not None and not isinstance(spec, SpeculativeDecoding):
        raise BadValueError(f"speculative must be a SpeculativeDecoding (simulator.SpeculativeDecoding), got "
                            f"{type(spec).__name__}")
    if spec is None or spec.draft_model is None or isinstance(spec.draft_model, TransformerSpec):
        return dep
    check_ref("draft_model", spec.draft_model)
    try:
        draft = load_model(spec.draft_model)
    except UnknownIdError as exc:
        raise UnknownIdError(f"{setting('draft_model', 'deployment.speculative')}: {exc}") from None
    return replace(dep, speculative=replace(spec, draft_model=draft))
