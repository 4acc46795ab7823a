"""The launch-settings file (workloads/launchers.yaml): how each training and serving framework spells a plan's
settings, with the release every flag was checked against. Read once, validated, refused with the field named when a
flag lacks its name or type or a framework lacks its version and sources."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from simulator.catalog.paths import STACKS_DIR
from simulator.catalog.schema import Strict
from simulator.catalog.yamlio import read_yaml, validate_file
from simulator.errors import DataFileError

# the workloads folder is wherever paths.py keeps the stacks
LAUNCHERS_FILE = STACKS_DIR.parent / "launchers.yaml"


class Flag(Strict):
    """One setting as the framework spells it: a command-line flag, a recipe attribute or a TOML section.key."""

    flag: str = Field(min_length=1)
    type: Literal["int", "float", "str", "bool", "switch", "list"]
    unit: Literal["fraction", "tokens", "sequences"] | None = None


class Framework(Strict):
    """A launcher format: its syntax, the release its flags were read from, and the flags and value spellings."""

    role: Literal["training", "serving", "launcher"]
    name: str = Field(min_length=3)
    syntax: Literal["cli", "python", "toml"]
    version: str = Field(min_length=1)
    checked_against: list[str] = Field(min_length=1)
    docs: str = Field(min_length=8)
    flags: dict[str, Flag] = Field(min_length=1)
    values: dict[str, Any] = Field(default_factory=dict)
    command: str | None = None
    header: str | None = None
    env: dict[str, str] = Field(default_factory=dict)
    memory_mode: Literal["total", "static", "free"] | None = None  # what a serving engine's memory fraction counts
    imports: list[str] = Field(default_factory=list)
    recipe_call: str | None = None
    callback: str | None = None
    plugin: str | None = None
    run: str | None = None
    multi_node_run: str | None = None
    config_flag: str | None = None
    config_file: str | None = None
    extra_options_file: str | None = None


class Checkpoints(Strict):
    source: str = Field(min_length=3)
    repos: dict[str, str]
    missing: str = Field(min_length=3)


class LaunchersFile(Strict):
    schema_version: Literal[1]
    kind: Literal["launchers"]
    description: str = Field(min_length=3)
    training_stacks: dict[str, list[str]]
    serving_engines: dict[str, list[str]]
    checkpoints: Checkpoints
    frameworks: dict[str, Framework]


@lru_cache(maxsize=4)
def _read(path_str: str, mtime: float) -> LaunchersFile:
    path = Path(path_str)
    f = validate_file(LaunchersFile, read_yaml(path), path)
    named = {fmt for fmts in (*f.training_stacks.values(), *f.serving_engines.values()) for fmt in fmts}
    unknown = sorted(named - set(f.frameworks))
    if unknown:
        raise DataFileError(f"{path}: formats {', '.join(unknown)} are named by a stack or engine but have no "
                            f"section under 'frameworks'")
    return f


def launchers_file(path: str | Path | None = None) -> LaunchersFile:
    """The validated launch-settings file (None: the shipped workloads/launchers.yaml)."""
    p = Path(path) if path is not None else LAUNCHERS_FILE
    if not p.is_file():
        raise DataFileError(f"the launch-settings file {p} is missing: the planner runs from a checkout of the "
                            "repository (pip install -e .)")
    return _read(str(p), p.stat().st_mtime)
