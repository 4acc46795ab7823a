"""Engine versions end to end (issue 16, item 5 plumbing): `simulator list engines`, NAME@VERSION in scenario files
and the launch settings of a chosen version. Expectations are read from the engine YAML files themselves."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from cli_util import run_cli

import simulator as sim

ROOT = Path(__file__).resolve().parents[1]
FILES = {p.stem: yaml.safe_load(p.read_text()) for p in sorted((ROOT / "workloads" / "engines").glob("*.yaml"))}


def test_list_engines_shows_every_shipped_version(capsys):
    rc, out, err = run_cli(capsys, ["list", "engines"])
    assert rc == 0 and err == ""
    rows = {line.split()[0]: line for line in out.splitlines()[1:-1]}
    for family, data in FILES.items():
        for version, v in data["versions"].items():
            ref = family if version == data["default_version"] else f"{family}@{version}"
            assert ref in rows, ref
            line = rows[ref]
            assert f" {version} " in line and v["released"] in line and f"workloads/engines/{family}.yaml" in line
            assert (" yes " in line) == (version == data["default_version"])


def test_list_engines_json_is_what_engine_takes(capsys):
    rc, out, _ = run_cli(capsys, ["list", "engines", "--json"])
    refs = json.loads(out)
    assert rc == 0 and len(refs) == sum(len(d["versions"]) for d in FILES.values())
    for ref in refs:
        dep = sim.Deployment(engine=ref)
        rec = sim.estimate_inference("llama3.1-8b", "h100-sxm-80gb", dep, batch=1, input_len=64, output_len=8)
        assert rec.to_dict()["engine"] == ref


def _scenario(tmp_path: Path, deployment: dict) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"schema_version": 1, "kind": "inference", "model": "llama3.1-8b",
                                    "hardware": "h100-sxm-80gb", "input_len": 512, "output_len": 64,
                                    "deployment": deployment}))
    return path


def test_scenario_engine_version_two_spellings_agree(tmp_path):
    a = sim.run_scenario(_scenario(tmp_path, {"engine": "vllm@0.6"}))
    b = sim.run_scenario(_scenario(tmp_path, {"engine": "vllm", "engine_version": "0.6"}))
    default = sim.run_scenario(_scenario(tmp_path, {"engine": "vllm"}))
    assert a["engine"] == b["engine"] == "vllm@0.6" and default["engine"] == "vllm"
    assert a["ttft_s"] == b["ttft_s"]


def test_launch_settings_follow_the_chosen_version():
    out = sim.serving_launch(sim.Deployment(engine="vllm@0.6"), model="llama3.1-8b", hardware="h100-sxm-80gb",
                             max_model_len=1024)
    text = out["vllm"]
    assert "vllm 0.6" in text and "--enable-chunked-prefill" not in text  # 0.6 prefills whole prompts (engine file)
    default = sim.serving_launch(sim.Deployment(engine="vllm"), model="llama3.1-8b", hardware="h100-sxm-80gb",
                                 max_model_len=1024)["vllm"]
    assert "--enable-chunked-prefill" in default and "these flags were checked against" not in default
    trt = sim.serving_launch(sim.Deployment(engine="trtllm@0.9"), model="llama3.1-8b", hardware="h100-sxm-80gb")
    assert "trtllm-serve" in trt and "trtllm 0.9" in trt["trtllm-serve"]


@pytest.mark.parametrize("ref", ["vllm@9.9", "sglang@0.1"])
def test_a_version_not_shipped_is_refused(ref):
    with pytest.raises(sim.UnknownIdError, match="shipped versions"):
        sim.estimate_inference("llama3.1-8b", "h100-sxm-80gb", sim.Deployment(engine=ref), batch=1, input_len=8,
                               output_len=8)
