"""Launch settings for a chosen plan, as text to copy: the command line or config that realises a training plan
(Megatron-LM, NeMo 2.0, torchtitan) or a serving deployment (vLLM, TensorRT-LLM, SGLang). Every framework-specific
string is read from workloads/launchers.yaml, which names the release each was checked against; this module decides
which settings a plan needs and converts each value to the framework's unit at the edge (`_in_unit`). What a framework
cannot express becomes a `# note:` line, never a guessed flag."""

from __future__ import annotations

import json
import math
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from simulator.catalog import load_hardware, load_model, load_stack
from simulator.catalog.launchers import Framework, launchers_file
from simulator.core.inference import context_limit_tokens
from simulator.core.model import TransformerSpec
from simulator.errors import DataFileError, PlanError, SimulatorError

Setting = tuple[str, Any]  # (a setting named in the framework's `flags`, its value in the planner's units)
INDENT = " \\\n    "


def _in_unit(value: Any, unit: str | None, name: str) -> Any:
    """The planner's value in the framework's unit: a fraction in (0, 1], a whole number of tokens or sequences."""
    if unit == "fraction" and not 0.0 < float(value) <= 1.0:
        raise PlanError(f"{name} = {value!r} is not a fraction in (0, 1]")
    if unit in ("tokens", "sequences") and float(value) != int(value):
        raise PlanError(f"{name} = {value!r} is not a whole number of {unit}")
    return float(value) if unit == "fraction" else int(value) if unit else value


def flag_of(fw: Framework, name: str) -> Any:
    try:
        return fw.flags[name]
    except KeyError:
        raise DataFileError(f"workloads/launchers.yaml: framework {fw.name!r} has no flag for setting {name!r}") from None


def _literal(value: Any, kind: str, syntax: str) -> str:
    """A value written as the syntax wants it: Python literals, TOML values or command-line words."""
    if syntax == "python":
        return repr(value)
    if syntax == "toml":  # JSON's strings, lists and true/false are TOML's
        return json.dumps(value) if isinstance(value, bool | str | list) else str(value)
    if kind == "float":
        return f"{value:g}"
    if isinstance(value, str) and not value.startswith('"$'):  # a shell variable stays expandable
        return shlex.quote(value)
    return str(value)


def cli_words(fw: Framework, settings: Iterable[Setting]) -> list[str]:
    """Command-line words: `--flag value`, a switch alone when on, nothing for a value left out (None)."""
    flags = [(name, value, flag_of(fw, name)) for name, value in settings if value is not None]
    return [f.flag if f.type == "switch" else f"{f.flag} {_literal(_in_unit(value, f.unit, name), f.type, 'cli')}"
            for name, value, f in flags if f.type != "switch" or value]


def _assignments(fw: Framework, settings: Iterable[Setting]) -> list[tuple[str, str]]:
    """(attribute path or section.key, literal) of each setting, for the python and toml syntaxes."""
    flags = [(name, value, flag_of(fw, name)) for name, value in settings if value is not None]
    return [(f.flag, _literal(_in_unit(value, f.unit, name), f.type, fw.syntax)) for name, value, f in flags]


def _toml(fw: Framework, settings: Iterable[Setting]) -> str:
    """TOML tables in the order their first key appears."""
    tables: dict[str, list[str]] = {}
    for path, literal in _assignments(fw, settings):
        table, _, key = path.rpartition(".")
        tables.setdefault(table, []).append(f"{key} = {literal}")
    return "\n\n".join(f"[{t}]\n" + "\n".join(lines) for t, lines in tables.items())


def comment_lines(fw: Framework, title: str, lines: Iterable[str]) -> list[str]:
    """The header: what this is and for which plan, the release the flags were checked against, then notes."""
    head = [f"# {fw.name}, {fw.version}: {title}", f"# flags checked against {fw.checked_against[0]}"]
    return head + [f"# {line}" for line in lines if line]


@dataclass(frozen=True)
class _Plan:
    """A training record with the model, the node size and the engine options the record does not carry."""

    rec: dict[str, Any]
    model: TransformerSpec
    per_node: int
    tp_comm_overlap: bool
    dp_overlap: bool
    grad_reduce_bf16: bool
    dropout: bool
    train_tokens: float | None

    @property
    def nodes(self) -> int:
        return math.ceil(int(self.rec["gpus"]) / self.per_node)

    @property
    def tp_overlap(self) -> bool:  # TP communication overlap needs sequence parallelism over tp > 1
        return self.tp_comm_overlap and bool(self.rec.get("sequence_parallel")) and self.rec["tp"] > 1

    def title(self) -> str:
        r = self.rec
        vpp = f"x{r['vpp']}" if r.get("vpp", 1) > 1 else ""
        return (f"{r['model']} on {r['gpus']} x {r['hardware']}, tp{r['tp']} pp{r['pp']}{vpp} dp{r['dp']} cp{r['cp']} "
                f"ep{r['ep']}, micro-batch {r['micro_batch']}, global batch {r['global_batch']}, seq {r['seq_len']}, "
                f"ZeRO-{r['zero']}, {r['recompute']} recompute, {r['precision']}")

    def notes(self, torchrun: bool = True) -> list[str]:
        """How torchrun runs it on several nodes, and whether the plan fits (the planner's word) and fills its nodes."""
        note = launchers_file().frameworks["torchrun"].values["multi_node_note"]
        out = [note.format(nodes=self.nodes, last=self.nodes - 1)] if self.nodes > 1 and torchrun else []
        if not self.rec.get("feasible", True):
            out.append(f"note: the planner found this plan does not fit: {self.rec.get('reason')}")
        if int(self.rec["gpus"]) % self.per_node:
            out.append(f"note: {self.rec['gpus']} GPUs do not fill {self.nodes} nodes of {self.per_node}")
        return out


def _plan(record: Any, model: Any, hardware: Any, tp_comm_overlap: bool | None, dp_overlap: bool,
          grad_reduce_fp32: bool | None, dropout: bool | None, train_tokens: float | None) -> _Plan:
    rec = dict(record)
    if missing := [k for k in ("model", "hardware", "gpus", "tp", "pp", "dp", "cp", "ep", "micro_batch",
                                "global_batch", "seq_len", "zero", "recompute", "precision") if k not in rec]:
        raise PlanError(f"not a training plan record (train/plan output): missing {', '.join(missing)}")
    rec.setdefault("vpp", 1)
    m = load_model(model if model is not None else rec["model"])
    hw = load_hardware(hardware if hardware is not None else rec["hardware"])
    try:
        st = load_stack(rec.get("stack"))
        tp_default, fp32_default = st.tp_comm_overlap, st.grad_reduce_fp32
    except SimulatorError:  # a stack file that is not at hand: the engine defaults of the idealised stack
        tp_default, fp32_default = False, True
    return _Plan(rec, m, min(int(rec["gpus"]), hw.gpus_per_node),
                 tp_default if tp_comm_overlap is None else tp_comm_overlap, dp_overlap,
                 not (fp32_default if grad_reduce_fp32 is None else grad_reduce_fp32),
                 m.dropout if dropout is None else dropout, train_tokens)


def uneven_split(layers: int, pp: int, vpp: int) -> tuple[int, int] | None:
    """Layers on the first and last pipeline stage when `pp` stages of `vpp` chunks cannot hold equal counts: the
    middle stages hold the planner's heaviest stage (ceil(layers / (pp vpp)) layers per chunk) or a chunk less, the
    ends the rest, each a multiple of vpp (Megatron's and NeMo's rule); None when no such split exists."""
    heaviest = math.ceil(layers / (pp * vpp)) * vpp
    for middle in range(heaviest, 0, -vpp):
        rest = layers - (pp - 2) * middle
        first = (rest // 2) // vpp * vpp
        if pp >= 2 and rest > 0 and first >= vpp and rest - first >= vpp and max(first, rest - first) <= heaviest \
                and (rest - first) % vpp == 0:
            return first, rest - first
    return None


def _stages(p: _Plan, vpp_name: str, notes: list[str], even_vpp: Setting | None) -> list[Setting]:
    """The pipeline settings Megatron and NeMo share: stage counts, virtual stages, unequal first/last stages."""
    r, layers = p.rec, p.model.n_layers
    out: list[Setting] = [("tp", r["tp"]), ("pp", r["pp"])]
    if r["pp"] > 1 and layers % (r["pp"] * r["vpp"]):
        split = uneven_split(layers, r["pp"], r["vpp"])
        if split is None:
            notes.append(f"note: {layers} layers on {r['pp']} stages x {r['vpp']} chunks have no first/last-stage split "
                         "this framework accepts; give the layout yourself")
        else:
            out += [("first_stage_layers", split[0]), ("last_stage_layers", split[1])]
        if r["vpp"] > 1:
            out.append((vpp_name, r["vpp"]))
    elif r["vpp"] > 1 and even_vpp is not None:
        out.append(even_vpp)
    return out + [("cp", r["cp"]), ("ep", r["ep"]), ("sequence_parallel", bool(r.get("sequence_parallel")) and r["tp"] > 1)]


def _mapped(values: Mapping[Any, Any], key: Any, what: str, fw: Framework, notes: list[str]) -> list[Setting]:
    """The settings a value map gives for a planner value; a note when the framework has no spelling for it."""
    if key in values:
        return list(values[key].items())
    notes.append(f"note: {fw.name} has no setting for {what} {key!r}; not generated")
    return []


def _megatron_model(m: TransformerSpec, dropout: bool, fw: Framework) -> list[Setting]:
    """The architecture flags the planner's numbers depend on."""
    s: list[Setting] = [("num_layers", m.n_layers), ("hidden_size", m.d_model), ("ffn_hidden_size", m.d_ff),
                        ("num_attention_heads", m.n_heads)]
    if m.mla is not None:
        s += [("mla", True), ("q_lora_rank", m.mla.q_lora_rank), ("kv_lora_rank", m.mla.kv_lora_rank),
              ("qk_head_dim", m.mla.qk_nope_head_dim), ("qk_pos_emb_head_dim", m.mla.qk_rope_head_dim),
              ("v_head_dim", m.mla.v_head_dim)]
    else:
        if m.n_kv_heads < m.n_heads:
            s += [("group_query_attention", True), ("num_query_groups", m.n_kv_heads)]
        if m.head_dim * m.n_heads != m.d_model:
            s.append(("kv_channels", m.head_dim))
    s += [("swiglu", m.gated), ("untie_embeddings", not m.tied_embeddings)]
    if not dropout:
        s += [("attention_dropout", 0.0), ("hidden_dropout", 0.0)]
    if m.moe is not None:
        s += [("num_experts", m.moe.n_experts), ("moe_topk", m.moe.top_k), ("moe_ffn_hidden_size", m.moe.d_ff_expert)]
        if m.moe.n_shared_experts:
            s.append(("moe_shared_expert_size", m.moe.n_shared_experts * m.moe.d_ff_expert))
        if m.moe.first_dense_layers:
            freq = fw.values["moe_layer_freq"].format(dense=m.moe.first_dense_layers,
                                                      moe=m.n_layers - m.moe.first_dense_layers)
            s.append(("moe_layer_freq", freq))
    return s


def _megatron_engine(p: _Plan, fw: Framework, notes: list[str]) -> list[Setting]:
    """Recompute, optimizer sharding, overlaps and precision."""
    r, vals = p.rec, fw.values
    s = [] if r["recompute"] == "none" else _mapped(vals["recompute"], r["recompute"], "recompute", fw, notes)
    s += [] if r["zero"] == 0 else _mapped(vals["zero"], r["zero"], "ZeRO stage", fw, notes)
    sharded = any(name in ("distributed_optimizer", "megatron_fsdp") for name, _ in s)
    s += [("overlap_grad_reduce", p.dp_overlap), ("overlap_param_gather", p.dp_overlap and sharded)]
    notes += ["note: TP communication overlap needs sequence parallelism (tp > 1); not generated"
              ] if p.tp_comm_overlap and not p.tp_overlap else []
    s += [("tp_comm_overlap", p.tp_overlap), ("grad_reduce_bf16", p.grad_reduce_bf16)]
    if r["precision"] == "fp16":
        return s + [("fp16", True)]
    s.append(("bf16", True))
    if r["precision"] == "fp8":
        recipe = vals["fp8_recipe"].get(r.get("fp8_recipe"))
        if recipe is None:
            notes.append(f"note: Megatron has no fp8 recipe for {r.get('fp8_recipe')!r}; its default is used")
        s += [("fp8_format", vals["fp8_format"]), ("fp8_recipe", recipe)]
    return s


def _torchrun(p: _Plan, tail: list[str]) -> str:
    fw = launchers_file().frameworks["torchrun"]
    s: list[Setting] = [("nnodes", p.nodes), ("nproc_per_node", p.per_node)]
    if p.nodes > 1:
        s += [(k, fw.values[k]) for k in ("node_rank", "master_addr", "master_port")]
    return " ".join([fw.command or "torchrun", *cli_words(fw, s), *tail])


def _megatron(p: _Plan, fw: Framework) -> str:
    r, notes = p.rec, p.notes()
    s = _stages(p, "vpp_stages", notes, ("vpp_layers", p.model.n_layers // (r["pp"] * r["vpp"])))
    s += [("micro_batch", r["micro_batch"]), ("global_batch", r["global_batch"]), ("seq_len", r["seq_len"]),
          ("max_position_embeddings", max(int(r["seq_len"]), context_limit_tokens(p.model) or 0))]
    if p.train_tokens:
        s.append(("train_samples", math.ceil(p.train_tokens / r["seq_len"])))
    s += _megatron_model(p.model, p.dropout, fw) + _megatron_engine(p, fw, notes)
    env = [] if dict(s).get("megatron_fsdp") else [f"export {k}={v}" for k, v in fw.env.items()]
    return "\n".join(comment_lines(fw, p.title(), [fw.header or "", *notes]) + env
                     + [INDENT.join([_torchrun(p, [fw.command or ""]), *cli_words(fw, s)])])


def _nemo(p: _Plan, fw: Framework) -> str:
    r, vals, notes = p.rec, fw.values, p.notes(torchrun=False)
    recipe = vals["recipes"].get(p.model.id)
    if recipe is None:
        notes.append("note: " + vals["no_recipe"].format(model=p.model.id))
    s = _stages(p, "vpp", notes, ("vpp", r["vpp"]))
    s += [("micro_batch", r["micro_batch"]), ("global_batch", r["global_batch"]), ("seq_len", r["seq_len"]),
          ("model_seq_len", r["seq_len"])]
    s += [] if r["recompute"] == "none" else _mapped(vals["recompute"], r["recompute"], "recompute", fw, notes)
    s += _mapped(vals["zero"], r["zero"], "ZeRO stage", fw, notes)
    if p.grad_reduce_bf16:
        notes.append("note: " + vals["grad_reduce_bf16_note"])
    plugin = vals["plugins"].get(r.get("fp8_recipe") if r["precision"] == "fp8" else r["precision"])
    if plugin is None:
        notes.append(f"note: NeMo has no precision plugin for {r['precision']} {r.get('fp8_recipe') or ''}; the "
                     "recipe's is kept")
    fmt = {"recipe": recipe or "<recipe>", "plugin": plugin or "bf16_mixed", "nodes": p.nodes,
           "per_node": p.per_node, "name": f"{p.model.id}-tp{r['tp']}-pp{r['pp']}-dp{r['dp']}",
           "tp_comm_overlap": p.tp_overlap,
           "overlap_grad_reduce": p.dp_overlap, "overlap_param_gather": p.dp_overlap and r["zero"] > 0}
    body = [fw.recipe_call or "", *(f"recipe.{path} = {lit}" for path, lit in _assignments(fw, s)),
            fw.plugin if plugin else "", fw.callback or "", fw.run or "", fw.multi_node_run if p.nodes > 1 else ""]
    return "\n".join(comment_lines(fw, p.title(), [fw.header or "", *notes]) + [line.format(**fmt) for line in fw.imports]
                     + [""] + [b.format(**fmt) for b in body if b])


def _fsdp_degrees(r: dict[str, Any], fw: Framework, notes: list[str]) -> tuple[int, int]:
    """torchtitan's (data_parallel_shard_degree, data_parallel_replicate_degree): FSDP shards over dp_shard x cp,
    so the planner's shard group of dp x cp ranks (or fewer: HSDP) is divided by cp."""
    dp, cp = int(r["dp"]), int(r["cp"])
    if r["zero"] == 0:
        return 1, dp
    if r["zero"] != 3:
        notes.append("note: " + fw.values["zero_note"].format(zero=r["zero"]))
    group = int(r.get("fsdp_shard") or dp * cp)
    if group % cp or dp % (group // cp):
        notes.append(f"note: a shard group of {group} ranks is not a multiple of cp {cp} dividing dp {dp}; full FSDP "
                     "written instead")
        return dp, 1
    return group // cp, dp // (group // cp)


def _torchtitan_pipeline(p: _Plan, fw: Framework, notes: list[str]) -> list[Setting]:
    """Schedule, micro-batch and the layers per (virtual) stage that give the plan's stages per rank."""
    r, vals, layers = p.rec, fw.values, p.model.n_layers
    sched = vals["schedules"].get(r.get("pp_schedule") or "1f1b")
    if sched is None:
        notes.append(f"note: torchtitan has no schedule for {r.get('pp_schedule')!r}; its default is used")
    per_rank = vals["stages_per_rank"].get(sched, r["vpp"])
    if per_rank != r["vpp"]:
        notes.append(f"note: {sched} runs {per_rank} stages per pipeline rank (the plan has {r['vpp']})")
    stages = r["pp"] * per_rank
    per_stage = math.ceil(layers / stages)
    s: list[Setting] = [("pp_schedule", sched), ("pp_microbatch", r["micro_batch"])]
    if math.ceil(layers / per_stage) == stages:
        return s + [("pp_layers_per_stage", per_stage), ("pp_first_less", 0), ("pp_last_less", 0)]
    notes.append(f"note: {layers} layers cannot fill {stages} stages of equal size; torchtitan splits them itself")
    return s


def _torchtitan(p: _Plan, fw: Framework) -> str:
    r, vals, notes = p.rec, fw.values, p.notes()
    name, flavor = vals["flavors"].get(p.model.id, ("<model-name>", "<flavor>"))
    if p.model.id not in vals["flavors"]:
        notes.append("note: " + vals["no_flavor"].format(model=p.model.id))
    fp8 = r["precision"] == "fp8"
    local = r["global_batch"] // r["dp"] if r["pp"] > 1 else r["micro_batch"]  # pp: micro-batches within a step
    shard, replicate = _fsdp_degrees(r, fw, notes)
    s: list[Setting] = [("model_name", name), ("model_flavor", flavor),
                        ("converters", [vals["float8_converter"]] if fp8 else None),
                        ("local_batch", local), ("global_batch", r["global_batch"]), ("seq_len", r["seq_len"]),
                        ("dp_replicate", replicate), ("dp_shard", shard), ("tp", r["tp"]),
                        ("async_tp", True if p.tp_comm_overlap and r["tp"] > 1 else None), ("pp", r["pp"])]
    s += _torchtitan_pipeline(p, fw, notes) if r["pp"] > 1 else []
    s += [("cp", r["cp"]), ("ep", r["ep"])]
    s += _mapped(vals["recompute"], r["recompute"], "recompute", fw, notes)
    s += [("compile", True if r.get("compile") else None), ("float8_recipe", r.get("fp8_recipe") if fp8 else None)]
    if p.grad_reduce_bf16:
        notes.append("note: " + vals["grad_reduce_bf16_note"])
    file = fw.config_file or "job.toml"
    tt = launchers_file().frameworks["torchrun"]
    command = _torchrun(p, [*cli_words(tt, [("module", fw.command)]), fw.config_flag or "", file])
    return "\n".join(comment_lines(fw, p.title(), [(fw.header or "").format(file=file), *notes])
                     + [f"cat > {file} <<'EOF'", _toml(fw, s), "EOF", command])


_TRAINING = {"cli": _megatron, "python": _nemo, "toml": _torchtitan}  # one renderer per training syntax


def launch_formats(role: str | None = None) -> dict[str, dict[str, Any]]:
    """The launch formats (of one role: training, serving, launcher): name, release, sources checked and docs."""
    return {k: {"name": fw.name, "role": fw.role, "version": fw.version, "checked_against": list(fw.checked_against),
                "docs": fw.docs}
            for k, fw in launchers_file().frameworks.items() if role is None or fw.role == role}


def chosen_formats(formats: Iterable[str] | None, defaults: list[str] | None, role: str) -> list[str]:
    names = list(defaults or []) if formats is None else [formats] if isinstance(formats, str) else list(formats)
    if unknown := [n for n in names if n not in launch_formats(role)]:
        raise PlanError(f"unknown {role} launch format {unknown[0]!r}; known: {', '.join(launch_formats(role))}")
    return names


def unsupported(what: str, table: Mapping[str, list[str]]) -> dict[str, str]:
    covered = ", ".join(f"{k} ({'/'.join(v)})" for k, v in table.items())
    return {"unsupported": f"no launch settings for the {what}; they are written for {covered}"}


def training_launch(record: Any, *, formats: Iterable[str] | None = None, model: Any = None, hardware: Any = None,
                    global_batch: int | None = None, seq_len: int | None = None, tp_comm_overlap: bool | None = None,
                    dp_overlap: bool = True, grad_reduce_fp32: bool | None = None, dropout: bool | None = None,
                    train_tokens: float | None = None) -> dict[str, str]:
    """Launch settings (format -> text to copy) for a training plan record (`estimate_training` result or its dict,
    or a `plan_training` row, which needs the search's `global_batch` and `seq_len`). By default the formats of the
    plan's stack (Megatron-LM for megatron-core, NeMo 2.0 for nemo, torchtitan for torchtitan); a stack without one
    gets {"unsupported": one line saying so}. The engine options a record does not carry (TP overlap, gradient
    reduce dtype; None: the stack's default) and the model's dropout (None: the model file's) can be given;
    `train_tokens` adds the run length; `model`/`hardware` replace the record's ids (a model or profile file)."""
    rec = {"global_batch": global_batch, "seq_len": seq_len, **dict(getattr(record, "record", record))}
    p = _plan({k: v for k, v in rec.items() if v is not None}, model, hardware, tp_comm_overlap, dp_overlap,
              grad_reduce_fp32, dropout, train_tokens)
    lf = launchers_file()
    names = chosen_formats(formats, lf.training_stacks.get(str(p.rec.get("stack"))), "training")
    if not names:
        return unsupported(f"{p.rec.get('stack')} stack", lf.training_stacks)
    return {n: _TRAINING[lf.frameworks[n].syntax](p, lf.frameworks[n]) for n in names}
