"""`simulator validate`: the validation tables from the installed package, one line and exit 2 for a bad part."""

from __future__ import annotations

import pytest

from simulator.cli import main


def test_validate_prints_each_part_and_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "collectives", "kernels"]) == 0
    out = capsys.readouterr().out
    assert out.index("==== collectives") < out.index("==== kernels")  # in the order asked for
    assert "check families over target: 0" in out
    assert "host-cpu" in out  # the committed CPU measurement is found through the data root


def test_unknown_part_is_one_line_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "trainig"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'trainig'" in err[0] and "training" in err[0]


def test_seeds_out_of_range_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:  # refused by the argument's type, before anything runs
        main(["validate", "cluster", "--seeds", "0"])
    assert exc.value.code == 2
    assert "--seeds" in capsys.readouterr().err


def test_readme_kernel_line_is_what_validate_prints():
    """The README's kernel figures are `simulator validate kernels`'s held-out medians, file by file."""
    import re
    from pathlib import Path

    import simulator as sim

    text = " ".join(Path(__file__).resolve().parent.parent.joinpath("README.md").read_text().split())
    m = re.search(r"this machine's GEMMs ([\d.]+)% \(p90 ([\d.]+)%\); published A100 / H100 linear layers ([\d.]+)% / "
                  r"([\d.]+)%; NCCL all-reduce inside an A100 node ([\d.]+)%, an H200 node ([\d.]+)%, and across A100 "
                  r"nodes ([\d.]+)%", text)
    assert m, "README kernel line not found"
    got = {path.name: rep["families"] for _, path, rep, _ in sim.validate_kernels()}
    host = next(f for name, f in got.items() if name.startswith("host-cpu"))["gemm"]["check"]

    def pct(families, fam="gemm", key="median"):
        return f"{families[fam]['check'][key] * 100:.1f}"

    assert (m[1], m[2]) == (f"{host['median'] * 100:.1f}", f"{host['p90'] * 100:.1f}")
    assert (m[3], m[4]) == (pct(got["a100-gemm.csv"]), pct(got["h100-gemm.csv"]))
    assert (m[5], m[6], m[7]) == (pct(got["a100-allreduce.csv"], "allreduce"), pct(got["h200-allreduce.csv"], "allreduce"),
                                  pct(got["a100-allreduce-cross.csv"], "allreduce"))


def test_validate_writes_its_summary_into_the_readme_block(tmp_path):
    import pytest

    from simulator.errors import DataFileError
    from simulator.validation.report import PartReport, write_readme

    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- validate:start -->\nold figures\n<!-- validate:end -->\nrest\n")
    write_readme(readme, [PartReport("kernels", "table", True, ("gemm a.csv: held-out median |error| 3.1%",))],
                 "2026-12-06")
    text = readme.read_text()
    assert "old figures" not in text and text.startswith("intro\n") and text.endswith("rest\n")
    assert "# simulator validate, 2026-12-06" in text and "kernels      gemm a.csv: held-out median" in text
    (tmp_path / "plain.md").write_text("no block\n")
    with pytest.raises(DataFileError, match="no <!-- validate:start -->"):
        write_readme(tmp_path / "plain.md", [], "2026-12-06")
