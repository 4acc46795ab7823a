"""Quality models for lifecycle planning (pure): the parametric loss L(N, D) = E + A/N^alpha + B/D^beta, the tokens a
size needs to reach a loss, the compute-optimal size for a loss, the shape a model family's rule gives a parameter
count, and the loss a compression method costs. Fits, families and methods are data (workloads/scaling_laws/, read by
simulator.catalog.scaling_laws); every formula here has one home and names its source."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from simulator.core.model import MoE, TransformerSpec


@dataclass(frozen=True, slots=True)
class ScalingLaw:
    """A published fit of L(N, D) = E + A/N^alpha + B/D^beta (loss in nats per token), the ranges of N and D it was
    fitted on, the tokens per parameter a search may go to, and the model families it is applied to."""

    id: str
    name: str
    e_nats: float
    a: float
    b: float
    alpha: float
    beta: float
    params_range: tuple[float, float]
    tokens_range: tuple[float, float]
    max_tokens_per_param: float
    families: tuple[str, ...]
    sources: tuple[str, ...] = ()
    path: str = ""


@dataclass(frozen=True, slots=True)
class ModelFamily:
    """How a family's shape scales with its parameter count (family_shape): fixed heads, FFN ratio and vocabulary,
    depth set by the width/depth ratio; `moe` = (experts, active experts) for a mixture of experts."""

    id: str
    name: str
    head_dim: int
    kv_heads: int
    d_model_per_layer: float
    d_ff_per_d_model: float
    vocab_size: int
    activation: str
    tied_embeddings: bool
    moe: tuple[int, int] | None = None
    references: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CompressionMethod:
    """A compression option and its quality cost: quantization serves the model at `precision` (its loss rises by
    loss_delta_nats; None: not published as a loss); distillation trains a student with a teacher's outputs;
    prune_distill prunes a trained teacher to `student_fraction` of its parameters and distils it on
    `tokens_per_student_param` tokens per parameter."""

    id: str
    name: str
    method: str
    quality_note: str
    precision: str | None = None
    loss_delta_nats: float | None = None
    student_token_multiplier: float = 1.0
    student_fraction: float | None = None
    tokens_per_student_param: float | None = None
    sources: tuple[str, ...] = ()


# ---------------------------------------------------------------- the parametric loss
def predicted_loss(law: ScalingLaw, params: float, tokens: float) -> float:
    """L(N, D) = E + A / N^alpha + B / D^beta (Hoffmann et al. 2022, eq. 2)."""
    return law.e_nats + law.a / params ** law.alpha + law.b / tokens ** law.beta


def tokens_for_loss(law: ScalingLaw, params: float, loss: float) -> float:
    """D with L(N, D) = loss: (B / (loss - E - A/N^alpha))^(1/beta) (eq. 2 solved for D); inf when N alone cannot get
    below the loss."""
    room = loss - law.e_nats - law.a / params ** law.alpha
    return (law.b / room) ** (1.0 / law.beta) if room > 0 else math.inf


def compute_optimal(law: ScalingLaw, loss: float) -> tuple[float, float]:
    """(N, D) minimising training FLOPs 6ND on the iso-loss curve: at the optimum alpha A/N^alpha = beta B/D^beta
    (Lagrange condition; Hoffmann et al. 2022 appendix D.2 derive the same optimum for a FLOP budget), so the
    reducible loss splits beta:alpha between the N and D terms."""
    reducible = loss - law.e_nats
    n_term = law.beta * reducible / (law.alpha + law.beta)
    d_term = law.alpha * reducible / (law.alpha + law.beta)
    return (law.a / n_term) ** (1.0 / law.alpha), (law.b / d_term) ** (1.0 / law.beta)


def smallest_params(law: ScalingLaw, loss: float) -> float:
    """The smallest N that reaches the loss within the law's max_tokens_per_param (bisection in log N: tokens per
    parameter falls monotonically as N grows along the iso-loss curve)."""
    lo, hi = 1.0, compute_optimal(law, loss)[0]
    for _ in range(200):
        mid = math.sqrt(lo * hi)
        if tokens_for_loss(law, mid, loss) / mid > law.max_tokens_per_param:
            lo = mid
        else:
            hi = mid
        if hi / lo < 1 + 1e-9:
            break
    return hi


def candidate_params(law: ScalingLaw, loss: float, count: int) -> list[float]:
    """`count` parameter counts spaced evenly in log N from the smallest that reaches the loss to the compute-optimal
    one (Sardana et al. 2023: the lifetime optimum lies at or below the compute-optimal size)."""
    lo, hi = smallest_params(law, loss), compute_optimal(law, loss)[0]
    if count == 1 or hi <= lo:
        return [hi]
    return [lo * (hi / lo) ** (i / (count - 1)) for i in range(count)]


def within_range(law: ScalingLaw, params: float, tokens: float) -> bool:
    """Whether (N, D) lies inside the ranges the law was fitted on."""
    return law.params_range[0] <= params <= law.params_range[1] and law.tokens_range[0] <= tokens <= law.tokens_range[1]


def loss_delta_from_perplexity(pairs: list[tuple[float, float]]) -> float:
    """A compression method's loss cost in nats per token: the median over published (baseline, compressed)
    perplexities of ln(compressed / baseline) (loss = ln perplexity for a cross-entropy in nats)."""
    return float(statistics.median(math.log(c / b) for b, c in pairs))


def forward_flop_fraction() -> float:
    """A forward pass over a fraction of the FLOPs of a training step on the same tokens: 2N / 6N = 1/3 (Kaplan et al.
    2020 section 2.1: forward about 2N FLOPs per token, forward and backward about 6N)."""
    return 2.0 / 6.0


def prune_student_params(method: CompressionMethod, teacher_params: float) -> float:
    """The pruned student's parameter count: the teacher's times the method's published student/teacher ratio."""
    if method.student_fraction is None:
        raise ValueError(f"{method.id} has no student_fraction")
    return teacher_params * method.student_fraction


# ---------------------------------------------------------------- a family's shape at a parameter count
def shape_spec(family: ModelFamily, d_model: int, n_layers: int) -> TransformerSpec:
    """The family's model at one width and depth (heads of head_dim, kv_heads KV heads, FFN d_ff_per_d_model x width
    rounded to whole heads)."""
    n_heads = d_model // family.head_dim
    d_ff = max(family.head_dim, round(family.d_ff_per_d_model * d_model / family.head_dim) * family.head_dim)
    moe = MoE(n_experts=family.moe[0], top_k=family.moe[1], d_ff_expert=d_ff) if family.moe else None
    return TransformerSpec(
        id=f"{family.id}-w{d_model}-l{n_layers}", name=f"{family.name}, width {d_model}, {n_layers} layers",
        n_layers=n_layers, d_model=d_model, n_heads=n_heads, n_kv_heads=min(family.kv_heads, n_heads), d_ff=d_ff,
        vocab_size=family.vocab_size, activation=family.activation, tied_embeddings=family.tied_embeddings,
        head_dim=family.head_dim, moe=moe)


def family_shape(family: ModelFamily, params: float) -> TransformerSpec:
    """The family's model nearest `params` (stated in the family file): the width is the multiple of head_dim x kv_heads
    whose model at the family's width/depth ratio comes nearest in log N; the depth is the whole number of layers
    (at least one) that then comes nearest."""
    step = family.head_dim * family.kv_heads

    def ideal(width: int) -> float:
        return shape_spec(family, width, max(1, round(width / family.d_model_per_layer))).total_params()

    k = 1
    while ideal(step * (k + 1)) < params and k < 10_000:
        k += 1
    width = min((step * k, step * (k + 1)), key=lambda w: abs(math.log(ideal(w) / params)))
    one, two = shape_spec(family, width, 1).total_params(), shape_spec(family, width, 2).total_params()
    layers = max(1, round(1 + (params - one) / (two - one)))
    return shape_spec(family, width, layers)


def shape_record(spec: TransformerSpec) -> dict:
    """A generated shape as the keys of a model YAML (simulator.model_from_dict reads it back; a file of it runs in
    `simulator plan` and `simulator capacity`)."""
    out = {"id": spec.id, "name": spec.name, "n_layers": spec.n_layers, "d_model": spec.d_model,
           "n_heads": spec.n_heads, "n_kv_heads": spec.n_kv_heads, "d_ff": spec.d_ff, "vocab_size": spec.vocab_size,
           "activation": spec.activation, "tied_embeddings": spec.tied_embeddings,
           "attention": {"kind": "gqa" if spec.n_kv_heads != spec.n_heads else "mha", "head_dim": spec.head_dim}}
    if spec.moe is not None:
        out["moe"] = {"n_experts": spec.moe.n_experts, "top_k": spec.moe.top_k, "d_ff_expert": spec.moe.d_ff_expert}
        out["d_ff"] = spec.moe.d_ff_expert
    return out
