"""One model replica: quantization, parallelism, engine; the checks that make a deployment impossible."""

from __future__ import annotations

from dataclasses import dataclass, field

from simulator.core.checks import check_positive
from simulator.core.hardware import Accelerator
from simulator.core.inference.engine import ENGINES, EngineProfile
from simulator.core.model import TransformerSpec
from simulator.errors import PlanError

ACT_BYTES = 2.0  # activations, logits of the LM head input and all-reduce buffers stay 16-bit


@dataclass(frozen=True, slots=True)
class Quantization:
    """How weights, GEMM inputs and their peak are stored/used for one precision scheme."""

    name: str
    weight_bytes: float  # bytes per linear-layer weight element, scales included
    compute_dtype: str  # key of Accelerator.peak_flop_per_s used by the linear layers
    activation_bytes: float  # bytes per GEMM input activation element
    description: str = ""


# Group-quantization scale overheads: AWQ/GPTQ int4 keeps an fp16 scale + zero per 128 weights
# (4 B / 128 = 0.03125 B); NVFP4 keeps one fp8 scale per 16 elements (1/16 B) (NVIDIA NVFP4 blog 2025).
QUANTIZATIONS: dict[str, Quantization] = {
    "bf16": Quantization("bf16", 2.0, "bf16", 2.0, "16-bit weights and activations"),
    "fp16": Quantization("fp16", 2.0, "fp16", 2.0, "16-bit weights and activations"),
    "fp8": Quantization("fp8", 1.0, "fp8", 1.0, "W8A8 fp8 (per-tensor scales, TensorRT-LLM/ModelOpt style)"),
    "int8": Quantization("int8", 1.0, "int8", 1.0, "W8A8 int8 (SmoothQuant, Xiao et al. 2023)"),
    "int8-wo": Quantization("int8-wo", 1.0, "bf16", 2.0, "int8 weight-only, 16-bit compute"),
    "int4": Quantization("int4", 0.5 + 4.0 / 128.0, "bf16", 2.0, "W4A16 int4 weight-only, group 128 (AWQ/GPTQ)"),
    "int4-g32": Quantization("int4-g32", 0.5 + 4.0 / 32.0, "bf16", 2.0, "W4A16 int4 weight-only, group 32 (gpt-fast)"),
    "fp4": Quantization("fp4", 0.5 + 1.0 / 16.0, "fp4", 0.5 + 1.0 / 16.0, "W4A4 NVFP4 (block 16, fp8 scales)"),
}
KV_BYTES: dict[str, float] = {"bf16": 2.0, "fp16": 2.0, "fp8": 1.0, "int8": 1.0}


@dataclass(frozen=True, slots=True)
class Deployment:
    """One model replica: parallelism, precision, KV precision and engine."""

    tp: int = 1
    pp: int = 1
    ep: int = 1  # expert-parallel degree inside the TP group (MoE experts split ep ways)
    precision: str = "bf16"
    kv_precision: str = "bf16"
    engine: str = "vllm"  # an engine family (its default version) or family@version
    max_seqs: int | None = None  # override of the engine default
    max_batched_tokens: int | None = None  # override of the engine default
    engine_profile: EngineProfile | None = field(default=None, compare=False)  # custom profile
    engine_version: str | None = None  # a version of the engine family other than its default (as engine@version)

    @property
    def gpus(self) -> int:
        return self.tp * self.pp

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
    def seq_cap(self) -> int:
        return int(self.max_seqs or self.profile.max_seqs)

    @property
    def token_cap(self) -> int:
        return int(self.max_batched_tokens or self.profile.max_batched_tokens)

    def label(self) -> str:
        return (f"tp{self.tp} pp{self.pp}{f' ep{self.ep}' if self.ep > 1 else ''} {self.precision} "
                f"kv-{self.kv_precision} {self.engine_ref} max-seqs {self.seq_cap}")


def context_limit_tokens(model: TransformerSpec) -> int | None:
    """Longest sequence (prompt + output) the model supports; None when the files do not say."""
    if model.context_window_tokens:
        return model.context_window_tokens
    return model.max_position_embeddings or None


def check_deployment(model: TransformerSpec, hw: Accelerator, dep: Deployment) -> None:
    """Raise PlanError naming the field when a deployment is impossible (not merely too small)."""
    for name in ("tp", "pp", "ep"):
        check_positive(name, getattr(dep, name), whole=True)
    if dep.precision not in QUANTIZATIONS:
        raise PlanError(f"--precision {dep.precision!r} is not one of {', '.join(QUANTIZATIONS)}")
    if dep.kv_precision not in KV_BYTES:
        raise PlanError(f"--kv-precision {dep.kv_precision!r} is not one of {', '.join(KV_BYTES)}")
    if dep.engine_profile is None:
        if dep.engine.split("@")[0] not in ENGINES:
            raise PlanError(f"--engine {dep.engine!r} is not one of {', '.join(ENGINES)}")
        ENGINES[dep.engine_ref]  # UnknownIdError in one line for a version not shipped
    if model.n_heads % dep.tp:
        raise PlanError(f"--tp {dep.tp} does not divide the {model.n_heads} attention heads of {model.id}; "
                        f"choose a divisor of {model.n_heads}")
    if model.mla is None and model.n_kv_heads % dep.tp and dep.tp % model.n_kv_heads:
        raise PlanError(f"--tp {dep.tp} and the {model.n_kv_heads} KV heads of {model.id} are incompatible "
                        f"(neither divides the other)")
    if dep.pp > model.n_layers:
        raise PlanError(f"--pp {dep.pp} exceeds the {model.n_layers} layers of {model.id}")
    if dep.ep > 1:
        if model.moe is None:
            raise PlanError(f"--ep {dep.ep} needs a mixture-of-experts model; {model.id} is dense")
        if dep.tp % dep.ep or model.moe.n_experts % dep.ep:
            raise PlanError(f"--ep {dep.ep} must divide --tp {dep.tp} and the {model.moe.n_experts} experts")
    hw.peak(dep.quant.compute_dtype)  # PlanError if the device has no peak for this precision
    if dep.seq_cap < 1 or dep.token_cap < 1:
        raise PlanError("max sequences and max batched tokens must be positive")
