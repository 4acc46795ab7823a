"""Write fitted curves back into a hardware profile, editing only the blocks that change.

The `efficiency:` block is re-rendered (inline comments of keys that keep their value are kept) and a
link's `latency_s` / `bus_efficiency` / `regimes` lines are replaced in place, so the rest of the
file, its comments and sources stay as written. The new text is validated by the schema before the
file is replaced.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from simulator.catalog import format_validation_error, read_yaml, validate_file
from simulator.catalog.schema import HardwareFile
from simulator.errors import DataFileError

_KEY = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z_0-9]+):(?P<rest>.*)$")


def fmt_number(key: str, value: float) -> str:
    """YAML-safe SI numbers: efficiencies as plain decimals, seconds and sizes as 1.234e-06 (always a dot)."""
    if key.endswith("_s") or abs(value) >= 1e4 or (value != 0 and abs(value) < 1e-3):
        return f"{value:.3e}"
    return f"{value:.4g}" if "." in f"{value:.4g}" else f"{value:.1f}"


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _block_span(lines: list[str], key: str, indent: int = 0, start: int = 0, end: int | None = None) -> tuple[int, int]:
    """Line range [i, j) of `key:` at `indent` and its indented children."""
    end = len(lines) if end is None else end
    for i in range(start, end):
        m = _KEY.match(lines[i])
        if m and len(m["indent"]) == indent and m["key"] == key:
            j = i + 1
            while j < end and (not lines[j].strip() or lines[j].startswith(" " * (indent + 1))
                               or lines[j].lstrip().startswith("#") and lines[j].startswith(" " * (indent + 1))):
                j += 1
            return i, j
    raise DataFileError(f"profile has no '{key}:' block at indent {indent}")


def _inline_comments(lines: list[str]) -> dict[str, str]:
    out = {}
    for line in lines:
        m = _KEY.match(line)
        if m and "#" in m["rest"] and '"' not in m["rest"]:
            out[m["key"]] = "  #" + m["rest"].split("#", 1)[1].rstrip()
    return out


def render_efficiency(eff: dict[str, Any], comments: dict[str, str], changed: set[str]) -> list[str]:
    """The `efficiency:` block as YAML lines (keys in schema order)."""
    def scalar(indent: str, key: str, value: Any) -> str:
        note = "" if key in changed else comments.get(key, "")
        return f"{indent}{key}: {fmt_number(key, float(value))}{note}"

    def strings(indent: str, key: str, values: list[str]) -> list[str]:
        return [f"{indent}{key}:"] + [f"{indent}  - {_quote(v)}" for v in values]

    g = eff["gemm"]
    out = ["efficiency:", "  gemm:"]
    for key in ("compute_efficiency", "fp8_compute_efficiency", "memory_efficiency", "p", "launch_s",
                "gemv_memory_efficiency"):
        if g.get(key) is not None:
            out.append(scalar("    ", key, g[key]))
    out += strings("    ", "fitted_on", g["fitted_on"])
    for key in ("memory_bandwidth_efficiency", "flash_attention_efficiency", "flash1_attention_efficiency",
                "kernel_launch_s"):
        if eff.get(key) is not None:
            out.append(scalar("  ", key, eff[key]))
    out += strings("  ", "fitted_on", eff["fitted_on"])
    if eff.get("measurements"):
        out += strings("  ", "measurements", eff["measurements"])
    return out


def _link_lines(lines: list[str], link_key: str, update: dict[str, Any]) -> list[str]:
    node = _block_span(lines, "node")
    i, j = _block_span(lines, link_key, 2, *node)
    body = [ln for ln in lines[i + 1:j] if not re.match(r"^ {4}(regimes|regimes_fitted_on):", ln)
            and not re.match(r"^ {6,}", ln)]
    new = [lines[i]]
    for ln in body:
        m = _KEY.match(ln)
        if m and m["key"] in ("latency_s", "bus_efficiency") and m["key"] in update:
            ln = f"    {m['key']}: {fmt_number(m['key'], update[m['key']])}  # fitted: best single alpha-beta regime"
        new.append(ln)
    new.append("    regimes:")
    for lat, eff in update["regimes"]:
        new.append(f"      - {{latency_s: {fmt_number('latency_s', lat)}, bus_efficiency: {fmt_number('x', eff)}}}")
    new += ["    regimes_fitted_on:"] + [f"      - {_quote(s)}" for s in update["fitted_on"]]
    return lines[:i] + new + lines[j:]


def write_profile(path: str | Path, efficiency: dict[str, Any], changed: set[str],
                  links: dict[str, dict[str, Any]] | None = None) -> str:
    """Replace the efficiency block (and fitted links) of a profile file; returns the new text.

    `efficiency` is the full new efficiency mapping (schema keys); `changed` names the keys whose old
    inline comment no longer applies; `links` maps 'intra_node'/'scale_out' to {latency_s, bus_efficiency,
    regimes, fitted_on}.
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    i, j = _block_span(lines, "efficiency")
    while j > i and not lines[j - 1].strip():
        j -= 1
    block = render_efficiency(efficiency, _inline_comments(lines[i:j]), changed)
    lines = lines[:i] + block + lines[j:]
    for link_key, update in (links or {}).items():
        lines = _link_lines(lines, link_key, update)
    new_text = "\n".join(lines) + "\n"
    import yaml

    try:
        HardwareFile.model_validate(yaml.safe_load(new_text))
    except ValidationError as exc:
        raise DataFileError("refusing to write the fitted profile: " + format_validation_error(path, exc)) from None
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(new_text, encoding="utf-8")
    os.replace(tmp, path)
    return new_text


def current_efficiency(path: str | Path) -> dict[str, Any]:
    """The profile's efficiency mapping as plain data (validated)."""
    path = Path(path)
    return validate_file(HardwareFile, read_yaml(path), path).efficiency.model_dump()
