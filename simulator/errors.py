"""Exceptions the planner raises; messages name the file, field, value and the fix."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_IN_FILE: ContextVar[bool] = ContextVar("settings_named_as_file_fields", default=False)
_DEPLOYMENT: ContextVar[str] = ContextVar("deployment_section", default="deployment")


def setting(name: str, section: str = "deployment") -> str:
    """How a message names a setting: its command-line flag (--dp-attention) or, while a scenario file runs
    (file_fields), its field in that file (deployment.dp_attention; decode_deployment.dp_attention inside
    deployment_section("decode_deployment"); section "" for a top-level field). Only for settings whose flag is the
    field's name with dashes."""
    if not _IN_FILE.get():
        return "--" + name.replace("_", "-")
    if section == "deployment" or section.startswith("deployment."):
        section = _DEPLOYMENT.get() + section[len("deployment"):]
    return f"{section}.{name}" if section else name


@contextmanager
def file_fields() -> Iterator[None]:
    """Within this block, messages name settings by their scenario-file fields (setting)."""
    token = _IN_FILE.set(True)
    try:
        yield
    finally:
        _IN_FILE.reset(token)


@contextmanager
def deployment_section(section: str) -> Iterator[None]:
    """Within this block, a deployment's settings are named under `section` (a disaggregated decode pool's
    decode_deployment) when a scenario file runs."""
    token = _DEPLOYMENT.set(section)
    try:
        yield
    finally:
        _DEPLOYMENT.reset(token)


class SimulatorError(Exception):
    """Base class: any error a user can act on. The CLI prints it as one line, exit code 2."""


class DataFileError(SimulatorError):
    """A hardware profile, model or scenario file is missing, malformed or inconsistent."""


class OutputError(SimulatorError):
    """An output folder or file cannot be written: read-only, removed, disk full, or in use by another run."""


class UnknownIdError(DataFileError):
    """An id that names no shipped file and no existing path."""


class PlanError(SimulatorError):
    """An impossible parallel plan (TP not dividing heads, PP not dividing layers, ...)."""


class InfeasiblePlanError(PlanError):
    """A valid plan that does not fit (memory) or cannot run on the given cluster."""


class BadValueError(PlanError):
    """An argument of the wrong type, not finite, or outside the range the planner accepts (simulator.limits)."""
