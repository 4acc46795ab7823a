"""The options a lifecycle plan compares, before they are priced: models of the family on the iso-loss curve (base),
each served quantized (its training aimed below the target by the method's loss cost), students distilled from the
compute-optimal teacher, and students pruned from each base model and distilled (Minitron). An option lists what
must be trained (each part a model, its tokens and the share of a training step it costs) and what is served."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from simulator.core.model import TransformerSpec
from simulator.core.scaling import (
    CompressionMethod,
    ModelFamily,
    ScalingLaw,
    candidate_params,
    compute_optimal,
    family_shape,
    forward_flop_fraction,
    predicted_loss,
    prune_student_params,
    tokens_for_loss,
)
from simulator.limits import MAX_TRAIN_TOKENS
from simulator.units import TRILLION


@dataclass(frozen=True, slots=True)
class TrainingPart:
    """One training job of an option: `model` on `tokens`, costing `step_share` of its training cost per token
    (1 for training, forward_flop_fraction() for a teacher's forward passes)."""

    role: str  # "model", "teacher", "teacher forward", "student"
    model: TransformerSpec
    tokens: float
    step_share: float = 1.0


@dataclass(frozen=True)
class OptionSpec:
    """An option to price: its trainings, the model served and at which precision, and the loss it is predicted to
    reach (None: its quality cost is not published as a loss)."""

    label: str
    kind: str  # base | quantization | distillation | prune_distill
    method: str  # the compression method's id ('' for base)
    served: TransformerSpec
    precision: str
    served_tokens: float  # tokens the served model itself was trained on
    predicted_loss: float | None
    parts: tuple[TrainingPart, ...]
    quality_note: str = ""
    teacher: TransformerSpec | None = None
    distill_tokens: float | None = None
    reason: str = ""  # why it cannot be built ('' when it can)
    sources: tuple[str, ...] = field(default_factory=tuple)


def size_label(spec: TransformerSpec) -> str:
    return f"{spec.total_params() / 1e9:.1f}B"


def tokens_label(tokens: float) -> str:
    return f"{tokens / TRILLION:.3g}T" if tokens >= 1e11 else f"{tokens / 1e9:.3g}B"


def base_models(law: ScalingLaw, family: ModelFamily, loss: float, count: int) -> list[TransformerSpec]:
    """The family's shapes nearest `count` sizes spaced in log N from the smallest that reaches the loss to the
    compute-optimal one (each once, smallest first)."""
    out: dict[str, TransformerSpec] = {}
    for n in candidate_params(law, loss, count):
        spec = family_shape(family, n)
        out.setdefault(spec.id, spec)
    return sorted(out.values(), key=lambda s: s.total_params())


def _reachable(law: ScalingLaw, spec: TransformerSpec, loss: float) -> tuple[float, str]:
    """Tokens for the model to reach the loss, or inf and why it cannot."""
    tokens = tokens_for_loss(law, spec.total_params(), loss)
    if not math.isfinite(tokens):
        return math.inf, f"{size_label(spec)} cannot reach loss {loss:.4g} at any token count under {law.id}"
    if tokens > MAX_TRAIN_TOKENS:
        return math.inf, f"{size_label(spec)} needs {tokens:.3g} tokens to reach loss {loss:.4g}, past the planner's bound"
    return tokens, ""


def base_option(law: ScalingLaw, spec: TransformerSpec, loss: float) -> OptionSpec:
    tokens, why = _reachable(law, spec, loss)
    label = f"{size_label(spec)} on {tokens_label(tokens)} tokens" if not why else size_label(spec)
    return OptionSpec(label, "base", "", spec, "bf16", tokens, loss if not why else None,
                      (TrainingPart("model", spec, tokens),), "trained to the target loss (bf16 serving)", reason=why)


def quantized_option(law: ScalingLaw, spec: TransformerSpec, loss: float, m: CompressionMethod) -> OptionSpec:
    """The model trained to the target minus the method's loss cost, then served at the method's precision; without a
    published loss cost it is trained to the target and its served loss is unknown."""
    aim = loss - (m.loss_delta_nats or 0.0)
    tokens, why = _reachable(law, spec, aim)
    served_loss = None if m.loss_delta_nats is None or why else aim + m.loss_delta_nats
    label = f"{size_label(spec)} on {tokens_label(tokens) if not why else '-'} tokens, {m.precision}"
    return OptionSpec(label, "quantization", m.id, spec, str(m.precision), tokens, served_loss,
                      (TrainingPart("model", spec, tokens),), m.quality_note, reason=why, sources=m.sources)


def distilled_option(law: ScalingLaw, student: TransformerSpec, teacher: TransformerSpec, loss: float,
                     m: CompressionMethod) -> OptionSpec:
    """A student of the family trained on its iso-loss tokens (divided by the method's token multiplier) with the
    compute-optimal teacher's outputs: the teacher's training, its forward passes over the student's tokens and the
    student's training."""
    t_tokens, t_why = _reachable(law, teacher, loss)
    tokens, why = _reachable(law, student, loss)
    tokens /= m.student_token_multiplier
    label = f"{size_label(student)} distilled from {size_label(teacher)}"
    parts = (TrainingPart("teacher", teacher, t_tokens),
             TrainingPart("teacher forward", teacher, tokens, forward_flop_fraction()),
             TrainingPart("student", student, tokens))
    served_loss = None if (why or t_why) else predicted_loss(law, student.total_params(),
                                                             tokens * m.student_token_multiplier)
    return OptionSpec(label, "distillation", m.id, student, "bf16", tokens, served_loss, parts, m.quality_note,
                      teacher=teacher, distill_tokens=tokens, reason=t_why or why, sources=m.sources)


def pruned_option(law: ScalingLaw, family: ModelFamily, teacher: TransformerSpec, loss: float,
                  m: CompressionMethod) -> OptionSpec:
    """The teacher trained to the target (minus the method's loss cost), pruned to the published student/teacher
    ratio (the family's shape nearest it) and distilled on the published tokens per student parameter."""
    aim = loss - (m.loss_delta_nats or 0.0)
    t_tokens, why = _reachable(law, teacher, aim)
    student = family_shape(family, prune_student_params(m, teacher.total_params()))
    tokens = float(m.tokens_per_student_param or 0.0) * student.total_params()
    label = f"{size_label(student)} pruned from {size_label(teacher)}, distilled on {tokens_label(tokens)}"
    parts = (TrainingPart("teacher", teacher, t_tokens),
             TrainingPart("teacher forward", teacher, tokens, forward_flop_fraction()),
             TrainingPart("student", student, tokens))
    if student.id == teacher.id:
        why = why or f"pruning {size_label(teacher)} to {m.student_fraction:.0%} gives the same family shape"
    served_loss = None if why or m.loss_delta_nats is None else aim + m.loss_delta_nats
    return OptionSpec(label, "prune_distill", m.id, student, "bf16", tokens, served_loss, parts, m.quality_note,
                      teacher=teacher, distill_tokens=tokens, reason=why, sources=m.sources)


def build_options(law: ScalingLaw, family: ModelFamily, loss: float, count: int,
                  methods: list[CompressionMethod]) -> list[OptionSpec]:
    """Every option: the base models, then each method applied (distillation's teacher is the compute-optimal
    shape; a base model is not distilled into itself)."""
    bases = base_models(law, family, loss, count)
    out = [base_option(law, s, loss) for s in bases]
    for m in methods:
        if m.method == "quantization":
            out += [quantized_option(law, s, loss, m) for s in bases]
        elif m.method == "distillation":
            teacher = family_shape(family, compute_optimal(law, loss)[0])
            out += [distilled_option(law, s, teacher, loss, m) for s in bases if s.total_params() < teacher.total_params()]
        else:
            out += [pruned_option(law, family, s, loss, m) for s in bases]
    return out
