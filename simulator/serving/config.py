"""What a serving run simulates: replicas of one deployment (or prefill and decode pools) and the SLO."""

from __future__ import annotations

from dataclasses import dataclass, field

from simulator.core.inference import Deployment


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
