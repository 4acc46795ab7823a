"""Training planner page: best plan per hardware x GPU count, Pareto front, step/memory breakdown."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

import simulator as sim
from simulator import limits, units, vocab
from simulator.ui.common import (
    band_text,
    book_label,
    book_summary,
    catalog,
    download_buttons,
    fmt_days,
    fmt_usd,
    guarded,
    model_picker,
    price_book_picker,
    resolve_model,
)
from simulator.ui.report import report_button
from simulator.ui.training_charts import (
    BREAKDOWN_LABELS,
    LOW_MFU_ADVICE,
    MEMORY_LABELS,
    UNEVEN_NOTE,
    breakdown_charts,
    pareto_chart,
    plan_label,
)
from simulator.ui.training_settings import (
    AS_STACK,
    DROPOUT,
    GPU_CHOICES,
    LABELS,
    SEQ_CHOICES,
    SETTINGS,
    scenario_settings,
)
from simulator.ui.workspace import ab_section, current, notices, publish, scenario_loader, start


@st.cache_data(show_spinner=False, max_entries=64)
def _compare(model, hardware: tuple[str, ...], gpus: tuple[int, ...], global_batch: int, seq_len: int,
             train_tokens: float, objective: str, precisions: tuple[str, ...], price_book: str | sim.PriceBook,
             purchase: str, options: tuple[tuple[str, object], ...]) -> pd.DataFrame:
    bar = st.progress(0.0, text="Searching parallel plans")

    def progress(done: int, total: int) -> None:
        bar.progress(done / total, text=f"Searched {done} of {total} hardware x GPU-count cells")

    df = sim.compare_training(model, hardware, gpus, global_batch=global_batch, seq_len=seq_len,
                                  train_tokens=train_tokens, objective=objective, precisions=precisions,
                                  price_book=price_book, purchase=purchase, progress=progress,
                                  option_kw=dict(options))
    bar.empty()
    return df


@st.cache_data(show_spinner=False, max_entries=64)
def _top_plans(model, hardware: str, gpus: int, global_batch: int, seq_len: int, train_tokens: float,
               objective: str, precisions: tuple[str, ...], price_book: str | sim.PriceBook, purchase: str,
               options: tuple[tuple[str, object], ...]) -> pd.DataFrame:
    res = sim.plan_training(model, hardware, gpus, global_batch=global_batch, seq_len=seq_len,
                            train_tokens=train_tokens, objective=objective, precisions=precisions,
                            price_book=price_book, purchase=purchase, option_kw=dict(options))
    return res.to_frame(25)


def _inputs() -> dict | None:
    with st.sidebar:
        st.header("Training run")
        scenario_loader("training", SETTINGS, {"training": "a training run"}, scenario_settings)
        start("training", SETTINGS)
        model_id, text = model_picker("train")
        model = resolve_model(model_id, text)
        ids = catalog()["hardware"]
        hardware = st.multiselect("Hardware", ids, key="tr-hw",
                                  help="Compare several accelerators; each gets its best plan per GPU count.")
        gpus = st.multiselect("GPU counts", GPU_CHOICES, key="tr-gpus")
        tokens_t = st.number_input("Token budget (trillions)", min_value=0.001, max_value=1e4, step=1.0,
                                   key="tr-tokens")
        c1, c2 = st.columns(2)
        global_batch = c1.number_input("Global batch (sequences)", min_value=1, max_value=limits.MAX_BATCH, step=64,
                                       key="tr-batch")
        seq_len = c2.select_slider("Sequence length", SEQ_CHOICES, key="tr-seq")
        stack, compile_, recipe = _stack_picker()
        precisions = st.multiselect("Precisions to consider", list(vocab.PRECISIONS), key="tr-prec")
        book = price_book_picker("tr", hardware)
        purchase = st.selectbox("Purchase option", list(vocab.COST_OPTIONS), key="tr-purchase",
                                help="owned: amortised purchase, facility and electricity per busy GPU-hour (pick a "
                                     "price book with owned figures, such as owned-colo-2025-03)")
        objective = st.radio("Rank plans by", list(vocab.OBJECTIVES), horizontal=True, key="tr-objective")
        c3, c4 = st.columns(2)
        deadline = c3.number_input("Deadline (days, 0 = none)", min_value=0.0, max_value=1e5, step=10.0,
                                   key="tr-deadline")
        budget = c4.number_input("Budget ($M, 0 = none)", min_value=0.0, max_value=1e6, step=1.0, key="tr-budget")
        with st.expander("Software assumptions (default: as the stack does)"):
            attention = st.selectbox("Attention kernel", [AS_STACK, *vocab.ATTENTION_KERNELS], key="tr-attn",
                                     help="flash = FlashAttention-2/3; flash1 = first generation; unfused = scores "
                                          "materialised (Megatron 2021)")
            tp_choice = st.selectbox("Overlap TP communication with GEMMs", [AS_STACK, "on", "off"], key="tr-tpov")
            dropout = DROPOUT[st.selectbox("Dropout", list(DROPOUT), key="tr-dropout")]
            uneven = st.checkbox("Allow uneven pipeline stages", key="tr-uneven",
                                 help="Pipeline sizes that do not divide the layer count (Megatron first/last-stage "
                                      "layer counts); the heaviest stage sets the pace")
    publish(SETTINGS)
    notices("training")
    if model is None:
        st.info("Load a valid model file (see the message in the sidebar), or pick one from the catalog.")
        return None
    if not hardware or not gpus or not precisions:
        st.info("Choose at least one hardware profile, GPU count and precision in the sidebar.")
        return None
    options = (("attention_kernel", None if attention == AS_STACK else attention),
               ("tp_comm_overlap", {AS_STACK: None, "on": True, "off": False}[tp_choice]),
               ("dropout", dropout), ("uneven_pp", uneven), ("stack", stack), ("compile", compile_),
               ("fp8_recipe", recipe))
    return dict(model=model, model_id=model_id, model_text=text, hardware=tuple(hardware),
                gpus=tuple(sorted(gpus)), global_batch=int(global_batch), seq_len=int(seq_len),
                train_tokens=float(tokens_t) * units.TRILLION, objective=objective, precisions=tuple(precisions),
                price_book=book, purchase=purchase, options=options,
                max_time_s=deadline * units.SECONDS_PER_DAY if deadline > 0 else None,
                max_cost_usd=budget * 1e6 if budget > 0 else None)


def _stack_picker() -> tuple[str, bool | None, str | None]:
    """The software stack (its name, version and what it runs in the help) and torch.compile where it offers it."""
    stack = st.selectbox("Software stack", sim.stack_ids(), key="tr-stack",
                         help="What the training engine fuses and overlaps, its fixed per-step cost and the plans it "
                              "can run (workloads/stacks/<id>.yaml, every figure sourced). Predictions carry the "
                              "error band of published runs of the stack on this hardware generation and scale.")
    f = sim.stack_file(stack)
    st.caption(f"{f.name}, {f.version}. ZeRO {', '.join(map(str, f.supports.zero_stages))}; pipeline "
               f"{', '.join(f.supports.pp_schedules) or 'none'}; recompute {', '.join(f.supports.recompute)}")
    compile_ = st.checkbox("torch.compile", key="tr-compile", help="fuses the elementwise ops") \
        if f.supports.compile else None
    recipes = list(f.fp8_recipes)
    recipe = None
    if recipes and f.default_fp8_recipe:
        if st.session_state.get("tr-fp8") not in ["", *recipes]:  # another stack's recipe
            st.session_state["tr-fp8"] = ""
        chosen = st.selectbox("fp8 scaling recipe (fp8 plans)", ["", *recipes], key="tr-fp8",
                              format_func=lambda r: r or f"as the stack does ({f.default_fp8_recipe})",
                              help="what the stack's fp8 casts cost: amax passes per GEMM input (the stack file says "
                                   "which)")
        recipe = chosen or f.default_fp8_recipe
    return stack, (compile_ or None), recipe


def _band_range(ok: pd.DataFrame) -> pd.DataFrame:
    """Days at the low and high end of each row's error band (NaN where the row has no band; sim.band_range)."""
    if "error_band" not in ok:
        return ok
    days = ok["total_time_s"] / units.SECONDS_PER_DAY
    ends = [sim.band_range(b, d) or [np.nan, np.nan] for b, d in zip(ok["error_band"], days, strict=True)]
    return ok.assign(days_low=[e[0] for e in ends], days_high=[e[1] for e in ends])


def _low_mfu_cause(best: pd.Series, inp: dict) -> str:
    """The part of the step that keeps MFU low, in words, with the setting that moves it."""
    step = float(best["step_time_s"])
    parts = {k: float(best["breakdown"].get(k) or 0.0) for k in BREAKDOWN_LABELS}  # a compare_training row
    worst = max((k for k in parts if k != "compute"), key=lambda k: parts[k])
    if parts["compute"] >= 0.6 * step:
        kernel = dict(inp["options"]).get("attention_kernel")
        why = ("the unfused attention kernel (the Attention kernel setting: flash is far faster)" if kernel == "unfused"
               else "small per-GPU matrices or memory-bound kernels")
        return f"the step is mostly compute ({parts['compute'] / step:.0%}), but it runs far below peak: {why}."
    if parts[worst] < 0.15 * step:
        return (f"compute is {parts['compute'] / step:.0%} of the step and the rest is spread over several parts, "
                f"the largest {BREAKDOWN_LABELS[worst]} ({parts[worst] / step:.0%}); see the step breakdown below.")
    return (f"{BREAKDOWN_LABELS[worst]} takes {parts[worst] / step:.0%} of the step; {LOW_MFU_ADVICE[worst]} "
            f"(global batch {inp['global_batch']:,} sequence{'s' if inp['global_batch'] != 1 else ''}).")


def _record_from_row(rec: pd.Series) -> dict:
    """Rebuild the nested record (breakdown, memory_breakdown) from a flat to_frame() row."""
    d = {k: (None if isinstance(v, float) and pd.isna(v) else v) for k, v in rec.items()}
    d["breakdown"] = {k: float(rec.get(f"{k}_s", 0.0)) for k in BREAKDOWN_LABELS}
    d["memory_breakdown"] = {k: float(rec.get(f"{k}_bytes", 0.0)) for k in MEMORY_LABELS}
    return d


def _warn_unpriced(ok: pd.DataFrame, inp: dict) -> None:
    unpriced = sorted(ok.loc[ok["cost_usd"].isna(), "hardware"].unique()) if "cost_usd" in ok else []
    if unpriced:
        by_time = " and their plans are picked by time, not cost" if inp["objective"] == "cost" else ""
        st.warning(f"Price book {book_label(inp['price_book'])} has no {inp['purchase']} price for {', '.join(unpriced)}: "
                   f"their costs show as 'no price', they are left off the cost chart{by_time}. Pick another purchase "
                   "option or price book to compare them.")


def _mfu_notes(best: pd.Series, inp: dict) -> None:
    if best["mfu"] > 1.0:
        st.info(f"MFU {best['mfu']:.0%}: the model-FLOP convention (PaLM, Megatron) counts attention over the full "
                "score matrix, while causal attention kernels compute half of it, so when attention dominates, as at "
                "this sequence length, MFU can exceed 100%. Compare wall-clock and cost instead.")
    elif best["mfu"] > 0.6:
        st.info(f"MFU {best['mfu']:.0%} is above what published large runs report (about 40-55%): the plan runs outside "
                "the range the error band was measured on, so read it as an upper bound.")
    if best["mfu"] < 0.2:
        st.warning(f"MFU is only {best['mfu']:.0%}: {_low_mfu_cause(best, inp)}")


def _best_section(df: pd.DataFrame, ok: pd.DataFrame, inp: dict) -> pd.Series:
    """The configuration the limits pick, its headline figures and notes; returns it."""
    best, note = sim.pick_best(df, inp["objective"], inp["max_time_s"], inp["max_cost_usd"])
    heading = "Best"
    if best is None:
        st.error(f"No configuration meets the limits: {note}.")
        best = ok.loc[ok["total_time_s"].idxmin()]
        heading = "Fastest, over the limits"
    elif note:
        st.caption(note)
    st.subheader(f"{heading}: {best['gpus']:,} x {best['hardware']}  ·  {plan_label(best)}")
    m = st.columns(3)
    m[0].metric("Wall-clock", fmt_days(best["total_time_s"]), help=_band_help(best))
    cost = best.get("cost_usd")
    m[1].metric("Cost", fmt_usd(cost), help=f"{book_label(inp['price_book'])}, {inp['purchase']}; scales with the wall-clock")
    m[2].metric("MFU", f"{best['mfu']:.1%}", help="model FLOPs (6N + attention, counted over the full non-causal "
                                                  "score matrix as PaLM and Megatron do) / dense peak of the precision "
                                                  "used")
    m = st.columns(3)
    m[0].metric("GPU-hours", units.human_count(best["gpu_hours"]))
    m[1].metric("Energy", units.human_energy_kwh(best["energy_kwh"]))
    m[2].metric("Emissions", units.human_mass_kg(best["co2e_kg"]) + " CO2e")
    days = sim.band_range(best.get("error_band"), best["total_time_s"])
    if days is not None:
        usd = sim.band_range(best.get("error_band"), cost)  # cost scales with the wall-clock
        st.markdown(f"**Error band:** {fmt_days(days[0])} to {fmt_days(days[1])}"
                    + (f", {fmt_usd(usd[0])} to {fmt_usd(usd[1])}" if usd else "")
                    + " (where published runs of the family landed against such predictions)")
    _mfu_notes(best, inp)
    for note in best.get("notes") if isinstance(best.get("notes"), list) else []:
        st.warning(note)
    st.caption(f"Stack {best.get('stack', '?')}: {_band_help(best)} See the Validation page for every published "
               "run and its leave-one-source-out error.")
    return best


def _band_help(rec: pd.Series) -> str:
    """The error band of a training estimate in words (ui.common.band_text)."""
    return band_text(rec.get("error_band"))


def export_frame(df: pd.DataFrame) -> pd.DataFrame:
    """The comparison as the CSV/Parquet download: the records' own fields in their own units (SI, fractions: `mfu`
    and `hfu` alike, as in --json), plus the plan label; percent and days are for the screen only."""
    return df.assign(plan=df.apply(plan_label, axis=1)).drop(columns=["breakdown", "memory_breakdown"],
                                                             errors="ignore")


def _comparison_table(df: pd.DataFrame, inp: dict) -> None:
    """Every hardware x GPU count with its best plan, in display units, and the cells without a plan."""
    def num(col: str) -> pd.Series:  # missing values (no price, no plan) as NaN: an empty cell, not "None"
        return pd.to_numeric(df[col], errors="coerce") if col in df else pd.Series(np.nan, index=df.index)

    table = df.assign(plan=df.apply(plan_label, axis=1), days=num("total_time_s") / units.SECONDS_PER_DAY,
                      cost_musd=num("cost_usd") / 1e6, mem_gib=num("memory_per_gpu_bytes") / units.GIB,
                      mfu=num("mfu") * 100, tflops_per_gpu=num("tflops_per_gpu"), step_time_s=num("step_time_s"))
    table = table.sort_values(["feasible", "cost_musd" if inp["objective"] == "cost" else "days"],
                              ascending=[False, True])
    cols = ["hardware", "gpus", "plan", "days", "cost_musd", "mfu", "tflops_per_gpu", "step_time_s",
            "mem_gib", "pareto", "plans_evaluated", "plans_feasible", "reason"]
    shown = table[[c for c in cols if c in table]]
    formats = {"days": "{:,.1f}", "cost_musd": "{:,.2f}", "mfu": "{:.1f}", "tflops_per_gpu": "{:.0f}",
               "step_time_s": "{:.2f}", "mem_gib": "{:.1f}"}
    st.dataframe(shown.style.format({k: v for k, v in formats.items() if k in shown}, na_rep="—"), hide_index=True,
                 width="stretch", column_config={"days": "days", "cost_musd": "cost ($M)", "mfu": "MFU %",
                                                 "tflops_per_gpu": "TFLOP/s/GPU", "step_time_s": "step (s)",
                                                 "mem_gib": "mem/GPU (GiB)"}, placeholder="—")
    if "uneven_pp" in table and table["uneven_pp"].fillna(False).astype(bool).any():
        st.caption(UNEVEN_NOTE)
    download_buttons(export_frame(df), "training_plans", "cmp")
    bad = df[~df["feasible"]]
    if len(bad):
        with st.expander(f"Why {len(bad)} cells have no plan"):
            for _, r in bad.iterrows():
                st.write(f"**{r['gpus']:,} x {r['hardware']}**: {r['reason']}")


def _plans_table(top: pd.DataFrame, choice: int) -> None:
    view = pd.DataFrame({"plan": top.plan, "step (s)": top.step_time_s, "MFU %": top.mfu * 100,
                         "HFU %": top.hfu * 100, "TFLOP/s/GPU": top.tflops_per_gpu,
                         "mem/GPU (GiB)": top.memory_per_gpu_bytes / units.GIB,
                         "days": pd.to_numeric(top.total_time_s, errors="coerce") / units.SECONDS_PER_DAY,
                         "cost ($M)": pd.to_numeric(top.cost_usd, errors="coerce") / 1e6})
    st.dataframe(view.style.format(precision=2, na_rep="—").apply(
        lambda r: ["font-weight: bold" if r.name == choice else "" for _ in r], axis=1), hide_index=True,
        width="stretch", placeholder="—")


def _export(rec: pd.Series, inp: dict) -> None:
    if inp["model_id"] is None:
        st.caption("Scenario export needs a catalog model (an uploaded file has no path the CLI could read).")
        return
    scenario = sim.TrainingScenario(
        name=f"{inp['model_id']} on {int(rec['gpus'])} x {rec['hardware']}", model=inp["model_id"],
        hardware=rec["hardware"], gpus=int(rec["gpus"]), global_batch=inp["global_batch"], seq_len=inp["seq_len"],
        train_tokens=inp["train_tokens"], purchase=inp["purchase"],
        price_book=inp["price_book"] if isinstance(inp["price_book"], str) else None,
        stack=dict(inp["options"])["stack"], plan=sim.PlanSpec.from_record(_record_from_row(rec)),
        options=sim.TrainingOptionsSpec(**{k: v for k, v in inp["options"] if k != "stack"}))
    st.download_button("Export this plan as a scenario YAML (for `simulator run` and sweeps)",
                       sim.scenario_to_yaml(scenario), "training_scenario.yaml", "application/x-yaml")
    if not isinstance(inp["price_book"], str):
        st.caption("The file prices the run with the default book: prices typed here live in this session (the report "
                   "lists them); for the CLI, write them as a price-book YAML (workloads/prices) and name it.")


def _inspect_section(ok: pd.DataFrame, best: pd.Series, inp: dict) -> None:
    """One hardware x GPU count: its best plans, the chosen plan's breakdown and explanation, its export."""
    st.subheader("Inspect a configuration")
    labels = [f"{r.gpus:,} x {r.hardware}" for r in ok.itertuples()]
    pick = st.selectbox("Hardware and GPU count", labels, index=labels.index(f"{best['gpus']:,} x {best['hardware']}"))
    row = ok.iloc[labels.index(pick)]
    top = guarded(_top_plans, inp["model"], row["hardware"], int(row["gpus"]), inp["global_batch"], inp["seq_len"],
                  inp["train_tokens"], inp["objective"], inp["precisions"], inp["price_book"], inp["purchase"],
                  inp["options"])
    if top is None or top.empty:
        return
    top = top.assign(plan=top.apply(plan_label, axis=1))
    # plans that differ only in how DP and CP split the same ranks predict the same numbers: show one
    top = top.drop_duplicates(subset=["step_time_s", "memory_per_gpu_bytes"]).reset_index(drop=True)
    choice = st.selectbox("Plan (best first)", list(range(len(top))), format_func=lambda i: f"#{i + 1}  {top.plan[i]}  "
                          f"({top.step_time_s[i]:.2f} s/step, MFU {top.mfu[i]:.1%})")
    rec = top.iloc[choice]
    if rec.get("uneven_pp") in (True,):
        st.caption(UNEVEN_NOTE)
    breakdown_charts(rec, float(rec["memory_capacity_bytes"]))
    st.markdown(sim.TrainingResult(_record_from_row(rec)).explain())
    _plans_table(top, choice)
    _export(rec, inp)
    _launch(rec, inp)


def _launch(rec: pd.Series, inp: dict) -> None:
    """The framework arguments that realise the chosen plan (workloads/launchers.yaml), as text to copy."""
    opts = dict(inp["options"])
    with st.expander("Launch settings for this plan (the stack's own arguments, to copy)"):
        out = guarded(sim.training_launch, _record_from_row(rec), model=inp["model"], global_batch=inp["global_batch"],
                      seq_len=inp["seq_len"], train_tokens=inp["train_tokens"], dropout=opts["dropout"],
                      tp_comm_overlap=opts["tp_comm_overlap"])
        for name, text in (out or {}).items():
            st.markdown(f"**{name}**")
            st.code(text, language="toml" if "torchtitan" in name else "bash")


def render() -> None:
    st.title("Training planner")
    st.caption("The fastest (or cheapest) parallel plan that fits, for each accelerator and GPU count and the software "
               "stack you run, with where the time, memory and money go, and how far published runs of that stack "
               "fell from such predictions.")
    inp = _inputs()
    if inp is None:
        return
    args = (inp["model"], inp["hardware"], inp["gpus"], inp["global_batch"], inp["seq_len"], inp["train_tokens"],
            inp["objective"], inp["precisions"], inp["price_book"], inp["purchase"], inp["options"])
    df = guarded(_compare, *args)
    if df is None:
        return
    ok = df[df["feasible"]].copy()
    if ok.empty:
        st.error("No plan fits for any chosen hardware and GPU count.")
        st.dataframe(df[~df["feasible"]][["hardware", "gpus", "reason"]], hide_index=True, width="stretch",
                     placeholder="—")
        return
    ok = _band_range(ok)
    _warn_unpriced(ok, inp)
    best = _best_section(df, ok, inp)
    priced = ok[ok["cost_usd"].notna()]
    if len(priced):
        st.altair_chart(pareto_chart(priced), width="stretch")
    _comparison_table(df, inp)
    st.divider()
    _inspect_section(ok, best, inp)
    st.divider()
    headline = _headline(best, inp)
    ab_section("training", SETTINGS, headline, LABELS)
    _report(df, ok, best, inp, headline)


def _headline(best: pd.Series, inp: dict) -> dict[str, str]:
    """The answer in a few formatted figures (the A/B table and the report)."""
    days = sim.band_range(best.get("error_band"), best["total_time_s"])
    return {"configuration": f"{best['gpus']:,} x {best['hardware']}", "plan": plan_label(best),
            "wall-clock": fmt_days(best["total_time_s"]),
            "error band": f"{fmt_days(days[0])} to {fmt_days(days[1])}" if days else "none",
            "cost": fmt_usd(best.get("cost_usd")), "MFU": f"{best['mfu']:.1%}",
            "GPU-hours": units.human_count(best["gpu_hours"]), "energy": units.human_energy_kwh(best["energy_kwh"]),
            "stack": str(best.get("stack", dict(inp["options"])["stack"]))}


def _report(df: pd.DataFrame, ok: pd.DataFrame, best: pd.Series, inp: dict, headline: dict[str, str]) -> None:
    """The one-page report: inputs, assumptions (stack, price book and its date, band), answer, chart, alternatives."""
    stack = sim.stack_file(dict(inp["options"])["stack"])
    values = current(SETTINGS)
    inputs = {LABELS[k]: v for k, v in values.items()}
    inputs["model"] = inp["model_id"] or f"uploaded file ({inp['model'].name})"
    assumptions = {"software stack": f"{stack.name}, {stack.version} ({stack.id})",
                   "price book": book_summary(inp["price_book"], inp["purchase"]),
                   "error band": _band_help(best), "ranked by": inp["objective"]}
    ok_rows = df["feasible"].astype(bool)
    alternatives = pd.DataFrame({  # display units, as on the page
        "hardware": df["hardware"], "GPUs": df["gpus"], "plan": df.apply(plan_label, axis=1).where(ok_rows, "—"),
        "days": (pd.to_numeric(df["total_time_s"], errors="coerce") / units.SECONDS_PER_DAY).round(1),
        "cost ($M)": (pd.to_numeric(df.get("cost_usd"), errors="coerce") / 1e6).round(2),
        "MFU %": (pd.to_numeric(df["mfu"], errors="coerce") * 100).round(1), "why no plan": df["reason"].fillna("")})
    priced = ok[ok["cost_usd"].notna()]
    chart = [("Time vs cost", pareto_chart(priced).properties(width=640))] if len(priced) else []
    report_button("training", f"Training plan: {inputs['model']}", inputs=inputs, assumptions=assumptions,
                  answer=headline, charts=chart, tables=[("Every hardware x GPU count (best plan each)", alternatives)])
