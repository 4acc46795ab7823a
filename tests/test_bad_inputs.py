"""Bad inputs at the command line: generated per subcommand, each must print ONE line on stderr and exit 2 (the CLI's
promise), with no traceback, nothing on stdout, and in bounded time.

The cases are explicit generated tables (flag x bad value, scenario field x bad value, path argument x bad path,
malformed files), run in-process through simulator.cli.main. The time check is only a generous hang guard: the
machine running the tests may be shared.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from simulator import limits
from simulator.cli import main

ROOT = Path(__file__).resolve().parents[1]
HANG_GUARD_S = 120.0  # a hang guard, not a speed claim: refusals take milliseconds; the hangs found ran 60-900 s

# ---------------------------------------------------------------- what each flag accepts
POS_INT, NONNEG_INT, POS_FLOAT, NONNEG_FLOAT = "pos_int", "nonneg_int", "pos_float", "nonneg_float"

NON_NUMBERS = ["", "abc", "0x10", "1,000", "--", "∞", "1" * 5000]
NON_FINITE = ["inf", "-inf", "Infinity", "nan", "-nan", "1e400"]
NEGATIVE = ["-1", "-0.5", "-9223372036854775809"]
HUGE = ["1e300", "99999999999999999999", "9223372036854775808"]
FRACTIONAL = ["1.5", "1e-3"]
ZERO = ["0", "-0.0"]


def bad_values(kind: str, high: float) -> list[str]:
    """The values a flag of this kind must refuse (`high`: its stated upper bound)."""
    out = NON_NUMBERS + NON_FINITE + NEGATIVE + HUGE + [repr(high * 10), repr(high * 1.5 if "float" in kind else high + 1)]
    if "int" in kind:
        out += FRACTIONAL
    if kind.startswith("pos"):
        out += ZERO
    return list(dict.fromkeys(out))


MEASUREMENTS = str(next((ROOT / "hardware_profiles" / "measurements").glob("*.csv")))
M, H = ["--model", "llama3.1-8b"], ["--hardware", "h100-sxm-80gb"]
L = limits
COMMANDS: dict[str, tuple[list[str], dict[str, tuple[str, float]]]] = {
    "train": (["train", *M, *H, "--gpus", "8", "--global-batch", "64", "--seq-len", "4096"],
              {"--gpus": (POS_INT, L.MAX_GPUS), "--global-batch": (POS_INT, L.MAX_BATCH),
               "--seq-len": (POS_INT, L.MAX_TOKENS), "--train-tokens": (POS_FLOAT, L.MAX_TRAIN_TOKENS),
               **{f"--{d}": (POS_INT, L.MAX_GPUS) for d in ("tp", "pp", "cp", "ep", "dp", "vpp", "fsdp-shard")},
               "--micro-batch": (POS_INT, L.MAX_BATCH), "--zero": (NONNEG_INT, 3)}),
    "plan": (["plan", *M, *H, "--gpus", "8", "--global-batch", "64", "--seq-len", "4096"],
             {"--gpus": (POS_INT, L.MAX_GPUS), "--global-batch": (POS_INT, L.MAX_BATCH),
              "--seq-len": (POS_INT, L.MAX_TOKENS), "--train-tokens": (POS_FLOAT, L.MAX_TRAIN_TOKENS),
              "--top": (POS_INT, L.MAX_TOP)}),
    "infer": (["infer", *M, *H, "--input-len", "512", "--output-len", "128"],
              {**{f"--{d}": (POS_INT, L.MAX_GPUS) for d in ("tp", "pp", "ep", "dp-attention")},
               "--batch": (POS_INT, L.MAX_BATCH), "--max-batch": (POS_INT, L.MAX_BATCH),
               "--input-len": (POS_INT, L.MAX_TOKENS), "--output-len": (POS_INT, L.MAX_TOKENS)}),
    "serve": (["serve", *M, *H, "--rate", "10", "--requests", "50"],
              {"--tp": (POS_INT, L.MAX_GPUS), "--pp": (POS_INT, L.MAX_GPUS), "--replicas": (POS_INT, L.MAX_GPUS),
               "--ep": (POS_INT, L.MAX_GPUS), "--dp-attention": (POS_INT, L.MAX_GPUS),
               "--rate": (POS_FLOAT, L.MAX_RATE_PER_S), "--concurrency": (POS_INT, L.MAX_REQUESTS),
               "--requests": (POS_INT, L.MAX_REQUESTS), "--input-len": (POS_INT, L.MAX_TOKENS),
               "--output-len": (POS_INT, L.MAX_TOKENS), "--max-batch": (POS_INT, L.MAX_BATCH),
               "--max-batched-tokens": (POS_INT, L.MAX_BATCHED_TOKENS),
               "--prefill-replicas": (NONNEG_INT, L.MAX_GPUS), "--decode-replicas": (NONNEG_INT, L.MAX_GPUS),
               "--slo-ttft": (POS_FLOAT, L.MAX_SIM_SECONDS), "--slo-tpot": (POS_FLOAT, L.MAX_SIM_SECONDS),
               "--max-time": (POS_FLOAT, L.MAX_SIM_SECONDS), "--seed": (NONNEG_INT, L.MAX_SEED)}),
    "capacity": (["capacity", *M, *H, "--rate", "1", "--input-len", "512", "--output-len", "128", "--tp", "1",
                  "--precision", "bf16", "--requests", "20"],
                 {"--tp": (POS_INT, L.MAX_GPUS), "--pp": (POS_INT, L.MAX_GPUS),
                  "--rate": (POS_FLOAT, L.MAX_RATE_PER_S), "--slo-ttft-p99": (POS_FLOAT, L.MAX_SIM_SECONDS),
                  "--slo-tpot-p99": (POS_FLOAT, L.MAX_SIM_SECONDS), "--input-len": (POS_INT, L.MAX_TOKENS),
                  "--output-len": (POS_INT, L.MAX_TOKENS), "--max-batch": (POS_INT, L.MAX_BATCH),
                  "--requests": (POS_INT, L.MAX_PROBE_REQUESTS), "--top": (NONNEG_INT, L.MAX_TOP),
                  "--seed": (NONNEG_INT, L.MAX_SEED)}),
    "cluster": (["cluster", "--scenario", "research-1k-h100"],
                {"--seed": (NONNEG_INT, L.MAX_SEED), "--until": (POS_FLOAT, L.MAX_SIM_SECONDS)}),
    "sweep": (["sweep", str(ROOT / "workloads/sweeps/training-plans-fixed.yaml"), "--out", "out"],
              {"--workers": (POS_INT, L.MAX_WORKERS)}),
    "kernel": (["kernel", *H, "--op", "gemm", "--m", "1024", "--n", "1024", "--k", "1024"],
               {**{f"--{d}": (NONNEG_INT, L.MAX_KERNEL_DIM) for d in ("m", "n", "k", "seq-len", "heads", "head-dim")},
                "--batch": (POS_INT, L.MAX_GPUS), "--bytes": (NONNEG_FLOAT, L.MAX_KERNEL_BYTES),
                "--gpus": (POS_INT, L.MAX_GPUS)}),
    "validate": (["validate", "training"], {"--seeds": (POS_INT, 100)}),
    "calibrate run": (["calibrate", "run", "--out", "x.csv"],
                      {"--world-size": (POS_INT, L.MAX_GPUS), "--rounds": (POS_INT, L.MAX_ROUNDS),
                       "--min-time-s": (POS_FLOAT, L.MAX_MIN_TIME_S), "--threads": (POS_INT, L.MAX_WORKERS)}),
    "calibrate validate": (["calibrate", "validate", "--profile", "h100-sxm-80gb", "--measurements", MEASUREMENTS],
                           {"--max-median": (NONNEG_FLOAT, L.MAX_ERROR_FRACTION),
                            "--max-p90": (NONNEG_FLOAT, L.MAX_ERROR_FRACTION)}),
}

FLAG_CASES = [pytest.param(cmd, flag, value, id=f"{cmd}{flag}={value[:24]!r}")
              for cmd, (_, flags) in COMMANDS.items() for flag, (kind, high) in flags.items()
              for value in bad_values(kind, high)]


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every case runs in its own folder: a path that turns out to be accepted creates nothing in the checkout."""
    monkeypatch.chdir(tmp_path)


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str, float]:
    """Run the CLI in-process: (exit code, stdout, stderr, seconds). Any exception but SystemExit propagates."""
    capsys.readouterr()
    start = time.perf_counter()
    try:
        rc = main(argv)
    except SystemExit as exc:
        rc = exc.code if isinstance(exc.code, int) else 1
    elapsed = time.perf_counter() - start
    out, err = capsys.readouterr()
    return rc, out, err, elapsed


def assert_refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    rc, out, err, elapsed = run_cli(argv, capsys)
    shown = [a if len(a) < 80 else a[:60] + f"...({len(a)} chars)" for a in argv]
    assert "Traceback" not in err, (shown, err[-2000:])
    assert rc == 2, (shown, rc, err[-500:], out[-500:])
    assert err.endswith("\n") and err.count("\n") == 1 and err.startswith("simulator: error: "), (shown, err[-2000:])
    assert out == "", (shown, out[-500:])
    assert elapsed < HANG_GUARD_S, (shown, elapsed)
    return err


@pytest.mark.parametrize(("cmd", "flag", "value"), FLAG_CASES)
def test_bad_number_is_refused_in_one_line(cmd: str, flag: str, value: str, capsys: pytest.CaptureFixture[str]) -> None:
    base = COMMANDS[cmd][0]
    assert_refused([*base, f"{flag}={value}"], capsys)


def test_the_bounds_themselves_are_accepted() -> None:
    """Every flag's stated upper bound parses (the tables above test just past it)."""
    from simulator.cli import build_parser

    parser = build_parser()
    for cmd, (base, flags) in COMMANDS.items():
        for flag, (kind, high) in flags.items():
            value = str(int(high)) if "int" in kind else repr(float(high))
            args = parser.parse_args([*base, f"{flag}={value}"])
            got = getattr(args, flag.lstrip("-").replace("-", "_"))
            got = got[-1] if isinstance(got, list) else got
            assert math.isclose(got, high), (cmd, flag, got)


# ---------------------------------------------------------------- path and id arguments
LONG_PATHS = ["x" * 5000, "x" * 256, "a/" * 2100 + "x.yaml", "é" * 200, "y/" + "x" * 300 + ".csv"]  # é: 2 bytes


def _missing(tmp: Path) -> list[str]:
    return [str(tmp / "missing" / "deeper" / "f.yaml"), "\x00", "nul\x00byte.yaml", "~no-such-user-zz/f.yaml"]


PATH_ARGS: list[tuple[str, list[str], str]] = [  # (case, argv with {} for the value, what may be tried besides long)
    ("train --model", ["train", "--model", "{}", *H, "--gpus", "8", "--global-batch", "64", "--seq-len", "512"], "in"),
    ("train --hardware", ["train", *M, "--hardware", "{}", "--gpus", "8", "--global-batch", "64", "--seq-len", "512"],
     "in"),
    ("train --stack", ["train", *M, *H, "--gpus", "8", "--global-batch", "64", "--seq-len", "512", "--stack", "{}"],
     "in"),
    ("plan --price-book", ["plan", *M, *H, "--gpus", "8", "--global-batch", "64", "--seq-len", "512",
                           "--price-book", "{}"], "in"),
    ("infer --model", ["infer", "--model", "{}", *H, "--input-len", "8", "--output-len", "8"], "in"),
    ("infer --hardware", ["infer", *M, "--hardware", "{}", "--input-len", "8", "--output-len", "8"], "in"),
    ("serve --trace", ["serve", *M, *H, "--trace", "{}"], "in"),
    ("serve --length-dist", ["serve", *M, *H, "--rate", "1", "--requests", "5", "--length-dist", "empirical:{}"], "in"),
    ("serve --records", ["serve", *M, *H, "--rate", "1", "--requests", "5", "--records", "{}"], "out"),
    ("serve --timeseries", ["serve", *M, *H, "--rate", "1", "--requests", "5", "--timeseries", "{}"], "out"),
    ("capacity --model", ["capacity", "--model", "{}", *H, "--rate", "1", "--input-len", "8", "--output-len", "8"],
     "in"),
    ("cluster --scenario", ["cluster", "--scenario", "{}"], "in"),
    ("cluster --records", ["cluster", "--scenario", "research-1k-h100", "--until", "1", "--records", "{}"], "out"),
    ("run", ["run", "{}"], "in"),
    ("sweep grid", ["sweep", "{}", "--out", "{out}"], "in"),
    ("sweep --out", ["sweep", str(ROOT / "workloads/sweeps/training-plans-fixed.yaml"), "--out", "{}"], "long"),
    ("kernel --hardware", ["kernel", "--hardware", "{}", "--op", "gemm", "--m", "8", "--n", "8", "--k", "8"], "in"),
    ("calibrate fit --profile", ["calibrate", "fit", "--dry-run", "--profile", "{}", "--measurements", MEASUREMENTS],
     "in"),
    ("calibrate validate --measurements", ["calibrate", "validate", "--profile", "h100-sxm-80gb",
                                           "--measurements", "{}"], "in"),
    ("validate --csv", ["validate", "training", "--csv", "{}"], "long"),
]
PATH_CASES = [pytest.param(case, argv, i, what, id=f"{case}#{i}") for case, argv, what in PATH_ARGS
              for i in range(len(LONG_PATHS) + 4)]


@pytest.mark.parametrize(("case", "argv", "index", "what"), PATH_CASES)
def test_bad_path_is_refused_in_one_line(case: str, argv: list[str], index: int, what: str, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    values = LONG_PATHS + _missing(tmp_path)
    if index >= len(LONG_PATHS) and what == "long":
        pytest.skip("only long names: this argument is created or written, or its run is long")
    value = values[index]
    if what == "out" and index == len(LONG_PATHS):  # an output file in a folder that does not exist
        value = str(tmp_path / "missing" / "out.csv")
    out_dir = str(tmp_path / "sweep-out")
    assert_refused([a.replace("{}", value).replace("{out}", out_dir) for a in argv], capsys)


# ---------------------------------------------------------------- scenario files (simulator run FILE)
LIST, MAPPING = [1, 2], {"a": 1}
YAML_BAD_NUMBERS: list[Any] = [LIST, MAPPING, math.inf, -math.inf, math.nan, -1, 1e300, 2**64, -(2**64), "abc", True,
                               None, "1e400", [[[]]]]


def _field_bad(kind: str, high: float) -> list[Any]:
    out = list(YAML_BAD_NUMBERS) + [high * 10]
    if "int" in kind:
        out += [1.5, 0.25]
    if kind.startswith("pos"):
        out += [0, 0.0]
    return out


STR_BAD: list[Any] = [LIST, MAPPING, 5, 1.5, True, None, "", "x" * 5000, [["a"]]]
ENUM_BAD: list[Any] = [LIST, MAPPING, 5, "nope", None, "x" * 5000, True]

SCENARIOS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "training": ({"schema_version": 1, "kind": "training", "model": "llama3.1-8b", "hardware": "h100-sxm-80gb",
                  "gpus": 8, "global_batch": 64, "seq_len": 512, "plan": {"tp": 1, "pp": 1}},
                 {"gpus": (POS_INT, L.MAX_GPUS), "global_batch": (POS_INT, L.MAX_BATCH),
                  "seq_len": (POS_INT, L.MAX_TOKENS), "train_tokens": (POS_FLOAT, L.MAX_TRAIN_TOKENS),
                  **{f"plan.{d}": (POS_INT, L.MAX_GPUS) for d in ("tp", "pp", "cp", "ep", "vpp", "fsdp_shard")},
                  "plan.micro_batch": (POS_INT, L.MAX_BATCH),
                  "model": "str", "hardware": "str", "stack": "str", "price_book": "str",
                  "purchase": "enum", "objective": "enum", "plan.precision": "enum", "plan.recompute": "enum",
                  "options.attention_kernel": "enum"}),
    "inference": ({"schema_version": 1, "kind": "inference", "model": "llama3.1-8b", "hardware": "h100-sxm-80gb",
                   "input_len": 64, "output_len": 16},
                  {"batch": (POS_INT, L.MAX_BATCH), "input_len": (POS_INT, L.MAX_TOKENS),
                   "output_len": (POS_INT, L.MAX_TOKENS),
                   **{f"deployment.{d}": (POS_INT, L.MAX_GPUS) for d in ("tp", "pp", "ep")},
                   "deployment.max_seqs": (POS_INT, L.MAX_BATCH),
                   "deployment.max_batched_tokens": (POS_INT, L.MAX_BATCHED_TOKENS),
                   "model": "str", "deployment.precision": "enum", "deployment.engine": "enum"}),
    "serving": ({"schema_version": 1, "kind": "serving", "model": "llama3.1-8b", "hardware": "h100-sxm-80gb",
                 "requests": 20, "rate_per_s": 5, "input_len": 64, "output_len": 16},
                {"replicas": (POS_INT, L.MAX_GPUS), "rate_per_s": (POS_FLOAT, L.MAX_RATE_PER_S),
                 "requests": (POS_INT, L.MAX_REQUESTS), "input_len": (POS_FLOAT, L.MAX_TOKENS),
                 "output_len": (POS_FLOAT, L.MAX_TOKENS), "slo_ttft_s": (POS_FLOAT, L.MAX_SIM_SECONDS),
                 "slo_tpot_s": (POS_FLOAT, L.MAX_SIM_SECONDS), "seed": (NONNEG_INT, L.MAX_SEED),
                 "deployment.tp": (POS_INT, L.MAX_GPUS), "router": "enum", "length_dist": "enum", "arrival": "enum"}),
    "cluster": ({"schema_version": 1, "kind": "cluster", "scenario": "research-1k-h100", "until_s": 3600},
                {"seed": (NONNEG_INT, L.MAX_SEED), "until_s": (POS_FLOAT, L.MAX_SIM_SECONDS), "scenario": "str",
                 "policy": "enum"}),
}


def _set(data: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    out = yaml.safe_load(yaml.safe_dump(data))
    *parents, leaf = dotted.split(".")
    node = out
    for p in parents:
        node = node.setdefault(p, {})
    node[leaf] = value
    return out


def _values(spec: Any) -> list[Any]:
    if spec == "str":
        return STR_BAD
    if spec == "enum":
        return ENUM_BAD
    return _field_bad(*spec)


FIELD_CASES = [pytest.param(kind, field, i, id=f"{kind}.{field}#{i}") for kind, (_, fields) in SCENARIOS.items()
               for field, spec in fields.items() for i in range(len(_values(spec)))]
OPTIONAL_STR = {"name", "stack", "price_book"}  # these may be left out (None)


@pytest.mark.parametrize(("kind", "field", "index"), FIELD_CASES)
def test_bad_scenario_field_is_refused_in_one_line(kind: str, field: str, index: int, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    base, fields = SCENARIOS[kind]
    value = _values(fields[field])[index]
    if value is None and (field in OPTIONAL_STR or field.startswith(("plan.", "options.", "deployment."))
                          or field in ("train_tokens", "policy", "until_s")):
        pytest.skip("None means 'not given' for an optional field")
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(_set(base, field, value)))
    assert_refused(["run", str(path)], capsys)


# ---------------------------------------------------------------- cluster scenario files (simulator cluster --scenario)
CLUSTER_BASE = yaml.safe_load((ROOT / "workloads" / "scenarios" / "research-1k-h100.yaml").read_text())
CLUSTER_FIELDS: dict[str, Any] = {
    "pools.0.nodes": (POS_INT, L.MAX_NODES), "pools.0.spare_nodes": (NONNEG_INT, L.MAX_NODES),
    "pools.0.gpus_per_node": (POS_INT, L.MAX_GPUS_PER_NODE), "pools.0.relative_speed": (POS_FLOAT, L.MAX_RELATIVE_SPEED),
    "failures.failures_per_1000_node_days": (NONNEG_FLOAT, L.MAX_FAILURES_PER_1000_NODE_DAYS),
    "failures.planned_per_1000_node_days": (NONNEG_FLOAT, L.MAX_FAILURES_PER_1000_NODE_DAYS),
    "failures.repair_time_s": (POS_FLOAT, L.MAX_SIM_SECONDS), "horizon_s": (POS_FLOAT, L.MAX_SIM_SECONDS),
    "warmup_s": (NONNEG_FLOAT, L.MAX_SIM_SECONDS), "generators.0.jobs_per_day": (POS_FLOAT, 1e9),
    "pools.0.hardware": "str", "policy": "enum", "pools.0.purchase": "enum",
}


def _set_path(data: Any, dotted: str, value: Any) -> Any:
    out = yaml.safe_load(yaml.safe_dump(data))
    node = out
    *parents, leaf = dotted.split(".")
    for p in parents:
        node = node[int(p)] if isinstance(node, list) else node.setdefault(p, {})
    node[int(leaf) if isinstance(node, list) else leaf] = value
    return out


CLUSTER_CASES = [pytest.param(field, i, id=f"cluster.{field}#{i}") for field, spec in CLUSTER_FIELDS.items()
                 for i in range(len(_values(spec)))]


@pytest.mark.parametrize(("field", "index"), CLUSTER_CASES)
def test_bad_cluster_scenario_field_is_refused_in_one_line(field: str, index: int, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    value = _values(CLUSTER_FIELDS[field])[index]
    if value is None and field in ("pools.0.spare_nodes", "pools.0.gpus_per_node", "pools.0.purchase", "policy",
                                   "warmup_s", "horizon_s", "pools.0.relative_speed"):
        pytest.skip("None means 'not given' for an optional field")
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(_set_path(CLUSTER_BASE, field, value)))
    assert_refused(["cluster", "--scenario", str(path), "--until", "3600"], capsys)


# ---------------------------------------------------------------- malformed files
def _deep(n: int) -> str:
    return "a: " + "[" * n + "]" * n + "\n"


MALFORMED: dict[str, str | bytes] = {
    "recursive anchor": "a: &x [*x]\n",
    "self-referencing mapping": "a: &x {b: *x}\nkind: training\n",
    "alias bomb": "a: &a [1,1,1,1,1,1,1,1,1]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},"
        f"*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)}]\n" for i in range(9)),
    "huge file": "# " + "x" * (3 * 2**20) + "\nkind: training\n",
    "huge list": "kind: training\nmodel: [" + "1," * 1_200_000 + "1]\n",
    "deep nesting": _deep(20_000),
    "deep mapping": "a: " + "{b: " * 5000 + "1" + "}" * 5000 + "\n",
    "empty": "",
    "only a comment": "# nothing\n",
    "a list at the top": "- 1\n- 2\n",
    "a scalar at the top": "42\n",
    "binary": bytes(range(256)) * 40,
    "invalid utf-8": b"kind: training\nmodel: \xff\xfe\n",
    "tabs": "kind:\ttraining\n\tmodel: x\n",
    "duplicate keys": "kind: training\nkind: serving\n",
    "unknown kind": "kind: nonsense\n",
    "kind a list": "kind: [training]\n",
    "kind a mapping": "kind: {a: 1}\n",
    "python tag": "kind: !!python/object/apply:os.system ['true']\n",
    "binary tag": "kind: training\nmodel: !!binary aGVsbG8=\n",
    "timestamp for number": "kind: training\nmodel: llama3.1-8b\nhardware: h100-sxm-80gb\ngpus: 2001-12-14\n"
                            "global_batch: 8\nseq_len: 64\n",
    "unclosed bracket": "kind: training\nplan: {tp: 1\n",
    "cluster overrides not a mapping": "kind: cluster\nscenario: research-1k-h100\noverrides: [1, 2]\n",
    "cluster override nodes huge": "kind: cluster\nscenario: research-1k-h100\noverrides: {pools.0.nodes: 1.0e+9}\n",
    "cluster override failures huge": "kind: cluster\nscenario: research-1k-h100\nuntil_s: 3600\n"
                                      "overrides: {failures.failures_per_1000_node_days: 1.0e+300}\n",
    "cluster override into a scalar": "kind: cluster\nscenario: research-1k-h100\noverrides: {policy.x: 1}\n",
    "cluster override list key": "kind: cluster\nscenario: research-1k-h100\noverrides: {[1]: 2}\n",
}
FILE_COMMANDS = {"run": ["run", "{}"], "cluster": ["cluster", "--scenario", "{}"], "sweep": ["sweep", "{}", "--out", "{out}"]}
MALFORMED_CASES = [pytest.param(name, cmd, id=f"{cmd}:{name}") for name in MALFORMED for cmd in FILE_COMMANDS]


@pytest.mark.parametrize(("name", "cmd"), MALFORMED_CASES)
def test_malformed_file_is_refused_in_one_line(name: str, cmd: str, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    content = MALFORMED[name]
    path = tmp_path / "f.yaml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    argv = [a.replace("{}", str(path)).replace("{out}", str(tmp_path / "out")) for a in FILE_COMMANDS[cmd]]
    assert_refused(argv, capsys)


# ---------------------------------------------------------------- grids (simulator sweep)
GRID_BASE = {"schema_version": 1, "kind": "sweep",
             "base": {"kind": "training", "model": "llama3.1-8b", "hardware": "h100-sxm-80gb", "gpus": 8,
                      "global_batch": 64, "seq_len": 512, "plan": {"tp": 1, "pp": 1}},
             "axes": {"gpus": [8, 16]}}
GRID_BAD: dict[str, Any] = {
    "axes.gpus": [{"range": [1, 1e300]}, {"range": [1, math.inf]}, {"range": [math.nan, 4], "step": 1},
                  {"range": [1, 4], "step": 0}, {"range": [1, 4], "step": -1}, {"range": [1, 4], "step": math.nan},
                  {"range": [1, 2**70], "step": 1}, {"range": [1, 4], "scale": "nope"}, [], "abc", 5, None,
                  {"range": [1, 4], "step": [1]}, {"range": 5}],
    "seeds": [-1, math.inf, 1e300, [1], {"a": 1}, 2**64, 1.5, "x"],
    "shard_size": [0, -1, math.inf, 2**64, [1], 1.5],
    "base.seq_len": [math.inf, 1e300, [8], {"a": 1}, -1, 0, 2**64],
    "base": [None, [1], "x", 5],
    "axes": [[1], "x", 5, {"nope.field": [1]}],
    "zip": [5, "x", [5], [{"gpus": [1, 2], "seq_len": [1]}]],
}
GRID_CASES = [pytest.param(field, i, id=f"grid.{field}#{i}") for field, vals in GRID_BAD.items()
              for i in range(len(vals))]


@pytest.mark.parametrize(("field", "index"), GRID_CASES)
def test_bad_grid_is_refused_in_one_line(field: str, index: int, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "g.yaml"
    path.write_text(yaml.safe_dump(_set(GRID_BASE, field, GRID_BAD[field][index])))
    assert_refused(["sweep", str(path), "--out", str(tmp_path / "out"), "--no-progress"], capsys)


def test_enough_cases_are_generated() -> None:
    n = len(FLAG_CASES) + len(PATH_CASES) + len(FIELD_CASES) + len(CLUSTER_CASES) + len(MALFORMED_CASES) + len(
        GRID_CASES)
    assert n >= 1000, n


# ---------------------------------------------------------------- sizes each within bounds whose product is not
COMBOS = {
    "serve: requests x tokens past a simulation": ["serve", *M, *H, "--rate", "10", "--requests", "10000000",
                                                   "--input-len", "1000"],
    "plan: more GPU counts than a search compares": ["plan", *M, *H, "--global-batch", "64", "--seq-len", "512",
                                                     "--gpus", *(["8"] * 1001)],
    "capacity: more deployments than a search compares": [
        "capacity", *M, *H, "--rate", "1", "--input-len", "64", "--output-len", "8", "--tp", *(["1", "2"] * 20),
        "--pp", *(["1"] * 30)],
    "capacity: ratio not a pair": ["capacity", *M, *H, "--rate", "1", "--input-len", "64", "--output-len", "8",
                                   "--disaggregated", "1:99999999999999999999"],
}


@pytest.mark.parametrize("name", list(COMBOS))
def test_combined_sizes_are_refused_in_one_line(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert_refused(COMBOS[name], capsys)


# ---------------------------------------------------------------- model and hardware files (--model FILE, --hardware FILE)
def _shipped(folder: str, name: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / folder / f"{name}.yaml").read_text())


POS_BOUNDED = "pos_bounded"  # a float with a floor above zero as well as a ceiling: (low, high)
# field: (base file, kind, upper bound or (floor, ceiling))
MODEL_FILE_FIELDS: dict[str, tuple[str, str, Any]] = {
    "n_layers": ("llama3.1-8b", POS_INT, L.MAX_LAYERS), "d_model": ("llama3.1-8b", POS_INT, L.MAX_MODEL_WIDTH),
    "n_heads": ("llama3.1-8b", POS_INT, L.MAX_HEADS), "n_kv_heads": ("llama3.1-8b", POS_INT, L.MAX_HEADS),
    "d_ff": ("llama3.1-8b", POS_INT, L.MAX_FFN_WIDTH), "vocab_size": ("llama3.1-8b", POS_INT, L.MAX_VOCAB),
    "context_window_tokens": ("llama3.1-8b", POS_INT, L.MAX_CONTEXT_WINDOW),
    "max_position_embeddings": ("gpt3-175b", NONNEG_INT, L.MAX_CONTEXT_WINDOW),
    "published_params": ("llama3.1-8b", POS_FLOAT, L.MAX_MODEL_PARAMS),
    "attention.head_dim": ("llama3.1-8b", POS_INT, L.MAX_MODEL_WIDTH),
    "moe.n_experts": ("mixtral-8x7b", POS_INT, L.MAX_EXPERTS), "moe.top_k": ("mixtral-8x7b", POS_INT, L.MAX_EXPERTS),
    "moe.d_ff_expert": ("mixtral-8x7b", POS_INT, L.MAX_FFN_WIDTH),
    "moe.n_shared_experts": ("mixtral-8x7b", NONNEG_INT, L.MAX_EXPERTS),
    "moe.first_dense_layers": ("mixtral-8x7b", NONNEG_INT, L.MAX_LAYERS),
    "attention.kv_lora_rank": ("deepseek-v3", POS_INT, L.MAX_MODEL_WIDTH),
    "attention.q_lora_rank": ("deepseek-v3", POS_INT, L.MAX_MODEL_WIDTH),
}
_HW = "h100-sxm-80gb"
HARDWARE_FILE_FIELDS: dict[str, tuple[str, str, Any]] = {
    "peak_dense_flop_per_s.bf16": (_HW, POS_BOUNDED, (L.MIN_PEAK_FLOP_PER_S, L.MAX_PEAK_FLOP_PER_S)),
    "peak_dense_flop_per_s.fp8": (_HW, POS_BOUNDED, (L.MIN_PEAK_FLOP_PER_S, L.MAX_PEAK_FLOP_PER_S)),
    "memory.hbm_bytes": (_HW, POS_BOUNDED, (L.MIN_DEVICE_BYTES, L.MAX_DEVICE_BYTES)),
    "memory.hbm_bandwidth_bytes_per_s": (_HW, POS_BOUNDED, (L.MIN_BYTES_PER_S, L.MAX_BYTES_PER_S)),
    "memory.reserved_bytes": (_HW, NONNEG_FLOAT, L.MAX_DEVICE_BYTES),
    "power.tdp_w": (_HW, POS_FLOAT, L.MAX_TDP_W),
    "power.server_to_gpu_power_ratio": (_HW, POS_FLOAT, L.MAX_SERVER_POWER_RATIO),
    "node.gpus_per_node": (_HW, POS_INT, L.MAX_GPUS_PER_NODE),
    "node.scale_up_domain_gpus": ("gb200-nvl72", POS_INT, L.MAX_GPUS),
    "node.intra_node.bandwidth_bytes_per_s_unidir": (_HW, POS_BOUNDED, (L.MIN_BYTES_PER_S, L.MAX_BYTES_PER_S)),
    "node.scale_out.bandwidth_bytes_per_s_unidir": (_HW, POS_BOUNDED, (L.MIN_BYTES_PER_S, L.MAX_BYTES_PER_S)),
    "node.intra_node.latency_s": (_HW, POS_FLOAT, L.MAX_LATENCY_S),
    "node.scale_out.hop_latency_s": (_HW, NONNEG_FLOAT, L.MAX_LATENCY_S),
    "node.intra_node.bus_efficiency": (_HW, POS_BOUNDED, (L.MIN_EFFICIENCY, 1.2)),
    "node.host.speed_vs_reference": (_HW, POS_BOUNDED, (L.MIN_HOST_SPEED, L.MAX_HOST_SPEED)),
    "efficiency.gemm.compute_efficiency": (_HW, POS_BOUNDED, (L.MIN_EFFICIENCY, 1.0)),
    "efficiency.gemm.launch_s": (_HW, NONNEG_FLOAT, L.MAX_LATENCY_S),
    "efficiency.memory_bandwidth_efficiency": (_HW, POS_BOUNDED, (L.MIN_EFFICIENCY, 1.0)),
    "efficiency.kernel_launch_s": (_HW, NONNEG_FLOAT, L.MAX_LATENCY_S),
}


def _file_field_bad(kind: str, bound: Any) -> list[Any]:
    """What a model or hardware file field must refuse: the scenario-field values, past the ceiling, under a floor."""
    if kind == POS_BOUNDED:
        low, high = bound
        return [*_field_bad(POS_FLOAT, high), high * 1.5, low / 10]
    return [*_field_bad(kind, bound), bound + 1 if "int" in kind else bound * 1.5]


DATA_FILE_CASES = [pytest.param(what, field, i, id=f"{what}.{field}#{i}")
                   for what, table in (("model", MODEL_FILE_FIELDS), ("hardware", HARDWARE_FILE_FIELDS))
                   for field, (_, kind, bound) in table.items() for i in range(len(_file_field_bad(kind, bound)))]


@pytest.mark.parametrize(("what", "field", "index"), DATA_FILE_CASES)
def test_bad_model_or_hardware_field_is_refused_in_one_line(what: str, field: str, index: int, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    """A model or accelerator file with a value no published model or device comes near (or none at all: inf, a
    list, a boolean): one line naming the field, as for a scenario file."""
    table, folder = (MODEL_FILE_FIELDS, "workloads/models") if what == "model" else (HARDWARE_FILE_FIELDS,
                                                                                     "hardware_profiles")
    base, kind, bound = table[field]
    value = _file_field_bad(kind, bound)[index]
    data = _set_path(_shipped(folder, base), field, value)
    data["id"] = "edited"
    path = tmp_path / "edited.yaml"
    path.write_text(yaml.safe_dump(data))
    if value is None and field not in ("n_layers", "d_model", "n_heads", "d_ff", "vocab_size", "moe.n_experts",
                                       "moe.top_k", "moe.d_ff_expert", "attention.kv_lora_rank"):
        pytest.skip("None means 'not given' for an optional field")
    model, hw = (str(path), _HW) if what == "model" else ("llama3.1-8b", str(path))
    err = assert_refused(["infer", "--model", model, "--hardware", hw, "--input-len", "8", "--output-len", "8"], capsys)
    assert field.rsplit(".", 1)[-1] in err, err


# ---------------------------------------------------------------- speculative decoding, prefix caching, engine versions
FEATURE_FLAGS: dict[str, tuple[str, float]] = {
    "--num-speculative-tokens": (POS_INT, L.MAX_SPECULATIVE_TOKENS), "--acceptance-rate": (POS_FLOAT, 1.0),
    "--draft-tp": (POS_INT, L.MAX_GPUS), "--draft-layers": (POS_FLOAT, L.MAX_DRAFT_LAYERS),
    "--prefix-hit-rate": (NONNEG_FLOAT, 1.0), "--prefix-tokens": (NONNEG_INT, L.MAX_TOKENS),
}
FEATURE_FLAG_CASES = [pytest.param(cmd, flag, value, id=f"{cmd}{flag}={value[:24]!r}")
                      for cmd in ("infer", "serve", "capacity") for flag, (kind, high) in FEATURE_FLAGS.items()
                      for value in bad_values(kind, high)]


@pytest.mark.parametrize(("cmd", "flag", "value"), FEATURE_FLAG_CASES)
def test_bad_feature_number_is_refused_in_one_line(cmd: str, flag: str, value: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    err = assert_refused([*COMMANDS[cmd][0], f"{flag}={value}"], capsys)
    assert flag in err, err


def test_the_feature_bounds_themselves_are_accepted() -> None:
    from simulator.cli import build_parser

    parser = build_parser()
    for cmd in ("infer", "serve", "capacity"):
        for flag, (kind, high) in FEATURE_FLAGS.items():
            value = str(int(high)) if "int" in kind else repr(float(high))
            got = getattr(parser.parse_args([*COMMANDS[cmd][0], f"{flag}={value}"]), flag.lstrip("-").replace("-", "_"))
            assert math.isclose(got, high), (cmd, flag, got)


SPEC = {"num_speculative_tokens": 3, "acceptance_rate": 0.7}
FEATURE_SCENARIOS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "inference": ({**SCENARIOS["inference"][0], "deployment": {"speculative": SPEC}},
                  {"deployment.speculative.num_speculative_tokens": (POS_INT, L.MAX_SPECULATIVE_TOKENS),
                   "deployment.speculative.acceptance_rate": (POS_FLOAT, 1.0),
                   "deployment.speculative.draft_layers": (POS_FLOAT, L.MAX_DRAFT_LAYERS),
                   "deployment.speculative.draft_tp": (POS_INT, L.MAX_GPUS),
                   "deployment.speculative.draft_model": "str",
                   "prefix_hit_rate": (NONNEG_FLOAT, 1.0), "prefix_tokens": (NONNEG_INT, L.MAX_TOKENS),
                   "deployment.engine_version": "str"}),
    "serving": ({**SCENARIOS["serving"][0], "deployment": {"speculative": SPEC}},
                {"length_cv": (POS_FLOAT, 100.0), "prefill_replicas": (NONNEG_INT, L.MAX_GPUS),
                 "decode_replicas": (NONNEG_INT, L.MAX_GPUS), "prefix_hit_rate": (NONNEG_FLOAT, 1.0),
                 "prefix_tokens": (NONNEG_INT, L.MAX_TOKENS),
                 "deployment.speculative.acceptance_rate": (POS_FLOAT, 1.0),
                 "deployment.speculative.num_speculative_tokens": (POS_INT, L.MAX_SPECULATIVE_TOKENS)}),
}
ENGINE_VERSION_BAD = ["vllm@9.9", "vllm@", "@0.6", "nope@0.6", "vllm@0.6@1", "trtllm@0.10"]
FEATURE_FIELD_CASES = [pytest.param(kind, field, i, id=f"{kind}.{field}#{i}")
                       for kind, (_, fields) in FEATURE_SCENARIOS.items()
                       for field, spec in fields.items() for i in range(len(_values(spec)))]
FEATURE_FIELD_CASES += [pytest.param(kind, "deployment.engine", i, id=f"{kind}.deployment.engine={v!r}")
                        for kind in ("inference", "serving") for i, v in enumerate(ENGINE_VERSION_BAD)]


@pytest.mark.parametrize(("kind", "field", "index"), FEATURE_FIELD_CASES)
def test_bad_feature_scenario_field_is_refused_in_one_line(kind: str, field: str, index: int, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    base, fields = FEATURE_SCENARIOS[kind]
    value = ENGINE_VERSION_BAD[index] if field == "deployment.engine" else _values(fields[field])[index]
    if value is None and field in ("deployment.speculative.draft_tp", "deployment.speculative.draft_model",
                                   "deployment.engine_version"):
        pytest.skip("None means 'not given' for an optional field")
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(_set(base, field, value)))
    assert_refused(["run", str(path)], capsys)


_INFER = ["infer", "--model", "llama3.1-70b", *H, "--tp", "8", "--input-len", "512", "--output-len", "64"]
_SPEC = ["--num-speculative-tokens", "3", "--acceptance-rate", "0.7"]
FEATURE_COMBOS = {
    "acceptance rate without k": [*_INFER, "--acceptance-rate", "0.7"],
    "k without acceptance rate": [*_INFER, "--num-speculative-tokens", "3"],
    "draft model without k": [*_INFER, "--draft-model", "llama3.1-8b"],
    "unknown draft model": [*_INFER, *_SPEC, "--draft-model", "no-such-draft"],
    "draft of another tokenizer": [*_INFER, *_SPEC, "--draft-model", "llama2-7b"],
    "draft tp past the target's": [*_INFER, *_SPEC, "--draft-model", "llama3.1-8b", "--draft-tp", "16"],
    "draft layers with a draft model": [*_INFER, *_SPEC, "--draft-model", "llama3.1-8b", "--draft-layers", "2"],
    "draft tp without a draft model": [*_INFER, *_SPEC, "--draft-tp", "1"],
    "hit rate and shared prefix": [*_INFER, "--prefix-hit-rate", "0.5", "--prefix-tokens", "100"],
    "serve: a draft that does not fit": ["serve", "--model", "llama3.1-70b", *H, "--tp", "2", "--rate", "1",
                                         "--requests", "5", *_SPEC, "--draft-model", "llama3.1-8b"],
    "serve: unknown draft model": ["serve", *M, *H, "--rate", "1", "--requests", "5", *_SPEC, "--draft-model", "x"],
    "capacity: hit rate and shared prefix": [*COMMANDS["capacity"][0], "--prefix-hit-rate", "0.2",
                                             "--prefix-tokens", "8"],
    **{f"{cmd}: engine version not shipped": [*COMMANDS[cmd][0], "--engine", "vllm@9.9"]
       for cmd in ("infer", "serve", "capacity")},
    "infer: engine version of another family": [*COMMANDS["infer"][0], "--engine", "trtllm@0.10"],
}


@pytest.mark.parametrize("name", list(FEATURE_COMBOS))
def test_bad_feature_combination_is_refused_in_one_line(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    err = assert_refused(FEATURE_COMBOS[name], capsys)
    assert any(w in err for w in ("--num-speculative-tokens", "--acceptance-rate", "--draft", "prefix", "engine")), err


def test_infer_names_a_draft_that_does_not_fit(capsys: pytest.CaptureFixture[str]) -> None:
    """infer prints its table (the sizes that do not fit) and one line on stderr naming the draft; exit 2."""
    rc, out, err, _ = run_cli(["infer", "--model", "llama3.1-70b", *H, "--tp", "2", "--input-len", "512",
                               "--output-len", "64", *_SPEC, "--draft-model", "llama3.1-8b"], capsys)
    assert rc == 2 and "Traceback" not in err
    assert err.count("\n") == 1 and "draft" in err, err
    assert "feasible          False" in out


# ---------------------------------------------------------------- simulator lifecycle (issue 18)
# The base is quick to refuse from: every bad flag or input below is caught before any plan search or simulation.
LIFECYCLE_BASE: dict[str, list[str]] = {"--target-loss": ["2.2"], "--tokens-per-day": ["1e10"], "--candidates": ["1"],
                                        "--compression": [], "--tp": ["1"], "--requests": ["20"]}


def _lifecycle_argv(changes: dict[str, list[str] | None]) -> list[str]:
    """`simulator lifecycle` with the base's flags, each changed (a list of values) or dropped (None)."""
    flags = {**LIFECYCLE_BASE, **changes}
    return ["lifecycle", *(w for flag, values in flags.items() if values is not None for w in (flag, *values))]


LIFECYCLE_FLAGS: dict[str, tuple[str, float]] = {
    "--target-loss": (POS_FLOAT, L.MAX_LOSS_NATS), "--tokens-per-day": (POS_FLOAT, L.MAX_TOKENS_PER_DAY),
    "--deployment-months": (POS_FLOAT, L.MAX_DEPLOYMENT_MONTHS), "--candidates": (POS_INT, L.MAX_LIFECYCLE_CANDIDATES),
    "--train-gpus": (POS_INT, L.MAX_GPUS), "--global-batch": (POS_INT, L.MAX_BATCH), "--seq-len": (POS_INT, L.MAX_TOKENS),
    "--input-len": (POS_INT, L.MAX_TOKENS), "--output-len": (POS_INT, L.MAX_TOKENS),
    "--slo-ttft-p99": (POS_FLOAT, L.MAX_SIM_SECONDS), "--slo-tpot-p99": (POS_FLOAT, L.MAX_SIM_SECONDS),
    "--requests": (POS_INT, L.MAX_PROBE_REQUESTS), "--seed": (NONNEG_INT, L.MAX_SEED), "--top": (POS_INT, L.MAX_TOP),
    "--tp": (POS_INT, L.MAX_GPUS), "--reference-tokens": (POS_FLOAT, L.MAX_TRAIN_TOKENS),
}
LIFECYCLE_FLAG_CASES = [pytest.param(flag, value, id=f"lifecycle{flag}={value[:24]!r}")
                        for flag, (kind, high) in LIFECYCLE_FLAGS.items() for value in bad_values(kind, high)]


@pytest.mark.parametrize(("flag", "value"), LIFECYCLE_FLAG_CASES)
def test_bad_lifecycle_number_is_refused_in_one_line(flag: str, value: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = _lifecycle_argv({flag: None})
    assert_refused([*argv, f"{flag}={value}"], capsys)


def _lifecycle_fit(tmp: Path, **changes: Any) -> str:
    """A copy of the shipped Hoffmann fit with some fields changed, as a user's fit file."""
    data = yaml.safe_load((ROOT / "workloads" / "scaling_laws" / "hoffmann2022.yaml").read_text())
    data.update(id="mine", **changes)
    path = tmp / "mine.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


_SL = ROOT / "workloads" / "scaling_laws"
# (case, flags changed from the base (None drops one), what the one line must name); "{...}" values are made per case
LIFECYCLE_BAD: list[tuple[str, dict[str, list[str] | None], str]] = [
    ("target below the fit's E", {"--target-loss": ["1.5"]}, "--target-loss"),
    ("target at the fit's E", {"--target-loss": ["1.69"]}, "--target-loss"),
    ("target below the refit's E", {"--target-loss": ["1.8"], "--scaling-law": ["besiroglu2024"]}, "--target-loss"),
    ("zero demand", {"--tokens-per-day": ["0"]}, "--tokens-per-day"),
    ("negative demand", {"--tokens-per-day": ["-1e9"]}, "--tokens-per-day"),
    ("zero requests a day", {"--tokens-per-day": None, "--requests-per-day": ["0"]}, "--requests-per-day"),
    ("zero in a sweep", {"--tokens-per-day": ["1e9", "0"]}, "--tokens-per-day"),
    ("zero months", {"--deployment-months": ["0"]}, "--deployment-months"),
    ("family the fit does not cover", {"--family": ["mixtral"]}, "--family"),
    ("unknown family", {"--family": ["llama9"]}, "model family"),
    ("unknown fit", {"--scaling-law": ["chinchila"]}, "scaling law"),
    ("unknown compression method", {"--compression": ["fp3"]}, "compression method"),
    ("target and reference both", {"--reference-model": ["llama3.1-8b"], "--reference-tokens": ["1e12"]},
     "--target-loss"),
    ("reference without tokens", {"--target-loss": None, "--reference-model": ["llama3.1-8b"]}, "--reference-tokens"),
    ("no target", {"--target-loss": None}, "--target-loss"),
    ("no demand", {"--tokens-per-day": None}, "--tokens-per-day"),
    ("demand past the rate bound", {"--tokens-per-day": ["1e18"], "--input-len": ["1"], "--output-len": ["1"]},
     "--tokens-per-day"),
    ("fit file of a wrong exponent", {"--scaling-law": ["{fit:alpha}"]}, "alpha"),
    ("fit file without the family", {"--scaling-law": ["{fit:families}"]}, "--family"),
    ("fit file of another kind", {"--scaling-law": [str(ROOT / "workloads" / "models" / "llama3.1-8b.yaml")]}, "kind"),
    ("family file as the fit", {"--scaling-law": [str(_SL / "families" / "llama3.yaml")]}, "kind"),
    ("missing fit file", {"--scaling-law": ["{tmp}/none.yaml"]}, "does not exist"),
    ("unknown reference model", {"--target-loss": None, "--reference-model": ["llama9"],
                                 "--reference-tokens": ["1e12"]}, "model"),
    ("unknown serving hardware", {"--serve-hardware": ["h900"]}, "hardware"),
]


def _made(value: str, tmp: Path) -> str:
    if value == "{fit:alpha}":
        return _lifecycle_fit(tmp, alpha={"value": 7.0, "source": "typo"})
    if value == "{fit:families}":
        return _lifecycle_fit(tmp, families=["mixtral"])
    return value.replace("{tmp}", str(tmp))


@pytest.mark.parametrize(("case", "changes", "names"), LIFECYCLE_BAD, ids=[c[0] for c in LIFECYCLE_BAD])
def test_bad_lifecycle_input_is_refused_in_one_line_naming_the_field(case: str, changes: dict[str, list[str] | None],
                                                                     names: str, tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    made = {k: None if v is None else [_made(x, tmp_path) for x in v] for k, v in changes.items()}
    err = assert_refused(_lifecycle_argv(made), capsys)
    assert names in err, err


LIFECYCLE_PATHS = ["--scaling-law", "--family", "--compression", "--reference-model", "--train-hardware",
                   "--serve-hardware", "--train-price-book", "--serve-price-book", "--stack"]
LIFECYCLE_PATH_CASES = [pytest.param(flag, i, id=f"lifecycle{flag}#{i}") for flag in LIFECYCLE_PATHS
                        for i in range(len(LONG_PATHS) + 4)]


@pytest.mark.parametrize(("flag", "index"), LIFECYCLE_PATH_CASES)
def test_bad_lifecycle_path_is_refused_in_one_line(flag: str, index: int, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    value = (LONG_PATHS + _missing(tmp_path))[index]
    changes: dict[str, list[str] | None] = {flag: [value]}
    if flag == "--reference-model":
        changes.update({"--target-loss": None, "--reference-tokens": ["1e12"]})
    assert_refused(_lifecycle_argv(changes), capsys)
