"""Launch settings for a serving deployment, as text to copy: the command line (and options file) of vLLM,
TensorRT-LLM's trtllm-serve or SGLang that realises a Deployment. The strings come from workloads/launchers.yaml (the
release each was checked against); the shared rendering is simulator.api.launch's. What an engine cannot express
becomes a `# note:` line, never a guessed flag."""

from __future__ import annotations

import math
import shlex
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from simulator.api.launch import INDENT, Setting, chosen_formats, cli_words, comment_lines, flag_of, unsupported
from simulator.catalog import load_hardware, load_model
from simulator.catalog.launchers import Framework, launchers_file
from simulator.core.hardware import Accelerator
from simulator.core.inference import Deployment
from simulator.core.inference.static import replica_memory_plan
from simulator.core.model import TransformerSpec
from simulator.errors import PlanError


@dataclass(frozen=True)
class _Replica:
    """One replica's deployment with its model and hardware, and how many run."""

    model: TransformerSpec
    hw: Accelerator
    dep: Deployment
    max_model_len: int | None
    replicas: int
    disaggregated: bool

    def notes(self, fw: Framework | None = None) -> list[str]:
        out = [f"{self.replicas} replicas: run one instance per replica, each on its own {self.dep.gpus} GPU(s), "
               "behind a load balancer"] if self.replicas > 1 else []
        out += (["note: prefill/decode disaggregation is not generated: each prefill and each decode instance "
                 "runs this command, joined by the engine's own disaggregation setup"] if self.disaggregated else [])
        spec, ver = self.dep.speculative, f"{self.dep.profile.name} {self.dep.profile.version}"
        out += [f"note: speculative decoding ({spec.label()}) is not generated: add its own settings"] if spec else []
        chosen = fw is not None and "@" in self.dep.engine_ref  # a version the user chose: the release the flags fit
        return out + [f"note: the deployment runs {ver}; these flags were checked against {fw and fw.version}"] * chosen


def _replica(deployment: Any, model: Any, hardware: Any, max_model_len: int | None, replicas: int,
             disaggregated: bool) -> _Replica:
    if isinstance(deployment, Deployment):
        if model is None or hardware is None:
            raise PlanError("serving_launch of a Deployment needs model= and hardware=")
        dep = deployment
    else:
        rec = dict(getattr(deployment, "record", deployment))
        if "model" not in rec and model is None or "hardware" not in rec and hardware is None:
            raise PlanError("not an inference record (infer output): it names no model or hardware")
        dep = Deployment(**{k: rec[k] for k in ("tp", "pp", "ep", "dp_attention", "precision", "kv_precision", "engine",
                                                "max_seqs", "max_batched_tokens") if rec.get(k) is not None})
        model, hardware = model if model is not None else rec["model"], hardware if hardware is not None else rec["hardware"]
        if max_model_len is None and "input_len" in rec and "output_len" in rec:
            max_model_len = int(rec["input_len"]) + int(rec["output_len"])
    if replicas < 1:
        raise PlanError(f"replicas must be a positive whole number, got {replicas!r}")
    return _Replica(load_model(model), load_hardware(hardware), dep, max_model_len, int(replicas), disaggregated)


def _memory_fraction(r: _Replica, fw: Framework) -> float:
    """The engine's memory share in the framework's sense: the profile's fraction where the senses agree, else the share
    giving the planner's KV budget (total: weights + workspace + KV of HBM; static: weights + KV; free: KV of the rest)."""
    prof = r.dep.profile
    if fw.memory_mode == prof.kv_memory_mode:
        return prof.gpu_memory_utilization
    mp = replica_memory_plan(r.model, r.hw, r.dep)
    weights, work, kv = mp.weights_bytes_per_gpu, mp.workspace_bytes_per_gpu, max(mp.kv_budget_bytes_per_gpu, 0.0)
    share = {"total": (weights + work + kv) / r.hw.hbm_bytes, "static": (weights + kv) / r.hw.hbm_bytes,
             "free": kv / max(r.hw.usable_memory_bytes - weights - work, 1.0)}[fw.memory_mode or "total"]
    return max(math.floor(share * 1000) / 1000, 0.001)


def _serving_settings(r: _Replica, fw: Framework, notes: list[str]) -> list[Setting]:
    dep, vals, prof = r.dep, fw.values, r.dep.profile
    s: list[Setting] = [("backend", vals["backend"])] if "backend" in fw.flags else []
    s += [("tp", dep.tp), ("pp", dep.pp)]
    if dep.ep > 1 and "expert_parallel" in fw.flags and dep.ep != dep.tp:
        notes.append("note: " + vals["expert_parallel_note"].format(ep=dep.ep, tp=dep.tp))
    elif dep.ep > 1:
        s.append(("expert_parallel", True) if "expert_parallel" in fw.flags else ("ep", dep.ep))
    if dep.dp_attention > 1 and "attention_dp_single" in vals and dep.attn_tp > 1:
        notes.append("note: " + vals["attention_dp_single"].format(dp=dep.dp_attention, attn_tp=dep.attn_tp))
    elif dep.dp_attention > 1:  # the engine's attention-DP settings; TP is each group's GPUs where the engine says so
        s.append(("attention_dp", True if flag_of(fw, "attention_dp").type == "bool" else dep.dp_attention))
        s += [("attention_dp_switch", True)] if "attention_dp_switch" in fw.flags else []
        s = [("tp", dep.attn_tp) if k == "tp" and vals["attention_dp_tp"] == "group" else (k, v) for k, v in s]
        notes.append("note: " + vals["attention_dp_note"].format(dp=dep.dp_attention, attn_tp=dep.attn_tp))
    precision = vals["precision"][dep.precision]
    if isinstance(precision, str):
        notes.append("note: " + precision)
    else:
        s += list(precision.items())
    kv = vals["kv_cache_dtype"].get(dep.kv_precision)
    if kv is None:
        notes.append("note: " + vals["kv_missing"].format(kv=dep.kv_precision))
    s += [("kv_cache_dtype", kv), ("max_model_len", r.max_model_len), ("max_num_seqs", dep.engine_seq_cap),
          ("max_num_batched_tokens", dep.engine_token_cap if prof.chunked_prefill or "no_chunking" not in vals
           else vals["no_chunking"]), ("memory_fraction", _memory_fraction(r, fw))]
    if "block_size" in fw.flags:
        s.append(("block_size", prof.block_size_tokens))
    if "chunked_prefill" in fw.flags:
        s.append(("chunked_prefill", prof.chunked_prefill))
    return s


def _options_yaml(fw: Framework, settings: list[Setting]) -> list[str]:
    """YAML lines of an engine's options file: each setting under its key, a dotted key as a table and its key."""
    tables: dict[str, list[str]] = {}
    for name, value in settings:
        table, _, key = flag_of(fw, name).flag.rpartition(".")
        text = str(value).lower() if isinstance(value, bool) else value  # YAML's true / false
        tables.setdefault(table, []).append(f"{'  ' if table else ''}{key}: {text}")
    return [line for table, rows in tables.items() for line in ([f"{table}:"] if table else []) + rows]


def _serving(r: _Replica, fw: Framework) -> str:
    notes = r.notes(fw)
    s = _serving_settings(r, fw, notes)
    ckpt = launchers_file().checkpoints
    repo = ckpt.repos.get(r.model.id)
    if repo is None:
        repo = ckpt.missing.format(model=r.model.id)
        notes.append(f"note: no public checkpoint of {r.model.id} is known; give the path of yours")
    pre: list[str] = []
    if fw.extra_options_file:  # settings without a command-line flag go in the options file the command names
        on_line = {k: flag_of(fw, k).flag.startswith("-") for k, _ in s}
        lines = _options_yaml(fw, [(k, v) for k, v in s if not on_line[k] and v not in (None, "auto")])  # auto: default
        s = [(k, v) for k, v in s if on_line[k]]
        if lines:
            pre = [f"cat > {fw.extra_options_file} <<'EOF'", *lines, "EOF"]
            s.append(("extra_options", fw.extra_options_file))
    words = [fw.command or ""]
    if "model" in fw.flags:
        s.insert(0, ("model", repo))
    else:
        words.append(shlex.quote(repo))
    title = f"{r.model.id} on {r.dep.gpus} x {r.hw.id} per replica, {r.dep.label()}"
    return "\n".join(comment_lines(fw, title, notes) + pre + [INDENT.join([" ".join(words), *cli_words(fw, s)])])


def serving_launch(deployment: Any, *, model: Any = None, hardware: Any = None, formats: Iterable[str] | None = None,
                   max_model_len: int | None = None, replicas: int = 1, disaggregated: bool = False) -> dict[str, str]:
    """Launch settings (format -> text) for a Deployment with `model` and `hardware`, or an `estimate_inference` record
    (input + output length: the default `max_model_len`). By default the formats listed for the engine's family@version,
    else its family's (vLLM, trtllm-serve; SGLang on request), or {"unsupported": one line saying so}."""
    r, lf = _replica(deployment, model, hardware, max_model_len, replicas, disaggregated), launchers_file()
    ref = r.dep.engine_ref
    names = chosen_formats(formats, lf.serving_engines.get(ref, lf.serving_engines.get(ref.split("@")[0])), "serving")
    if not names:
        return unsupported(f"{r.dep.engine_ref} engine", lf.serving_engines)
    return {n: _serving(r, lf.frameworks[n]) for n in names}
