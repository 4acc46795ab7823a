"""The YAML and pydantic boundary: safe parsing of untrusted text, and validation errors in one readable line."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, get_args

import yaml
from pydantic import BaseModel, ValidationError

from simulator.catalog.paths import check_stem
from simulator.errors import DataFileError
from simulator.limits import MAX_YAML_BYTES, MAX_YAML_NODES
from simulator.vocab import SCENARIO_KINDS

# Untrusted YAML is bounded in bytes and in values with aliases expanded (the bounds and why: simulator.limits).


class _Unbounded(yaml.YAMLError):
    """A document whose aliases expand past MAX_YAML_NODES values, or refer to themselves."""


class _UniqueKeyLoader(yaml.SafeLoader):
    """The safe loader, refusing a key written twice in one mapping (plain YAML keeps the last silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<:` merge keys are resolved by the base class
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} appears twice in one mapping; keep one", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)

    def compose_document(self) -> yaml.Node:
        node = super().compose_document()
        _check_expansion(node)
        return node


def _check_expansion(root: yaml.Node) -> None:
    """Count the values a composed document stands for with its aliases expanded (each shared node once, so the
    count is linear in the text), and refuse a document past MAX_YAML_NODES or one containing itself."""
    size: dict[int, int] = {}
    path: set[int] = set()  # nodes being counted: the current path from the root
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        kids = ([n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode)
                else node.value if isinstance(node, yaml.SequenceNode) else [])
        if finished:
            size[id(node)] = 1 + sum(size[id(k)] for k in kids)
            path.discard(id(node))
            if size[id(node)] > MAX_YAML_NODES:
                raise _Unbounded(f"its aliases (*name) expand to more than {MAX_YAML_NODES:,} values; write the "
                                 "values out or use fewer aliases")
        elif id(node) in path:
            raise _Unbounded("an alias (*name) refers to the value that contains it; remove the recursion")
        elif id(node) not in size:
            path.add(id(node))
            stack.append((node, True))
            stack.extend((k, False) for k in kids)


def upload_text(text: Any, source: str | Path, what: str) -> str:
    """The text of an upload: a str, or UTF-8 bytes decoded; anything else one DataFileError naming `what` was
    expected (the API is called with whatever a caller has)."""
    if isinstance(text, (bytes, bytearray)):
        try:
            return bytes(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DataFileError(f"{source}: byte {exc.start} is not UTF-8 text; save the file as UTF-8") from None
    if not isinstance(text, str):
        raise DataFileError(f"{source}: expected the text of {what}, got {type(text).__name__}")
    return text


def parse_yaml_text(text: str, source: str | Path) -> dict[str, Any]:
    """Parse untrusted YAML text with the safe loader (duplicate keys refused); a clear error naming the
    source, line and fix for syntax errors or a top level that is not a mapping; bounded in size (MAX_YAML_BYTES,
    MAX_YAML_NODES with aliases expanded)."""
    text = upload_text(text, source, "a YAML file")
    if len(text) > MAX_YAML_BYTES:
        raise DataFileError(f"{source}: {len(text):,} characters of YAML, more than the {MAX_YAML_BYTES:,} a data "
                            "file may have; put large tables in CSV")
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except _Unbounded as exc:
        raise DataFileError(f"{source}: {exc}") from None
    except RecursionError:
        raise DataFileError(f"{source}: nested too deeply to read; flatten the YAML") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise DataFileError(f"{source}:{where} is not valid YAML ({getattr(exc, 'problem', exc)}); fix the syntax") from None
    if data is None:
        raise DataFileError(f"{source}: the file is empty; it needs the keys of its kind (see the shipped files)")
    if not isinstance(data, dict):
        raise DataFileError(f"{source}: expected a mapping of keys at the top level, got {type(data).__name__}")
    return data


def read_text_capped(path: Path, max_bytes: int, what: str, fix: str) -> str:
    """A user's text file, its size checked before it is read; one-line DataFileError when too big, unreadable or not
    UTF-8 (`fix`: what to do about a file that is too big)."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise DataFileError(f"{path}: {size:,} bytes of {what}, more than the {max_bytes:,} allowed; {fix}")
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DataFileError(f"{path}: cannot read ({exc.strerror})") from exc
    except UnicodeDecodeError as exc:
        raise DataFileError(f"{path}: byte {exc.start} is not UTF-8 text; save the file as UTF-8") from None


def read_yaml(path: Path) -> dict[str, Any]:
    """Read and parse a YAML data file (parse_yaml_text); a clear error when it cannot be read."""
    path = Path(path)
    if path.is_dir():
        raise DataFileError(f"{path}: is a directory; pass the path of a YAML file")
    text = read_text_capped(path, MAX_YAML_BYTES, "YAML", "put large tables in CSV")
    return parse_yaml_text(text, path)


# pydantic names the branch of a union (int | dict, Model | list[Model]) inside an error's location
_UNION_BRANCH = re.compile(r".*\[.*\]$|^(constrained|function|lax|strict)-|^(int|float|str|bool)$")


def _is_branch(x: Any) -> bool:
    return isinstance(x, str) and x != "[key]" and bool(_UNION_BRANCH.match(x))


def _readable_errors(errors: list[Any]) -> list[Any]:
    """Errors with union-branch tags dropped from their locations. Where the value failed a union in several
    branches, a branch that rejected it outright for its shape (a dict, list or number expected, at the branch
    itself) is left out when another branch says more; every error inside a branch is kept."""
    parsed = []
    for e in errors:
        loc = tuple(e["loc"])
        cut = next((i for i, x in enumerate(loc) if _is_branch(x)), None)
        shape_only = cut is not None and len(loc) == cut + 1 and e["type"].endswith("_type")
        parsed.append((e, loc, cut, shape_only))
    keep = []
    for e, loc, cut, shape_only in parsed:
        if shape_only and cut is not None and any(c == cut and lo[:cut] == loc[:cut] and lo[cut] != loc[cut] and not so
                              for _, lo, c, so in parsed):
            continue
        keep.append({**e, "loc": tuple(x for x in loc if not _is_branch(x))})
    return keep


def format_validation_error(path: Path | str, exc: ValidationError) -> str:
    """One readable line: file, then every missing field at once, then up to six other problems, each
    with its field path, bad value and what is expected."""
    errors = _readable_errors(exc.errors())
    missing = [".".join(str(x) for x in e["loc"]) for e in errors if e["type"] == "missing"]
    parts = [f"missing required field{'s' if len(missing) > 1 else ''}: {', '.join(missing)}"] if missing else []
    others = [e for e in errors if e["type"] != "missing"]
    for err in others[:6]:
        loc = ".".join(str(x) for x in err["loc"]) or "(top level)"
        value = err.get("input")
        shown = repr(value) if not isinstance(value, dict) else "{...}"
        if len(shown) > 60:
            shown = shown[:57] + "..."
        if err["type"] == "extra_forbidden":
            parts.append(f"field '{loc}' is not allowed (unknown key; check spelling and units suffix)")
        else:
            msg = err["msg"].removeprefix("Value error, ")
            parts.append(msg if not err["loc"] else f"field '{loc}' = {shown}: {msg}")
    more = f" (+{len(others) - 6} more)" if len(others) > 6 else ""
    return f"{path}: " + "; ".join(parts) + more


def check_kind(cls: type[BaseModel], data: dict[str, Any], path: Path | str) -> None:
    """A file of another kind (a scenario where a model belongs, say) is named as such in one line, before its fields
    produce a wall of mismatches."""
    field = cls.model_fields.get("kind")
    expected = get_args(field.annotation) if field is not None else ()
    kind = data.get("kind") if isinstance(data, dict) else None
    if len(expected) == 1 and kind is not None and kind != expected[0]:
        run = "; run scenario files with `simulator run FILE`" if kind in (*SCENARIO_KINDS, "sweep", "cluster_scenario") else ""
        raise DataFileError(f"{path}: field 'kind' = {kind!r}: this is not a {expected[0]} file (kind: {expected[0]}){run}")


def validate_file(cls: type[BaseModel], data: dict[str, Any], path: Path | str) -> Any:
    """`data` validated against a file schema; DataFileError in one line; a shipped file's id must be its stem."""
    check_kind(cls, data, path)
    try:
        obj = cls.model_validate(data)
    except ValidationError as exc:
        raise DataFileError(format_validation_error(path, exc)) from None
    if isinstance(path, Path):
        check_stem(path, getattr(obj, "id", None))
    return obj
