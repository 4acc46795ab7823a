"""The shape of the package: small units, private names kept private, one home per enumeration, and imports that
stay light where they must (the layer contracts themselves are checked by `lint-imports` in `make test`)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "simulator"
MAX_FUNCTION_LINES = 60
MAX_MODULE_LINES = 500
HEAVY = ("pandas", "scipy", "simpy", "pydantic", "yaml", "streamlit", "altair", "matplotlib", "dask", "distributed")


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def functions(tree: ast.AST) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]


def oversized(text: str) -> list[str]:
    """The functions of a module longer than MAX_FUNCTION_LINES, and the module itself when over MAX_MODULE_LINES."""
    out = [f"module ({len(text.splitlines())} lines)"] if len(text.splitlines()) > MAX_MODULE_LINES else []
    for fn in functions(ast.parse(text)):
        n = fn.end_lineno - fn.lineno + 1  # type: ignore[operator]
        if n > MAX_FUNCTION_LINES:
            out.append(f"{fn.lineno} {fn.name} ({n} lines)")
    return out


def test_no_function_over_60_lines_and_no_module_over_500():
    too_big = [f"{path.relative_to(ROOT)}: {what}" for path in modules()
               for what in oversized(path.read_text(encoding="utf-8"))]
    assert not too_big, too_big


def test_the_size_check_sees_a_long_function_and_a_long_module():
    """The check above is not blind: a 61-line function and a 501-line module are caught, 60 and 500 pass."""
    def fn(lines: int) -> str:
        return "def f():\n" + "\n".join(f"    x{i} = {i}" for i in range(lines - 1)) + "\n"

    assert oversized(fn(61)) == ["1 f (61 lines)"] and oversized(fn(60)) == []
    assert oversized("x = 1\n" * 501) == ["module (501 lines)"] and oversized("x = 1\n" * 500) == []


def test_no_private_name_is_imported_from_another_module():
    """`from simulator.a import _b` outside simulator.a: a private name has become a shared one; make it public."""
    offenders = []
    for path in modules():
        here = module_name(path)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("simulator") and node.level == 0:
                for alias in node.names:
                    if alias.name.startswith("_") and node.module != here:
                        offenders.append(f"{here} imports {node.module}.{alias.name}")
    assert not offenders, offenders


def test_every_registry_is_keyed_by_its_enumeration():
    """Names live once in simulator.vocab; the registries that implement them have exactly those keys."""
    import simulator as sim
    from simulator import vocab
    from simulator.cluster.policies import POLICIES, QUEUE_ORDER
    from simulator.runs.scenario import SCENARIO_RUNNERS

    assert tuple(sim.ENGINES) == vocab.ENGINE_NAMES
    assert tuple(sim.QUANTIZATIONS) == vocab.QUANTIZATION_NAMES
    assert tuple(sim.KV_BYTES) == vocab.KV_PRECISIONS
    assert tuple(sim.ROUTERS) == vocab.ROUTER_NAMES
    assert vocab.DEFAULT_STACK in sim.stack_ids()
    assert tuple(POLICIES) == vocab.POLICY_NAMES and set(QUEUE_ORDER) == set(vocab.POLICY_NAMES)
    assert set(SCENARIO_RUNNERS) == set(vocab.SCENARIO_KINDS)


def _literal_sets(tree: ast.AST) -> list[tuple[int, frozenset]]:
    """(line, values) of every tuple, list, set or Literal[...] of two or more constants in a module."""
    out = []
    for node in ast.walk(tree):
        elts = None
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            elts = node.elts
        elif isinstance(node, ast.Subscript) and getattr(node.value, "id", "") == "Literal":
            elts = node.slice.elts if isinstance(node.slice, ast.Tuple) else None
        if elts and len(elts) >= 2 and all(isinstance(e, ast.Constant) for e in elts):
            out.append((node.lineno, frozenset(e.value for e in elts)))  # type: ignore[attr-defined]
    return out


def _string_constants(tree: ast.AST) -> set[str]:
    return {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}


def test_each_enumeration_is_written_once():
    """The value lists of vocab.py (in any order, as a tuple, list, set or Literal) appear nowhere else in the
    package, the app or the benchmarks, nor the default price book's id: a copy would drift. (Lists of small
    integers other than ZeRO stages are left out: [1, 2, 4, 8] is as often GPU counts as the capacity TPs.)"""
    from simulator import vocab

    enums = {frozenset(v): k for k, v in vars(vocab).items()
             if k.isupper() and isinstance(v, tuple) and len(v) >= 2 and all(isinstance(x, str) for x in v)}
    enums[frozenset(vocab.ZERO_STAGES)] = "ZERO_STAGES"
    copies = []
    for path in [*modules(), ROOT / "app.py", *sorted((ROOT / "benchmarks").glob("*.py"))]:
        if path.name == "vocab.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        copies += [f"{path.relative_to(ROOT)}:{line} repeats vocab.{enums[values]}"
                   for line, values in _literal_sets(tree) if values in enums]
        if vocab.DEFAULT_PRICE_BOOK in _string_constants(tree):
            copies.append(f"{path.relative_to(ROOT)} names the default price book")
    assert not copies, copies


def test_the_enumeration_check_sees_a_reordered_copy():
    assert set(_literal_sets(ast.parse('x = ["spot", "on_demand"]\ny: Literal["b", "a"]'))) == {
        (1, frozenset({"spot", "on_demand"})), (2, frozenset({"a", "b"}))}


def _imported_by(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", f"{code}\nimport sys\nprint(' '.join(sorted(sys.modules)))"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120, check=True).stdout
    return {m.split(".")[0] for m in out.split()}


def test_import_simulator_loads_nothing_heavy():
    assert not _imported_by("import simulator") & {"numpy", *HEAVY}


@pytest.mark.parametrize("argv", [
    ["train", "--model", "llama3.1-8b", "--hardware", "h100-sxm-80gb", "--gpus", "8", "--global-batch", "8",
     "--seq-len", "4096", "--json"],
    ["list", "models"],
])
def test_a_training_estimate_loads_no_table_or_simulation_library(argv):
    """What keeps `simulator train` quick to start (benchmarks/bench_startup.py times it): it needs numpy,
    pydantic and yaml, never pandas, scipy, simpy or the app's libraries."""
    code = ("import contextlib, io\nfrom simulator.cli import main\n"
            f"with contextlib.redirect_stdout(io.StringIO()):\n    main({argv!r})")
    assert not _imported_by(code) & {"pandas", "scipy", "simpy", "streamlit", "altair", "matplotlib", "dask"}


def test_plan_defaults_agree_everywhere():
    """A plan argument left out means the same thing in `simulator train`, estimate_training, a scenario file and
    the core's PlanArgs (four places a default is written, one meaning)."""
    import dataclasses
    import inspect

    from simulator.api.training import estimate_training
    from simulator.catalog.schema import PlanSpec
    from simulator.cli import build_parser
    from simulator.core.training.estimate import PlanArgs

    core = {f.name: f.default for f in dataclasses.fields(PlanArgs)}
    api = {k: p.default for k, p in inspect.signature(estimate_training).parameters.items() if k in core}
    schema = {k: f.default for k, f in PlanSpec.model_fields.items() if k in core}
    train = build_parser().parse_args(["train", "--model", "m", "--hardware", "h", "--gpus", "8",
                                       "--global-batch", "8", "--seq-len", "8"])
    cli = {k: getattr(train, k) for k in core}
    assert api == core
    assert cli == core
    assert schema == {k: v for k, v in core.items() if k != "dp"}  # a scenario gives the GPU count, not dp


def test_page_labels_name_every_part_the_core_reports():
    """The app labels the step-time, memory and iteration parts by key: a part the core adds must get a label, or the
    charts would silently drop it."""
    from simulator.core.inference.static import ITERATION_PARTS
    from simulator.core.training.options import BREAKDOWN_KEYS, MEMORY_KEYS
    from simulator.ui import inference_page, training_charts

    assert tuple(training_charts.BREAKDOWN_LABELS) == BREAKDOWN_KEYS
    assert tuple(training_charts.MEMORY_LABELS) == MEMORY_KEYS
    assert set(inference_page.PART_LABELS) == set(ITERATION_PARTS)
