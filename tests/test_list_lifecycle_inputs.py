"""`simulator list` shows the lifecycle planner's inputs (scaling-law fits, model families, compression methods) the
way it shows hardware and engines: one line each, the id first, and --json gives the ids `simulator lifecycle` takes."""

import json

import pytest
from cli_util import run_cli

import simulator as sim

KINDS = {"scaling-laws": sim.scaling_law_ids, "families": sim.model_family_ids,
         "compression": sim.compression_method_ids}


@pytest.mark.parametrize("what", KINDS)
def test_each_lifecycle_input_is_listed_with_its_id_first(capsys, what):
    code, out, err = run_cli(capsys, ["list", what, "--json"])
    assert code == 0 and not err
    ids = json.loads(out)
    assert ids == KINDS[what]() and ids
    code, out, err = run_cli(capsys, ["list", what])
    assert code == 0 and not err
    lines = out.splitlines()
    firsts = [line.split()[0] for line in lines[1:-1]]  # a header, one line per id, a footer naming the files
    assert firsts == ids
    assert "workloads/scaling_laws" in lines[-1]


def test_the_listed_figures_are_the_files_figures(capsys):
    _, out, _ = run_cli(capsys, ["list", "scaling-laws"])
    law = sim.load_scaling_law("hoffmann2022")
    row = next(line for line in out.splitlines() if line.startswith("hoffmann2022"))
    assert f"{law.e_nats:.3f}" in row and f"{law.a:.1f}" in row and "llama3" in row
    _, out, _ = run_cli(capsys, ["list", "compression"])
    row = next(line for line in out.splitlines() if line.startswith("fp8 "))
    assert f"{sim.load_compression_method('fp8').loss_delta_nats:.4f}" in row


def test_a_windowed_model_says_so_in_the_models_list(capsys):
    _, out, _ = run_cli(capsys, ["list", "models"])
    row = next(line for line in out.splitlines() if line.startswith("gpt-oss-120b"))
    assert "SWA 128" in row
    assert "SWA" not in next(line for line in out.splitlines() if line.startswith("llama3.1-8b "))
