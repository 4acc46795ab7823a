"""Where the shipped data lives, and how an id or a path names one file of it."""

from __future__ import annotations

import difflib
from importlib import resources
from pathlib import Path

from simulator.errors import BadValueError, DataFileError, UnknownIdError
from simulator.limits import check_ref


def data_root() -> Path:
    """The folder holding hardware_profiles/ and workloads/: inside the installed package (a wheel maps them to
    simulator/_data, pyproject.toml) or, in a checkout and an editable install, the repository's top level."""
    packaged = resources.files("simulator") / "_data"
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parent.parent.parent


ROOT = data_root()
HARDWARE_DIR = ROOT / "hardware_profiles"
MODELS_DIR = ROOT / "workloads" / "models"
PRICES_DIR = ROOT / "workloads" / "prices"
SCENARIOS_DIR = ROOT / "workloads" / "scenarios"
STACKS_DIR = ROOT / "workloads" / "stacks"


def shipped_ids(folder: Path) -> list[str]:
    """Ids (file stems) of the shipped YAML files in a data folder."""
    return sorted(p.stem for p in folder.glob("*.yaml"))


def _check_user_path(ref: object, what: str) -> None:
    """A DataFileError, before the file system is asked, for what no file system could hold (limits.check_ref: not a
    str or path, too long, a NUL byte): the OS would raise OSError or TypeError instead of answering."""
    try:
        check_ref(what, ref)
    except BadValueError as exc:
        raise DataFileError(str(exc)) from None


def _expand(ref: str | Path, what: str) -> Path:
    """The path with ~ / ~user expanded; DataFileError when there is no such home folder."""
    try:
        return Path(ref).expanduser()
    except RuntimeError as exc:  # "Could not determine home directory" (~user of no user)
        raise DataFileError(f"{what} {str(ref)!r}: {exc}; give the path without ~") from None


def resolve(ref: str | Path, folder: Path, what: str) -> Path:
    """The file an id (a shipped file's stem) or a path names; DataFileError/UnknownIdError otherwise."""
    _check_user_path(ref, what)
    ref_str = str(ref)
    as_path = _expand(ref_str, what)
    if as_path.suffix in (".yaml", ".yml") or "/" in ref_str or as_path.is_file():
        if as_path.is_dir():
            raise DataFileError(f"{what} {ref_str!r} is a directory; pass the path of a {what} YAML file or a shipped id")
        if not as_path.is_file():
            raise DataFileError(f"{what} file {ref_str!r} does not exist; pass an existing path or a shipped id")
        return as_path
    if not folder.is_dir():
        raise DataFileError(f"the shipped data folder {folder} is missing: reinstall the package (its wheel carries "
                            f"the data), or pass a path to your own {what} YAML")
    candidate = folder / f"{ref_str}.yaml"
    if candidate.is_file():
        return candidate
    known = shipped_ids(folder)
    near = difflib.get_close_matches(ref_str, known, n=3, cutoff=0.4)
    hint = f"did you mean {', '.join(near)}?" if near else f"known ids: {', '.join(known)}"
    raise UnknownIdError(f"unknown {what} id {ref_str!r}; {hint} (or pass a path to a YAML file)")


def existing_file(path: str | Path, what: str, fix: str = "") -> Path:
    """The path of a file a user named; one-line DataFileError when it is missing or a folder (`fix`: what to do)."""
    _check_user_path(path, what)
    p = _expand(path, what)
    if p.is_dir():
        raise DataFileError(f"{what} {str(path)!r} is a folder; give the path of the file")
    if not p.is_file():
        raise DataFileError(f"{what} {str(path)!r} does not exist" + (f"; {fix}" if fix else ""))
    return p


def check_stem(path: Path, file_id: str | None) -> None:
    """A shipped file's `id` must equal its file name stem (the id it is looked up by)."""
    if file_id is not None and path.parent in (HARDWARE_DIR, MODELS_DIR, PRICES_DIR, SCENARIOS_DIR, STACKS_DIR) \
            and file_id != path.stem:
        raise DataFileError(f"{path}: field 'id' = {file_id!r} must equal the file name stem {path.stem!r}")
