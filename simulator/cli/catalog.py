"""`simulator list`: the shipped hardware, models, software stacks, serving engines, price books and cluster
scenarios."""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

import simulator as sim
from simulator import units
from simulator.vocab import LIST_WHAT


def register(sub: Any) -> None:
    """Add the `list` subcommand."""
    ls = sub.add_parser("list", help="list shipped hardware, models, stacks, engines, price books, cluster scenarios "
                                     "or the lifecycle planner's scaling laws, model families and compression methods")
    ls.add_argument("what", choices=LIST_WHAT)
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=cmd_list)


def _list_hardware() -> None:
    """One line per accelerator, the id first, so `cut -d' ' -f1` still gives the ids."""
    book = sim.load_price_book()
    print(f"{'id':<16} {'memory':>9} {'HBM':>9} {'bf16':>12} {'fp8':>12} {'TDP':>6} {'NVLink':>7} "
          f"{'$/GPU-h':>8}  name")
    for r in sim.hardware_table().itertuples():
        price = book.gpu_hour_usd(r.id)
        fp8 = "-" if math.isnan(r.fp8_TFLOPs) else units.human_flops(r.fp8_TFLOPs * units.TFLOP)
        print(f"{r.id:<16} {units.human_bytes(r.memory_GiB * units.GIB):>9} "
              f"{units.human_rate(r.HBM_TB_per_s * units.TB):>9} {units.human_flops(r.bf16_TFLOPs * units.TFLOP):>12} "
              f"{fp8:>12} {r.TDP_W:>5.0f}W {r.scale_up_domain:>7} "
              f"{'-' if math.isnan(price) else f'{price:.2f}':>8}  {r.name}")
    print(f"NVLink: GPUs in one scale-up domain; $/GPU-h: on-demand in {book.id}")


def _list_models(ids: list[str]) -> None:
    """One line per model, the id first; the last column says where it comes from (a shipped YAML, a shipped Hugging
    Face config with its Hub URL)."""
    w = max(16, *map(len, ids))
    print(f"{'id':<{w}} {'params':>8} {'active':>8} {'layers':>6} {'d_model':>7} {'heads':>9} {'context':>8}  "
          f"{'kind':<34} source")
    for m in map(sim.load_model, ids):
        total, active = m.total_params(), m.active_matmul_params()
        kind = (f"MoE {m.moe.n_experts} experts, top-{m.moe.top_k}" if m.moe else "dense") + (
            ", MLA" if m.mla else (", GQA" if m.n_kv_heads < m.n_heads else "")) + (
            f", SWA {m.window_tokens}" if m.n_window_layers else "")
        c = m.context_window_tokens  # context windows come in powers of two: 131072 reads 128k
        ctx = "-" if not c else (f"{c // 1024}k" if c % 1024 == 0 else units.human_count(c))
        print(f"{m.id:<{w}} {units.human_count(total):>8} {units.human_count(active) if m.moe else '':>8} "
              f"{m.n_layers:>6} {m.d_model:>7} {f'{m.n_heads}/{m.n_kv_heads}':>9} {ctx:>8}  {kind:<34} "
              f"{sim.model_source(m)}")
    print("params: all weights; active: per token (MoE); heads: query/KV heads; SWA n: a sliding window of n tokens on "
          "some or all layers; HF config: a Hugging Face config.json (approximations: "
          "simulator.catalog.hf_config.ARCHITECTURES)")


def _list_stacks(ids: list[str]) -> None:
    """One line per software stack: id, version, the plans it runs, its name."""
    print(f"{'id':<15} {'ZeRO':<8} {'pipeline':<26} {'recompute':<26} name (version)")
    for f in map(sim.stack_file, ids):
        s = f.supports
        print(f"{f.id:<15} {','.join(map(str, s.zero_stages)):<8} {','.join(s.pp_schedules) or '-':<26} "
              f"{','.join(s.recompute):<26} {f.name} ({f.version})")
    print("ZeRO 3 = FSDP; figures and their sources: workloads/stacks/<id>.yaml")


def _engine_refs() -> list[str]:
    """What --engine takes: each family (its default version), then family@version for its other versions."""
    return [family if v == sim.engine_file(family).default_version else f"{family}@{v}"
            for family in sim.engine_ids() for v in sim.engine_versions(family)]


def _list_engines() -> None:
    """One line per engine version, what --engine takes first: family, version, whether it is the default, the
    release date its figures describe, whether its host terms are fitted, and the file holding its sources."""
    print(f"{'engine':<22} {'family':<18} {'version':<8} {'default':<7} {'released':<8} {'host terms':<10} source")
    for family in sim.engine_ids():
        f = sim.engine_file(family)
        for v in sim.engine_versions(family):
            ver = f.versions[v]
            ref = family if v == f.default_version else f"{family}@{v}"
            host = "fitted" if ver.host.fitted.value else "assumed"
            print(f"{ref:<22} {family:<18} {v:<8} {'yes' if v == f.default_version else '':<7} {ver.released:<8} "
                  f"{host:<10} workloads/engines/{family}.yaml ({len(f.sources)} source{'s' * (len(f.sources) != 1)}): {f.name}")
    print("--engine NAME takes the default version, --engine NAME@VERSION another; every figure's own source is in "
          "the file")


def _list_scaling_laws(ids: list[str]) -> None:
    """One line per scaling-law fit (`simulator lifecycle --scaling-law`): its constants, the ranges it was fitted
    on and the families it applies to."""
    print(f"{'id':<14} {'E':>6} {'A':>8} {'B':>8} {'alpha':>6} {'beta':>6} {'params fitted':>15} {'tokens fitted':>15} "
          f"{'families':<16} name")
    for law in map(sim.load_scaling_law, ids):
        (n0, n1), (d0, d1) = law.params_range, law.tokens_range
        print(f"{law.id:<14} {law.e_nats:>6.3f} {law.a:>8.1f} {law.b:>8.1f} {law.alpha:>6.3f} {law.beta:>6.3f} "
              f"{units.human_count(n0) + '-' + units.human_count(n1):>15} "
              f"{units.human_count(d0) + '-' + units.human_count(d1):>15} {','.join(law.families):<16} {law.name}")
    print("L(N, D) = E + A / N^alpha + B / D^beta in nats per token; sources: workloads/scaling_laws/<id>.yaml")


def _list_families(ids: list[str]) -> None:
    """One line per model family (`simulator lifecycle --family`): how its shape scales with its parameters."""
    print(f"{'id':<10} {'head_dim':>8} {'KV heads':>8} {'d_model/layer':>13} {'d_ff/d_model':>12} {'vocab':>8} "
          f"{'kind':<22} name")
    for f in map(sim.load_model_family, ids):
        kind = f"MoE {f.moe[0]} experts, top-{f.moe[1]}" if f.moe else "dense"
        print(f"{f.id:<10} {f.head_dim:>8} {f.kv_heads:>8} {f.d_model_per_layer:>13.1f} {f.d_ff_per_d_model:>12.2f} "
              f"{f.vocab_size:>8} {kind:<22} {f.name}")
    print("sources: workloads/scaling_laws/families/<id>.yaml")


def _list_compression(ids: list[str]) -> None:
    """One line per compression method (`simulator lifecycle --compression`): what it does and its quality cost."""
    print(f"{'id':<12} {'method':<14} {'serves at':<10} {'loss +nats':>10}  quality")
    for m in map(sim.load_compression_method, ids):
        delta = "-" if m.loss_delta_nats is None else f"{m.loss_delta_nats:.4f}"
        print(f"{m.id:<12} {m.method:<14} {m.precision or '-':<10} {delta:>10}  {m.quality_note}")
    print("sources: workloads/scaling_laws/compression/<id>.yaml")


_TABLES = {"hardware": lambda ids: _list_hardware(), "models": _list_models, "stacks": _list_stacks,
           "engines": lambda ids: _list_engines(), "scaling-laws": _list_scaling_laws, "families": _list_families,
           "compression": _list_compression}


def cmd_list(a: argparse.Namespace) -> int:
    ids = {"hardware": sim.hardware_ids, "models": sim.model_ids, "prices": sim.price_book_ids,
           "scenarios": sim.cluster_scenario_ids, "stacks": sim.stack_ids, "engines": _engine_refs,
           "scaling-laws": sim.scaling_law_ids, "families": sim.model_family_ids,
           "compression": sim.compression_method_ids}[a.what]()
    if a.json or a.what not in _TABLES:
        print(json.dumps(ids) if a.json else "\n".join(ids))
    else:
        _TABLES[a.what](ids)
    return 0
