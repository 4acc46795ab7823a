#!/usr/bin/env python3
"""What one training step of a small Llama-style decoder costs on this GPU, and the kernels under it.

    python benchmarks/gpu/train_step.py --out DIR [--deadline-s 280] [--model 1b] [--seq-len 2048]
    python benchmarks/gpu/train_step.py --plan          # the tasks, their time estimates and sizing; no torch

Tasks run in priority order, each only when its estimated cost fits before the global deadline (estimates are
replaced by what the same kind of task really took, x1.2); one that does not fit, or cannot run here (no torchao,
no fp8 GPU), gets a row saying why. Train steps: eager vs torch.compile (per block), SDPA math vs flash, bf16 vs
fp8 (torchao convert_to_float8_training, tensorwise and rowwise): median step time after warm-up, peak memory
(allocated and reserved), tokens/s, model FLOP/s. Kernel sweeps: bf16 and fp8 GEMMs, SDPA forward+backward
(flash, cuDNN), elementwise/RMSNorm bandwidth. Rows are appended to DIR/results.jsonl as they are measured (and
DIR/<part>.csv rewritten), each carrying the environment (GPU, driver, CUDA, torch, torchao, date).
The model is built in plain PyTorch from random weights on random tokens: nothing is downloaded.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as _dt
import gc
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

try:  # torch is optional: --help and --plan work without it, a measurement run says it is missing
    import torch
    import torch.nn.functional as F
    from torch import nn

    _Module: Any = nn.Module
    TORCH_ERROR = ""
except Exception as _exc:  # noqa: BLE001 - a broken install (CUDA libraries) is as good as none here
    torch = F = nn = None  # type: ignore[assignment]
    _Module = object
    TORCH_ERROR = f"{type(_exc).__name__}: {_exc}"

PARTS = ("train", "gemm", "attention", "elementwise")
SDPA_BACKENDS = ("math", "flash", "efficient", "cudnn")
FP8_RECIPES = ("fp8_tensorwise", "fp8_rowwise")
# train configs in priority order (what runs first when time is short): mode-sdpa-precision
TRAIN_CONFIGS = ("eager-flash-bf16", "eager-math-bf16", "compile-flash-bf16", "compile-flash-fp8_tensorwise",
                 "compile-flash-fp8_rowwise", "eager-flash-fp8_tensorwise", "eager-flash-fp8_rowwise",
                 "compile-math-bf16")
# default cost estimates (s) per kind of task, before one of that kind has been seen
DEFAULT_COST_S = {"eager": 25.0, "eager_fp8": 30.0, "compile": 70.0, "compile_fp8": 90.0,
                  "gemm": 15.0, "attention": 20.0, "elementwise": 15.0}
GEMM_SHAPES = ((2048, 2048, 2048), (4096, 4096, 4096), (8192, 8192, 8192),  # (M, N, K)
               (8192, 11264, 2048), (8192, 2048, 5632),     # the 1b model's gate+up and down at 8k tokens
               (8192, 28672, 4096), (8192, 4096, 14336))    # Llama-3-8B's
GEMM_DTYPES = ("bf16", *FP8_RECIPES)
ATTN_SEQS = (1024, 2048, 4096, 8192, 16384)
ATTN_TOKENS, ATTN_HEADS, ATTN_HEAD_DIM = 16384, 16, 128
ELEMENTWISE_BYTES = {"copy": 2, "residual_add": 3, "silu_mul": 3, "rmsnorm": 2, "rmsnorm_compiled": 2}
ELEMENTWISE_SHAPES = ((16384, 4096), (16384, 8192))
FLUSH_BYTES = 256 * 2**20
MEM_FRACTION = 0.7


# ---------------------------------------------------------------- pure parts: sizing, plan, deadline, results
@dataclass(frozen=True)
class ModelConfig:
    name: str
    d_model: int
    n_layers: int
    n_heads: int
    n_kv_heads: int
    d_ff: int
    vocab: int

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads


MODELS = {
    "tiny": ModelConfig("llama-tiny", 64, 2, 4, 2, 192, 256),
    "0.5b": ModelConfig("llama-0.5b", 1536, 14, 12, 4, 4096, 32000),
    "1b": ModelConfig("llama-1b", 2048, 16, 16, 8, 5632, 32000),
}


def param_count(c: ModelConfig) -> int:
    """Parameters: attention (q, k, v, o with grouped KV), SwiGLU MLP, two norms per block, untied embedding and
    head, final norm."""
    kv = c.n_kv_heads * c.head_dim
    block = c.d_model * (2 * c.d_model + 2 * kv) + 3 * c.d_model * c.d_ff + 2 * c.d_model
    return c.n_layers * block + 2 * c.vocab * c.d_model + c.d_model


def step_flop(c: ModelConfig, batch: int, seq: int) -> float:
    """Model FLOP of one step: 6 per matmul weight per token (forward + backward) plus causal attention
    (QK^T and PV: 4 s d per token and layer forward, halved by the mask, x3 with backward)."""
    tokens = batch * seq
    matmul_weights = param_count(c) - c.vocab * c.d_model - (2 * c.n_layers + 1) * c.d_model
    return 6.0 * matmul_weights * tokens + 6.0 * c.n_layers * c.d_model * seq * tokens


def estimate_memory(c: ModelConfig, batch: int, seq: int, math_attention: bool) -> float:
    """Rough peak bytes of a step: bf16 weights, grads and AdamW moments (8 B/param), saved bf16 activations
    (K/V repeated to all heads), the math backend's fp32 score matrices, bf16 logits with their fp32 loss copy."""
    tokens = batch * seq
    per_layer = tokens * (16 * c.d_model + 4 * c.d_ff) * 2.0
    if math_attention:
        per_layer += 3.0 * batch * c.n_heads * seq * seq * 4.0
    return 8.0 * param_count(c) + c.n_layers * per_layer + tokens * c.vocab * 12.0


def choose_batch(c: ModelConfig, seq: int, mem_bytes: float, math_attention: bool, target: int) -> int:
    """The largest batch up to `target` whose estimated peak fits MEM_FRACTION of the device (at least 1)."""
    fits = [b for b in range(1, target + 1) if estimate_memory(c, b, seq, math_attention) <= MEM_FRACTION * mem_bytes]
    return max(fits, default=1)


@dataclass(frozen=True)
class TrainSpec:
    compile: bool
    sdpa: str
    precision: str

    @property
    def kind(self) -> str:
        return ("compile" if self.compile else "eager") + ("_fp8" if self.precision != "bf16" else "")


def parse_config(name: str) -> TrainSpec:
    """'compile-flash-fp8_rowwise' -> TrainSpec(True, 'flash', 'fp8_rowwise'); ValueError names what is wrong."""
    parts = name.split("-")
    if len(parts) != 3 or parts[0] not in ("eager", "compile") or parts[1] not in SDPA_BACKENDS \
            or parts[2] not in ("bf16", *FP8_RECIPES):
        raise ValueError(f"config {name!r}: expected eager|compile - {'|'.join(SDPA_BACKENDS)} - "
                         f"bf16|{'|'.join(FP8_RECIPES)}, e.g. compile-flash-fp8_tensorwise")
    return TrainSpec(parts[0] == "compile", parts[1], parts[2])


@dataclass(frozen=True)
class PlanItem:
    name: str
    part: str
    kind: str
    est_s: float


def build_plan(parts: tuple[str, ...], configs: tuple[str, ...]) -> list[PlanItem]:
    """Tasks in priority order: the two eager bf16 steps, the kernel sweeps, then compiled and fp8 steps."""
    train = [PlanItem(n, "train", parse_config(n).kind, DEFAULT_COST_S[parse_config(n).kind]) for n in configs]
    sweeps = [PlanItem(p, p, p, DEFAULT_COST_S[p]) for p in PARTS[1:] if p in parts]
    if "train" not in parts:
        return sweeps
    return train[:2] + sweeps + train[2:]


class Skip(Exception):
    """A task that cannot run here (library, device); its row says why."""


class DeadlineReached(BaseException):  # not an Exception: a sweep's per-case `except` lets it through
    """Raised in the running task (SIGALRM) when the global deadline passes, so the run still ends cleanly."""


@contextlib.contextmanager
def alarm_after(seconds: float | None) -> Any:
    """Interrupt the body with DeadlineReached after `seconds` (main thread, POSIX); None: no limit."""
    if seconds is None or not hasattr(signal, "setitimer"):
        yield
        return

    def on_alarm(signum: int, frame: Any) -> None:
        raise DeadlineReached("stopped at the global deadline")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, max(0.01, seconds))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class Deadline:
    """Admits a task while its estimated cost fits before the deadline; learns each kind's cost as it goes."""

    def __init__(self, budget_s: float, clock: Callable[[], float] = time.monotonic, margin_s: float = 5.0) -> None:
        self.clock = clock
        self.start = clock()
        self.end = self.start + budget_s
        self.margin_s = margin_s
        self.observed: dict[str, float] = {}

    def left(self) -> float:
        return self.end - self.clock()

    def elapsed(self) -> float:
        return self.clock() - self.start

    def estimate(self, kind: str, default: float) -> float:
        return 1.2 * self.observed[kind] if kind in self.observed else default

    def admit(self, kind: str, default: float) -> tuple[bool, float]:
        est = self.estimate(kind, default)
        return self.left() - self.margin_s >= est, est

    def record(self, kind: str, seconds: float) -> None:
        self.observed[kind] = max(self.observed.get(kind, 0.0), seconds)


class ResultWriter:
    """Appends each row (with the environment, keys prefixed env_) to results.jsonl at once and rewrites
    <part>.csv, so a run killed midway keeps everything measured before."""

    def __init__(self, out_dir: str | Path, env: dict[str, Any]) -> None:
        self.dir = Path(out_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.env = {f"env_{k}": v for k, v in env.items()}
        self.rows: dict[str, list[dict[str, Any]]] = {}
        (self.dir / "env.json").write_text(json.dumps(env, indent=2, default=str) + "\n", encoding="utf-8")

    def write(self, part: str, row: dict[str, Any]) -> dict[str, Any]:
        full = {"part": part, **row, **self.env}
        with (self.dir / "results.jsonl").open("a", encoding="utf-8") as f:
            f.write(json.dumps(full, default=str) + "\n")
        self.rows.setdefault(part, []).append(full)
        cols = list(dict.fromkeys(k for r in self.rows[part] for k in r))
        tmp = self.dir / f".{part}.csv.tmp"
        with tmp.open("w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=cols, restval="")
            w.writeheader()
            w.writerows(self.rows[part])
        os.replace(tmp, self.dir / f"{part}.csv")
        return full

    def counts(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for part, rows in self.rows.items():
            for r in rows:
                out.setdefault(part, {}).setdefault(str(r.get("status")), 0)
                out[part][str(r.get("status"))] += 1
        return out


@dataclass
class Task:
    name: str
    part: str
    kind: str
    est_s: float
    fn: Callable[[], None]


def run_tasks(tasks: list[Task], deadline: Deadline, writer: ResultWriter,
              after_each: Callable[[], None] | None = None, hard: bool = False) -> None:
    """Run what fits; a skipped, failed or unfitting task leaves a row with the reason and the rest go on.
    `hard`: a task still running at the deadline is interrupted (an error row) instead of overrunning it."""
    for t in tasks:
        ok, est = deadline.admit(t.kind, t.est_s)
        if not ok:
            writer.write(t.part, {"name": t.name, "status": "skipped",
                                  "reason": f"deadline: needs ~{est:.0f} s, {deadline.left():.0f} s left"})
            continue
        t0 = deadline.clock()
        try:
            with alarm_after(deadline.left() if hard else None):
                t.fn()
        except Skip as exc:
            writer.write(t.part, {"name": t.name, "status": "skipped", "reason": str(exc)})
        except DeadlineReached as exc:
            writer.write(t.part, {"name": t.name, "status": "stopped", "reason": str(exc)})
        except Exception as exc:  # noqa: BLE001 - one failed task (OOM, unsupported kernel) must not stop the rest
            writer.write(t.part, {"name": t.name, "status": "error", "reason": f"{type(exc).__name__}: {exc}"[:800]})
        finally:
            deadline.record(t.kind, deadline.clock() - t0)
            if after_each is not None:
                after_each()


def summarize(times: list[float], prefix: str = "time_s") -> dict[str, float | int]:
    """Median and spread of repeated timings (linear-interpolated quartiles)."""
    t = sorted(times)

    def q(p: float) -> float:
        x = p * (len(t) - 1)
        lo = int(x)
        return t[lo] + (t[min(lo + 1, len(t) - 1)] - t[lo]) * (x - lo)

    return {"reps": len(t), f"{prefix}_median": q(0.5), f"{prefix}_min": t[0], f"{prefix}_p25": q(0.25),
            f"{prefix}_p75": q(0.75), f"{prefix}_max": t[-1]}


def gpu_slug(name: str) -> str:
    """'NVIDIA H100 80GB HBM3' -> 'nvidia-h100-80gb-hbm3' (the measurement folder's name)."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "unknown-gpu"


def package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return ""


# ---------------------------------------------------------------- environment
def nvidia_smi() -> dict[str, str]:
    exe = shutil.which("nvidia-smi")
    if not exe:
        return {}
    keys = ["driver", "clock_sm_mhz", "clock_sm_max_mhz", "clock_mem_mhz", "power_limit_w", "persistence_mode"]
    query = "driver_version,clocks.sm,clocks.max.sm,clocks.mem,power.limit,persistence_mode"
    try:
        text = subprocess.run([exe, f"--query-gpu={query}", "--format=csv,noheader,nounits", "-i", "0"],
                              capture_output=True, text=True, timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return {}
    parts = [p.strip() for p in text.split(",")]
    return dict(zip(keys, parts, strict=True)) if len(parts) == len(keys) else {}


def collect_env(device: str) -> dict[str, Any]:
    env: dict[str, Any] = {
        "date": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "python": platform.python_version(),
        "torch": torch.__version__, "torchao": package_version("torchao"), "triton": package_version("triton"),
        "cuda": str(torch.version.cuda), "cudnn": str(torch.backends.cudnn.version()), "host_cpus": os.cpu_count(),
        "device": device, "script": "benchmarks/gpu/train_step.py"}
    if device == "cuda":
        p = torch.cuda.get_device_properties(0)
        env.update({"gpu": torch.cuda.get_device_name(0), "gpu_count": torch.cuda.device_count(),
                    "gpu_capability": ".".join(map(str, torch.cuda.get_device_capability(0))),
                    "gpu_memory_bytes": p.total_memory, "sm_count": p.multi_processor_count})
        env.update(nvidia_smi())
    else:
        env.update({"gpu": f"none (cpu {platform.machine()})", "gpu_memory_bytes": 0})
    return env


# ---------------------------------------------------------------- the model (plain PyTorch, Llama-style)
class RMSNorm(_Module):
    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: Any) -> Any:
        if hasattr(F, "rms_norm"):
            return F.rms_norm(x, (x.shape[-1],), self.weight, self.eps)
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def apply_rope(x: Any, cos: Any, sin: Any) -> Any:
    half = x.shape[-1] // 2
    return x * cos + torch.cat([-x[..., half:], x[..., :half]], dim=-1) * sin


class Attention(_Module):
    def __init__(self, c: ModelConfig) -> None:
        super().__init__()
        self.n_heads, self.n_kv, self.hd = c.n_heads, c.n_kv_heads, c.head_dim
        self.wq = nn.Linear(c.d_model, c.d_model, bias=False)
        self.wk = nn.Linear(c.d_model, c.n_kv_heads * c.head_dim, bias=False)
        self.wv = nn.Linear(c.d_model, c.n_kv_heads * c.head_dim, bias=False)
        self.wo = nn.Linear(c.d_model, c.d_model, bias=False)

    def forward(self, x: Any, cos: Any, sin: Any) -> Any:
        b, s, d = x.shape
        q = self.wq(x).view(b, s, self.n_heads, self.hd).transpose(1, 2)
        k = self.wk(x).view(b, s, self.n_kv, self.hd).transpose(1, 2)
        v = self.wv(x).view(b, s, self.n_kv, self.hd).transpose(1, 2)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if self.n_heads != self.n_kv:  # grouped KV repeated to all heads: works on every SDPA backend and version
            k = k.repeat_interleave(self.n_heads // self.n_kv, dim=1)
            v = v.repeat_interleave(self.n_heads // self.n_kv, dim=1)
        o = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.wo(o.transpose(1, 2).reshape(b, s, d))


class Block(_Module):
    def __init__(self, c: ModelConfig) -> None:
        super().__init__()
        self.attn_norm, self.attn = RMSNorm(c.d_model), Attention(c)
        self.mlp_norm = RMSNorm(c.d_model)
        self.w1 = nn.Linear(c.d_model, c.d_ff, bias=False)  # gate
        self.w3 = nn.Linear(c.d_model, c.d_ff, bias=False)  # up
        self.w2 = nn.Linear(c.d_ff, c.d_model, bias=False)  # down

    def forward(self, x: Any, cos: Any, sin: Any) -> Any:
        h = x + self.attn(self.attn_norm(x), cos, sin)
        y = self.mlp_norm(h)
        return h + self.w2(F.silu(self.w1(y)) * self.w3(y))


class Decoder(_Module):
    def __init__(self, c: ModelConfig, max_seq: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(c.vocab, c.d_model)
        self.layers = nn.ModuleList(Block(c) for _ in range(c.n_layers))
        self.norm = RMSNorm(c.d_model)
        self.head = nn.Linear(c.d_model, c.vocab, bias=False)
        inv = 1.0 / 500000.0 ** (torch.arange(0, c.head_dim, 2, dtype=torch.float32) / c.head_dim)
        ang = torch.outer(torch.arange(max_seq, dtype=torch.float32), inv)
        ang = torch.cat([ang, ang], dim=-1)
        self.register_buffer("cos", ang.cos(), persistent=False)
        self.register_buffer("sin", ang.sin(), persistent=False)

    def forward(self, tokens: Any) -> Any:
        s = tokens.shape[1]
        x, cos, sin = self.embed(tokens), self.cos[:s], self.sin[:s]
        for layer in self.layers:
            x = layer(x, cos, sin)
        return self.head(self.norm(x))


# ---------------------------------------------------------------- measurement (torch)
@dataclass
class Ctx:
    args: argparse.Namespace
    deadline: Deadline
    writer: ResultWriter
    cfg: ModelConfig
    mem_bytes: float
    flush_buf: Any = None

    @property
    def cuda(self) -> bool:
        return self.args.device == "cuda"

    def sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()


def sdpa_context(name: str) -> Any:
    """Restrict scaled_dot_product_attention to one backend (torch.nn.attention.sdpa_kernel, older API before 2.3)."""
    try:
        from torch.nn.attention import SDPBackend, sdpa_kernel
    except ImportError:
        if name not in ("math", "flash", "efficient"):
            raise Skip(f"SDPA backend {name} needs torch>=2.3") from None
        return torch.backends.cuda.sdp_kernel(enable_math=name == "math", enable_flash=name == "flash",
                                              enable_mem_efficient=name == "efficient")
    attr = {"math": "MATH", "flash": "FLASH_ATTENTION", "efficient": "EFFICIENT_ATTENTION",
            "cudnn": "CUDNN_ATTENTION"}[name]
    if not hasattr(SDPBackend, attr):
        raise Skip(f"this torch has no SDPBackend.{attr}")
    return sdpa_kernel([getattr(SDPBackend, attr)])


def require_fp8(ctx: Ctx) -> None:
    if not ctx.cuda or torch.cuda.get_device_capability(0) < (8, 9):
        raise Skip("fp8 needs a GPU of compute capability 8.9 or more (Ada, Hopper, Blackwell)")


def fp8_config(recipe: str) -> Any:
    """torchao's Float8LinearConfig for tensorwise (the default) or rowwise scaling, across torchao versions."""
    try:
        from torchao.float8 import Float8LinearConfig
    except Exception as exc:  # noqa: BLE001 - missing or built against another torch
        raise Skip(f"torchao float8 not importable: {type(exc).__name__}: {exc}"[:400]) from None
    if recipe == "fp8_tensorwise":
        return Float8LinearConfig()
    if hasattr(Float8LinearConfig, "from_recipe_name"):
        return Float8LinearConfig.from_recipe_name("rowwise")
    try:
        from torchao.float8.config import Float8LinearRecipeName, recipe_name_to_linear_config
    except ImportError:
        raise Skip(f"torchao {package_version('torchao')} has no rowwise float8 recipe") from None
    name = getattr(Float8LinearRecipeName, "ROWWISE", None) or Float8LinearRecipeName.ALL_AXISWISE
    return recipe_name_to_linear_config(name)


def convert_fp8(ctx: Ctx, model: Any, recipe: str) -> int:
    """Swap the blocks' nn.Linear for torchao Float8Linear (the output head stays bf16, as in torchtitan)."""
    require_fp8(ctx)
    cfg = fp8_config(recipe)
    from torchao.float8 import convert_to_float8_training

    def keep(mod: Any, fqn: str) -> bool:
        return (isinstance(mod, nn.Linear) and fqn != "head" and mod.in_features % 16 == 0
                and mod.out_features % 16 == 0)

    convert_to_float8_training(model, config=cfg, module_filter_fn=keep)
    return sum(1 for m in model.modules() if "Float8" in type(m).__name__)


def build_train(ctx: Ctx, spec: TrainSpec, batch: int) -> tuple[Any, Any, Any, Any, int]:
    """Model on the device in bf16, optionally fp8-converted and compiled per block; AdamW; random tokens."""
    dev = torch.device(ctx.args.device)
    with dev:
        model = Decoder(ctx.cfg, ctx.args.seq_len).to(torch.bfloat16)
    n_fp8 = convert_fp8(ctx, model, spec.precision) if spec.precision != "bf16" else 0
    if spec.compile:
        for attr in ("cache_size_limit", "recompile_limit"):  # older torch: one recompile per layer instance
            if hasattr(torch._dynamo.config, attr):
                setattr(torch._dynamo.config, attr, max(64, getattr(torch._dynamo.config, attr)))
        for i, layer in enumerate(model.layers):
            model.layers[i] = torch.compile(layer)  # regional: one block's graph, reused by every layer
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=ctx.cuda, foreach=None if ctx.cuda else True)
    data = torch.randint(0, ctx.cfg.vocab, (batch, ctx.args.seq_len + 1), device=dev)
    return model, opt, data[:, :-1].contiguous(), data[:, 1:].contiguous(), n_fp8


def train_step(model: Any, opt: Any, inp: Any, tgt: Any) -> Any:
    logits = model(inp)
    loss = F.cross_entropy(logits.view(-1, logits.shape[-1]).float(), tgt.view(-1))
    loss.backward()
    opt.step()
    opt.zero_grad(set_to_none=True)
    return loss


def timed_steps(ctx: Ctx, model: Any, opt: Any, inp: Any, tgt: Any) -> tuple[float, list[float], list[float]]:
    """(first step s incl. compile, timed step s after warm-up, [first loss, last loss])."""
    losses, times = [], []
    t0 = time.perf_counter()
    losses.append(float(train_step(model, opt, inp, tgt).detach()))
    first = time.perf_counter() - t0
    for _ in range(max(0, ctx.args.warmup - 1)):
        train_step(model, opt, inp, tgt)
    ctx.sync()
    for i in range(ctx.args.steps):
        if i >= 3 and ctx.deadline.left() < ctx.deadline.margin_s + 2 * max(times):
            break
        t0 = time.perf_counter()
        loss = train_step(model, opt, inp, tgt)
        ctx.sync()
        times.append(time.perf_counter() - t0)
    losses.append(float(loss.detach()))
    return first, times, losses


def run_train(ctx: Ctx, name: str) -> None:
    spec, c, seq = parse_config(name), ctx.cfg, ctx.args.seq_len
    if spec.sdpa != "math" and not ctx.cuda:
        raise Skip(f"SDPA {spec.sdpa} on the CPU is not what this measures")
    batch = ctx.args.batch or choose_batch(c, seq, ctx.mem_bytes, spec.sdpa == "math", ctx.args.target_batch)
    if ctx.cuda:
        torch.cuda.reset_peak_memory_stats()
    mem_before = torch.cuda.memory_allocated() if ctx.cuda else None  # the 256 MiB flush buffer, little else
    t_start = time.perf_counter()
    model, opt, inp, tgt, n_fp8 = build_train(ctx, spec, batch)
    mem_built = torch.cuda.memory_allocated() if ctx.cuda else None
    with sdpa_context(spec.sdpa):
        first, times, losses = timed_steps(ctx, model, opt, inp, tgt)
    stats = summarize(times, "step_s")
    flop = step_flop(c, batch, seq)
    row = {"name": name, "status": "ok", "mode": "compile" if spec.compile else "eager", "sdpa": spec.sdpa,
           "precision": spec.precision, "fp8_linears": n_fp8, "batch": batch, "seq_len": seq,
           "tokens_per_step": batch * seq, **stats, "tokens_per_s": batch * seq / stats["step_s_median"],
           "model_flop_per_step": flop, "model_tflop_per_s": flop / stats["step_s_median"] / 1e12,
           "first_step_s": first, "warmup_steps": ctx.args.warmup, "wall_s": time.perf_counter() - t_start,
           "mem_allocated_peak_bytes": torch.cuda.max_memory_allocated() if ctx.cuda else None,
           "mem_reserved_peak_bytes": torch.cuda.max_memory_reserved() if ctx.cuda else None,
           "mem_before_build_bytes": mem_before, "mem_after_build_bytes": mem_built, "mem_estimate_bytes": estimate_memory(c, batch, seq, spec.sdpa == "math"),
           "loss_first": losses[0], "loss_last": losses[-1], "model": c.name, "params": param_count(c),
           **{k: v for k, v in asdict(c).items() if k != "name"}, "head_dim": c.head_dim,
           "param_dtype": "bf16", "optimizer": "AdamW fused" if ctx.cuda else "AdamW foreach",
           "compile_scope": "per block (torch.compile of each layer)" if spec.compile else "",
           "gqa": "kv repeated to all heads", "loss": "cross entropy on fp32 logits"}
    ctx.writer.write("train", row)
    print(f"train {name}: batch {batch}, {stats['step_s_median'] * 1e3:.1f} ms/step, "
          f"{row['tokens_per_s']:,.0f} tok/s, peak {(row['mem_reserved_peak_bytes'] or 0) / 2**30:.1f} GiB reserved",
          flush=True)


def time_kernel(ctx: Ctx, fn: Callable[[], object], flush: bool = True, min_time_s: float = 0.05,
                min_reps: int = 5, max_reps: int = 50, warmup: int = 3) -> list[float]:
    """Seconds per call: CUDA events around each call, an L2 flush (256 MiB written) before it, outside the timing."""
    for _ in range(warmup):
        fn()
    ctx.sync()
    times: list[float] = []
    while len(times) < max_reps and (len(times) < min_reps or sum(times) < min_time_s):
        if flush and ctx.flush_buf is not None:
            ctx.flush_buf.zero_()
        if ctx.cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end) * 1e-3)
        else:
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
    return times


def gemm_fn(ctx: Ctx, m: int, n: int, k: int, dtype: str) -> Callable[[], object]:
    dev, bf16 = ctx.args.device, torch.bfloat16
    a, b = torch.randn(m, k, device=dev, dtype=bf16), torch.randn(n, k, device=dev, dtype=bf16)
    if dtype == "bf16":
        out = torch.empty(m, n, device=dev, dtype=bf16)
        return lambda: torch.mm(a, b.t(), out=out)
    require_fp8(ctx)
    a8, b8 = a.to(torch.float8_e4m3fn), b.to(torch.float8_e4m3fn)  # b8.t() is column-major, as _scaled_mm wants
    if dtype == "fp8_tensorwise":
        sa, sb = torch.ones((), device=dev), torch.ones((), device=dev)
    else:
        sa, sb = torch.ones(m, 1, device=dev), torch.ones(1, n, device=dev)
    return lambda: torch._scaled_mm(a8, b8.t(), scale_a=sa, scale_b=sb, out_dtype=bf16)


def run_gemm(ctx: Ctx) -> None:
    for dtype in GEMM_DTYPES:
        for m, n, k in GEMM_SHAPES:
            row: dict[str, Any] = {"name": f"gemm-{dtype}-{m}x{n}x{k}", "kernel": "mm" if dtype == "bf16" else
                                   "_scaled_mm", "dtype": dtype, "m": m, "n": n, "k": k, "flop": 2.0 * m * n * k}
            if ctx.deadline.left() < ctx.deadline.margin_s + 5:
                ctx.writer.write("gemm", {**row, "status": "skipped", "reason": "deadline"})
                continue
            try:
                stats = summarize(time_kernel(ctx, gemm_fn(ctx, m, n, k, dtype)))
            except Exception as exc:  # noqa: BLE001 - e.g. rowwise scaling unsupported by this torch
                ctx.writer.write("gemm", {**row, "status": "skipped" if isinstance(exc, Skip) else "error",
                                          "reason": f"{type(exc).__name__}: {exc}"[:400]})
                continue
            ctx.writer.write("gemm", {**row, "status": "ok", **stats,
                                      "tflop_per_s": row["flop"] / stats["time_s_median"] / 1e12})


def attention_row(ctx: Ctx, backend: str, seq: int) -> dict[str, Any]:
    batch = max(1, ATTN_TOKENS // seq)
    shape = (batch, ATTN_HEADS, seq, ATTN_HEAD_DIM)
    q, k, v = (torch.randn(shape, device=ctx.args.device, dtype=torch.bfloat16, requires_grad=True) for _ in range(3))
    do = torch.randn(shape, device=ctx.args.device, dtype=torch.bfloat16)

    def fwd() -> Any:
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)

    with sdpa_context(backend):
        f = summarize(time_kernel(ctx, fwd, flush=False), "fwd_s")
        fb = summarize(time_kernel(ctx, lambda: torch.autograd.grad(fwd(), (q, k, v), do), flush=False), "fwd_bwd_s")
    flop_fwd = 4.0 * batch * ATTN_HEADS * seq * seq * ATTN_HEAD_DIM / 2  # causal
    return {"status": "ok", "batch": batch, **f, **fb, "flop_fwd": flop_fwd, "flop_fwd_bwd": 3.5 * flop_fwd,
            "fwd_tflop_per_s": flop_fwd / f["fwd_s_median"] / 1e12,
            "fwd_bwd_tflop_per_s": 3.5 * flop_fwd / fb["fwd_bwd_s_median"] / 1e12}


def run_attention(ctx: Ctx) -> None:
    for backend in ("flash", "cudnn"):
        for seq in ATTN_SEQS:
            row = {"name": f"sdpa-{backend}-s{seq}", "backend": backend, "seq_len": seq, "heads": ATTN_HEADS,
                   "head_dim": ATTN_HEAD_DIM, "causal": 1, "dtype": "bf16", "tokens": ATTN_TOKENS}
            if ctx.deadline.left() < ctx.deadline.margin_s + 5:
                ctx.writer.write("attention", {**row, "status": "skipped", "reason": "deadline"})
                continue
            try:
                row.update(attention_row(ctx, backend, seq))
            except Exception as exc:  # noqa: BLE001 - a backend that does not run here is a row, not a stop
                row.update(status="skipped" if isinstance(exc, Skip) else "error",
                           reason=f"{type(exc).__name__}: {exc}"[:400])
            ctx.writer.write("attention", row)
            gc.collect()


def elementwise_fn(kernel: str, tokens: int, hidden: int, dev: str) -> Callable[[], object]:
    x, y = (torch.randn(tokens, hidden, device=dev, dtype=torch.bfloat16) for _ in range(2))
    out = torch.empty_like(x)
    norm = RMSNorm(hidden).to(dev, torch.bfloat16)
    fns: dict[str, Callable[[], object]] = {
        "copy": lambda: out.copy_(x), "residual_add": lambda: torch.add(x, y, out=out),
        "silu_mul": lambda: torch.mul(F.silu(x), y, out=out), "rmsnorm": lambda: norm(x)}
    if kernel == "rmsnorm_compiled":
        compiled = torch.compile(norm, dynamic=False)
        return lambda: compiled(x)
    return fns[kernel]


def run_elementwise(ctx: Ctx) -> None:
    for tokens, hidden in ELEMENTWISE_SHAPES:
        for kernel, passes in ELEMENTWISE_BYTES.items():
            nbytes = passes * tokens * hidden * 2
            row = {"name": f"{kernel}-{tokens}x{hidden}", "kernel": kernel, "tokens": tokens, "hidden": hidden,
                   "dtype": "bf16", "bytes": nbytes, "impl": "torch.compile" if "compiled" in kernel else "eager"}
            need = 20 if "compiled" in kernel else 3
            if ctx.deadline.left() < ctx.deadline.margin_s + need or ("compiled" in kernel and not ctx.cuda):
                ctx.writer.write("elementwise", {**row, "status": "skipped", "reason": "deadline or no GPU"})
                continue
            try:
                stats = summarize(time_kernel(ctx, elementwise_fn(kernel, tokens, hidden, ctx.args.device)))
            except Exception as exc:  # noqa: BLE001
                ctx.writer.write("elementwise", {**row, "status": "error", "reason": f"{type(exc).__name__}: {exc}"[:400]})
                continue
            ctx.writer.write("elementwise", {**row, "status": "ok", **stats,
                                             "gb_per_s": nbytes / stats["time_s_median"] / 1e9})


# ---------------------------------------------------------------- driver
def cleanup(ctx: Ctx) -> None:
    """Between tasks: free the last model and compiled graphs so each task's peak memory is its own."""
    gc.collect()
    if hasattr(torch, "_dynamo"):
        torch._dynamo.reset()
    if ctx.cuda:
        torch.cuda.synchronize()
        torch.cuda.empty_cache()


def make_tasks(ctx: Ctx, plan: list[PlanItem]) -> list[Task]:
    sweeps = {"gemm": run_gemm, "attention": run_attention, "elementwise": run_elementwise}

    def task(item: PlanItem) -> Task:
        if item.part == "train":
            return Task(item.name, "train", item.kind, item.est_s, lambda: run_train(ctx, item.name))
        return Task(item.name, item.part, item.kind, item.est_s, lambda: sweeps[item.part](ctx))

    return [task(item) for item in plan]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--out", help="folder for results.jsonl, <part>.csv, env.json, summary.json (required to measure)")
    p.add_argument("--deadline-s", type=float, default=280.0, help="global wall budget; tasks that would overrun it "
                   "are skipped with a row saying so (default 280)")
    p.add_argument("--model", default="1b", choices=sorted(MODELS), help="decoder size (default 1b: ~0.85B params)")
    p.add_argument("--seq-len", type=int, default=2048)
    p.add_argument("--batch", type=int, default=0, help="sequences per step (default: --target-batch, lowered "
                   "per config until the memory estimate fits 70%% of the GPU)")
    p.add_argument("--target-batch", type=int, default=4)
    p.add_argument("--steps", type=int, default=10, help="timed steps per config (default 10)")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first, compilation included (default 3)")
    p.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated subset of {','.join(PARTS)}")
    p.add_argument("--configs", default=",".join(TRAIN_CONFIGS),
                   help="comma-separated train configs mode-sdpa-precision, in the order to run them")
    p.add_argument("--device", default="cuda", choices=["cuda", "cpu"], help="cpu only to test the script")
    p.add_argument("--plan", action="store_true", help="print the tasks and sizing as JSON and exit (no torch)")
    p.add_argument("--gpu-mem-gib", type=float, default=80.0, help="device memory --plan sizes the batch for")
    a = p.parse_args(argv)
    a.parts = tuple(x for x in a.parts.split(",") if x)
    a.configs = tuple(x for x in a.configs.split(",") if x)
    bad = [x for x in a.parts if x not in PARTS]
    try:
        for name in a.configs:
            parse_config(name)
    except ValueError as exc:
        p.error(str(exc))
    if min(a.steps, a.seq_len, a.target_batch) < 1 or a.warmup < 0 or a.batch < 0:
        p.error("--steps, --seq-len and --target-batch must be at least 1, --warmup and --batch at least 0")
    if bad:
        p.error(f"--parts {','.join(bad)}: choose from {','.join(PARTS)}")
    if not a.plan and not a.out:
        p.error("--out is required (or --plan)")
    return a


def plan_summary(a: argparse.Namespace, mem_bytes: float) -> dict[str, Any]:
    c = MODELS[a.model]
    plan = build_plan(a.parts, a.configs)
    batches = {s: a.batch or choose_batch(c, a.seq_len, mem_bytes, s == "math", a.target_batch) for s in ("flash", "math")}
    return {"model": asdict(c), "params": param_count(c), "seq_len": a.seq_len, "mem_bytes": mem_bytes,
            "batch": batches, "mem_estimate_bytes": {s: estimate_memory(c, b, a.seq_len, s == "math")
                                                     for s, b in batches.items()},
            "deadline_s": a.deadline_s, "tasks": [asdict(x) for x in plan],
            "estimated_total_s": sum(x.est_s for x in plan)}


def write_note(out: str, status: str, reason: str) -> None:
    note = {"status": status, "reason": reason, "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")}
    Path(out).mkdir(parents=True, exist_ok=True)
    (Path(out) / "note.json").write_text(json.dumps(note) + "\n", encoding="utf-8")
    print(json.dumps(note))


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    if a.plan:
        print(json.dumps(plan_summary(a, a.gpu_mem_gib * 2**30), indent=2))
        return 0
    deadline = Deadline(a.deadline_s)
    if torch is None:
        write_note(a.out, "skipped", f"torch is not importable here ({TORCH_ERROR}); nothing measured")
        return 0
    if a.device == "cuda" and not torch.cuda.is_available():
        write_note(a.out, "skipped", f"torch {torch.__version__} sees no CUDA GPU; nothing measured")
        return 0
    env = collect_env(a.device)
    writer = ResultWriter(a.out, env)
    mem = float(env["gpu_memory_bytes"]) if a.device == "cuda" else 8 * 2**30
    ctx = Ctx(a, deadline, writer, MODELS[a.model], mem)
    if ctx.cuda:
        torch.backends.cuda.matmul.allow_tf32 = True
        ctx.flush_buf = torch.empty(FLUSH_BYTES // 4, dtype=torch.float32, device="cuda")
    run_tasks(make_tasks(ctx, build_plan(a.parts, a.configs)), deadline, writer, lambda: cleanup(ctx), hard=True)
    date = env["date"][:10]
    summary = {"status": "done", "wall_s": round(deadline.elapsed(), 1), "rows": writer.counts(),
               "observed_task_s": deadline.observed, "plan": plan_summary(a, mem),
               "commit_to": f"hardware_profiles/measurements/{gpu_slug(str(env['gpu']))}-{date}/", "env": env}
    (Path(a.out) / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n", encoding="utf-8")
    print(json.dumps({k: summary[k] for k in ("status", "wall_s", "rows", "commit_to")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
