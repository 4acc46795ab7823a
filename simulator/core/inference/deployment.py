"""One model replica: quantization, parallelism, engine; the checks that make a deployment impossible."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from simulator.core.checks import check_positive
from simulator.core.hardware import Accelerator
from simulator.core.inference.engine import ENGINES, EngineProfile
from simulator.core.inference.speculative import SpeculativeDecoding, check_speculative
from simulator.core.model import TransformerSpec
from simulator.errors import PlanError, SimulatorError, setting

T = TypeVar("T")

ACT_BYTES = 2.0  # activations, logits of the LM head input and all-reduce buffers stay 16-bit


@dataclass(frozen=True, slots=True)
class Quantization:
    """How weights, GEMM inputs and their peak are stored/used for one precision scheme (workloads/quantization.yaml)."""

    name: str
    weight_bytes: float  # bytes per linear-layer weight element, scales included
    compute_dtype: str  # key of Accelerator.peak_flop_per_s used by the linear layers
    activation_bytes: float  # bytes per GEMM input activation element
    description: str = ""
    source: str = ""  # where weight_bytes and compute_dtype are stated


class DataTable(Mapping[str, T]):
    """A table of named entries the catalog fills from a data file (the core reads no file): `install` a loader
    (simulator.catalog.quantization does, on import of simulator.catalog) before the first lookup."""

    def __init__(self, what: str, file: str) -> None:
        self._what, self._file = what, file
        self._load: Callable[[], dict[str, T]] | None = None

    def install(self, load: Callable[[], dict[str, T]]) -> None:
        self._load = load

    def _data(self) -> dict[str, T]:
        if self._load is None:
            raise SimulatorError(f"{self._what} are not loaded: import simulator.catalog (it reads {self._file})")
        return self._load()

    def __getitem__(self, key: str) -> T:
        return self._data()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data())

    def __len__(self) -> int:
        return len(self._data())


QUANTIZATIONS: DataTable[Quantization] = DataTable("quantization modes", "workloads/quantization.yaml")
KV_BYTES: DataTable[float] = DataTable("KV-cache dtypes", "workloads/quantization.yaml")


def supported_quantizations(hw: Accelerator) -> list[str]:
    """The quantization modes whose GEMM peak the device has, in file order."""
    return [name for name, q in QUANTIZATIONS.items() if q.compute_dtype in hw.peak_flop_per_s]


@dataclass(frozen=True, slots=True)
class Deployment:
    """One model replica: parallelism, precision, KV precision and engine."""

    tp: int = 1
    pp: int = 1
    ep: int = 1  # expert-parallel degree inside the TP group (MoE experts split ep ways)
    # attention data parallelism: the tp GPUs of a stage form dp_attention groups of tp/dp_attention that each run
    # attention (and dense layers) for their own share of the sequences, while MoE layers use all tp GPUs
    dp_attention: int = 1
    precision: str = "bf16"
    kv_precision: str = "bf16"
    engine: str = "vllm"  # an engine family (its default version) or family@version
    max_seqs: int | None = None  # override of the engine default
    max_batched_tokens: int | None = None  # override of the engine default
    engine_profile: EngineProfile | None = field(default=None, compare=False)  # custom profile
    engine_version: str | None = None  # a version of the engine family other than its default (as engine@version)
    speculative: SpeculativeDecoding | None = None  # speculative decoding (a draft model or MTP/EAGLE heads)

    @property
    def gpus(self) -> int:
        return self.tp * self.pp

    @property
    def attn_tp(self) -> int:
        """Tensor-parallel degree of attention and dense layers (tp / dp_attention)."""
        return self.tp // self.dp_attention

    @property
    def quant(self) -> Quantization:
        return QUANTIZATIONS[self.precision]

    @property
    def profile(self) -> EngineProfile:
        return self.engine_profile if self.engine_profile is not None else ENGINES[self.engine_ref]

    @property
    def engine_ref(self) -> str:
        """The engine id the profile is looked up by: engine, or engine@engine_version."""
        return self.engine if not self.engine_version else f"{self.engine.split('@')[0]}@{self.engine_version}"

    @property
    def engine_seq_cap(self) -> int:
        """The engine's sequence limit as the engine takes it (per attention group where its caps are)."""
        return int(self.max_seqs or self.profile.max_seqs)

    @property
    def engine_token_cap(self) -> int:
        """The engine's batched-token limit per iteration as the engine takes it (per attention group where its caps
        are)."""
        return int(self.max_batched_tokens or self.profile.max_batched_tokens)

    @property
    def cap_groups(self) -> int:
        """How many times the engine's caps count in one replica: dp_attention where the engine runs a scheduler per
        attention data-parallel group (EngineProfile.caps_per_attention_group), else 1."""
        return self.dp_attention if self.profile.caps_per_attention_group else 1

    @property
    def seq_cap(self) -> int:
        """Sequences the whole replica runs at once at most."""
        return self.engine_seq_cap * self.cap_groups

    @property
    def token_cap(self) -> int:
        """Tokens the whole replica batches in one iteration at most."""
        return self.engine_token_cap * self.cap_groups

    def caps_text(self) -> str:
        """The engine's caps as the user sets them: 'N sequences and M batched tokens' (per attention group, where the
        engine schedules each group on its own)."""
        per = f" per attention group (x{self.cap_groups})" if self.cap_groups > 1 else ""
        return f"{self.engine_seq_cap:,} sequences and {self.engine_token_cap:,} batched tokens{per}"

    def label(self) -> str:
        return (f"tp{self.tp} pp{self.pp}{f' ep{self.ep}' if self.ep > 1 else ''}"
                f"{f' dp-attn{self.dp_attention}' if self.dp_attention > 1 else ''} {self.precision} "
                f"kv-{self.kv_precision} {self.engine_ref} max-seqs {self.engine_seq_cap}"
                f"{f' x{self.cap_groups} groups' if self.cap_groups > 1 else ''}"
                + (f" {self.speculative.label()}" if self.speculative is not None else ""))


def context_limit_tokens(model: TransformerSpec) -> int | None:
    """Longest sequence (prompt + output) the model supports; None when the files do not say."""
    if model.context_window_tokens:
        return model.context_window_tokens
    return model.max_position_embeddings or None


def check_deployment(model: TransformerSpec, hw: Accelerator, dep: Deployment) -> None:
    """Raise PlanError naming the field when a deployment is impossible (not merely too small)."""
    for name in ("tp", "pp", "ep", "dp_attention"):
        check_positive(name, getattr(dep, name), whole=True)
    tp, dp, ep, pp = setting("tp"), setting("dp_attention"), setting("ep"), setting("pp")
    if dep.tp % dep.dp_attention:
        raise PlanError(f"{dp} {dep.dp_attention} must divide {tp} {dep.tp} (each attention group runs "
                        f"tp / dp_attention GPUs)")
    if dep.precision not in QUANTIZATIONS:
        raise PlanError(f"{setting('precision')} {dep.precision!r} is not one of {', '.join(QUANTIZATIONS)}")
    if dep.kv_precision not in KV_BYTES:
        raise PlanError(f"{setting('kv_precision')} {dep.kv_precision!r} is not one of {', '.join(KV_BYTES)}")
    if dep.engine_profile is None:
        if dep.engine.split("@")[0] not in ENGINES:
            raise PlanError(f"{setting('engine')} {dep.engine!r} is not one of {', '.join(ENGINES)}")
        ENGINES[dep.engine_ref]  # UnknownIdError in one line for a version not shipped
    atp = dep.attn_tp
    what = f"{tp} {dep.tp}" if dep.dp_attention == 1 else f"{tp} {dep.tp} / {dp} {dep.dp_attention} = {atp}"
    if model.n_heads % atp:
        raise PlanError(f"{what} does not divide the {model.n_heads} attention heads of {model.id}; "
                        f"choose a divisor of {model.n_heads}")
    if model.mla is None and model.n_kv_heads % atp and atp % model.n_kv_heads:
        raise PlanError(f"{what} and the {model.n_kv_heads} KV heads of {model.id} are incompatible "
                        f"(neither divides the other)")
    if dep.pp > model.n_layers:
        raise PlanError(f"{pp} {dep.pp} exceeds the {model.n_layers} layers of {model.id}")
    if dep.ep > 1:
        if model.moe is None:
            raise PlanError(f"{ep} {dep.ep} needs a mixture-of-experts model; {model.id} is dense")
        if dep.tp % dep.ep or model.moe.n_experts % dep.ep:
            raise PlanError(f"{ep} {dep.ep} must divide {tp} {dep.tp} and the {model.moe.n_experts} experts")
    if dep.quant.compute_dtype not in hw.peak_flop_per_s:
        raise PlanError(f"{setting('precision')} {dep.precision} needs {dep.quant.compute_dtype} tensor cores, which "
                        f"{hw.id} lacks; it runs: {', '.join(supported_quantizations(hw))}")
    if dep.seq_cap < 1 or dep.token_cap < 1:
        raise PlanError("max sequences and max batched tokens must be positive")
    check_speculative(model, dep.speculative, dep.tp)  # nothing to check without speculative decoding
