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
    assert main(["validate", "cluster", "--seeds", "0"]) == 2
    assert "--seeds" in capsys.readouterr().err
