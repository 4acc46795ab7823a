"""A bad deployment setting is named the way the user wrote it: its flag on the command line, its field (and the file)
in a scenario file."""

from pathlib import Path

import pytest
import yaml
from cli_util import run_cli

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "workloads" / "scenarios" / "serve-llama3.1-70b-speculative-prefix.yaml"


def scenario(tmp_path, **deployment):
    data = yaml.safe_load(SCENARIO.read_text())
    data["deployment"].update(deployment)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(("change", "field", "flag"), [
    ({"tp": 2, "dp_attention": 3}, "deployment.dp_attention 3 must divide deployment.tp 2", "--dp-attention 3"),
    ({"ep": 2}, "deployment.ep 2 needs a mixture-of-experts model", "--ep 2"),
    ({"tp": 3}, "deployment.tp 3 does not divide the 64 attention heads", "--tp 3"),
])
def test_a_scenario_file_names_the_field_and_the_cli_names_the_flag(tmp_path, capsys, change, field, flag):
    path = scenario(tmp_path, **change)
    code, out, err = run_cli(capsys, ["run", str(path)])
    assert code == 2 and not out
    assert err.strip().count("\n") == 0 and f"{path}: {field}" in err and "--" not in err
    args = ["infer", "--model", "llama3.1-70b", "--hardware", "h100-sxm-80gb", "--batch", "1", "--input-len", "8",
            "--output-len", "8"]
    for key, value in change.items():
        args += ["--" + key.replace("_", "-"), str(value)]
    code, out, err = run_cli(capsys, args)
    assert code == 2 and flag in err and "deployment." not in err


def test_a_draft_setting_in_a_file_is_named_under_speculative(tmp_path, capsys):
    path = scenario(tmp_path, speculative={"num_speculative_tokens": 4, "acceptance_rate": 0.7,
                                           "draft_model": "llama3.2-3b-instruct", "draft_tp": 8})
    code, _, err = run_cli(capsys, ["run", str(path)])
    assert code == 2 and "deployment.speculative.draft_tp 8 exceeds the target's deployment.tp 4" in err


def test_a_decode_pool_setting_is_named_under_decode_deployment(tmp_path, capsys):
    data = yaml.safe_load(SCENARIO.read_text())
    data["deployment"].pop("speculative")
    data.update(prefill_replicas=1, decode_replicas=1, decode_deployment={"tp": 3, "precision": "fp8"})
    path = tmp_path / "disagg.yaml"
    path.write_text(yaml.safe_dump(data))
    code, _, err = run_cli(capsys, ["run", str(path)])
    assert code == 2 and f"{path}: decode_deployment.tp 3 does not divide" in err and "deployment.tp 4" not in err
