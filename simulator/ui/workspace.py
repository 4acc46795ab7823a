"""Settings that travel: a page's widgets <-> the URL's query parameters <-> scenario YAML files, and an A/B pin.

Each page declares its settings (widget key, default, allowed values) once. Before its widgets are drawn,
`start` fills the session with defaults, then, on the page's first run in a session, with the link's parameters; a
loaded scenario file goes through the same checks. After the widgets, `publish` writes the settings that differ from
the defaults to the URL, so a copied link reproduces the view. A value that does not pass (a stale id, a number out
of range) falls back to the default and says so; nothing from a link or an upload is ever used as a server path.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import streamlit as st

import simulator as sim
from simulator import limits
from simulator.ui.common import ui_message


@dataclass(frozen=True)
class Setting:
    """One widget's value: its key (also the URL parameter), default, and what values are allowed.

    choices: the allowed values (each element, for a list setting); low/high: bounds for numbers."""

    key: str
    default: Any
    choices: Callable[[], Sequence[Any]] | None = None
    low: float | None = None
    high: float | None = None
    param: str = ""  # its name in the URL (default: the key)

    @property
    def name(self) -> str:
        return self.param or self.key

    @property
    def many(self) -> bool:
        return isinstance(self.default, list)

    def _element_type(self) -> type:
        if self.many:
            return type(self.default[0]) if self.default else str
        return type(self.default) if self.default is not None else str

    def parse(self, text: str) -> Any:
        """A URL parameter's text as this setting's type (ValueError when it is not one)."""
        if len(text) > limits.MAX_URL_VALUE_CHARS:  # ignored before it is parsed
            raise ValueError("too long")
        if self.many:
            return [self._parse_one(t) for t in text.split(",") if t != ""]
        return self._parse_one(text)

    def _parse_one(self, text: str) -> Any:
        kind = self._element_type()
        if kind is bool:
            if text not in ("true", "false"):
                raise ValueError("not true or false")
            return text == "true"
        if kind in (int, float):
            v = float(text)
            if kind is int:
                if not v.is_integer():
                    raise ValueError("not a whole number")
                return int(v)
            return v
        return text

    def check(self, value: Any) -> Any:
        """The value if it is allowed here, coerced to the setting's type; ValueError naming why not."""
        if self.many:
            if not isinstance(value, (list, tuple)):
                value = [value]
            return [self._check_one(v) for v in value]
        return self._check_one(value)

    def _check_one(self, value: Any) -> Any:
        kind = self._element_type()
        if kind is bool:
            if not isinstance(value, bool):
                raise ValueError("not true or false")
        elif kind in (int, float):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError("not a finite number")
            if kind is int:
                if float(value) != int(value):
                    raise ValueError("not a whole number")
                value = int(value)
            else:
                value = float(value)
            if self.low is not None and value < self.low or self.high is not None and value > self.high:
                raise ValueError(f"outside {self.low:g} to {self.high:g}")
        elif not isinstance(value, str):
            raise ValueError("not text")
        if self.choices is not None:
            allowed = list(self.choices())
            if value not in allowed:
                raise ValueError("not one of the choices here")
        return value

    def encode(self, value: Any) -> str:
        """The value as URL text."""
        if self.many:
            return ",".join(self._encode_one(v) for v in value)
        return self._encode_one(value)

    @staticmethod
    def _encode_one(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, float):
            return f"{value:g}" if float(f"{value:g}") == value else repr(value)
        return str(value)


def apply(settings: Sequence[Setting], values: dict[str, Any], origin: str) -> list[str]:
    """Put checked values into the session (before the widgets are drawn); returns a notice per value refused."""
    by_key = {s.key: s for s in settings}
    notices = []
    for key, value in values.items():
        s = by_key.get(key)
        if s is None:
            notices.append(f"{origin}: '{key}' is not a setting of this page")
            continue
        try:
            st.session_state[key] = s.check(value)
        except ValueError as why:
            notices.append(f"{origin}: {s.name} = {str(value)[:60]!r} ignored ({why}); kept {s.encode(s.default)!r}")
    return notices


def start(page: str, settings: Sequence[Setting], ignore: Sequence[str] = ()) -> None:
    """Before a page's widgets: defaults into the session, then (once per session) the link's settings.

    ignore: URL parameters another call of `start` on the same page handles (a page whose settings come in parts)."""
    for s in settings:
        if s.key not in st.session_state:
            st.session_state[s.key] = list(s.default) if s.many else s.default
    flag = f"_url_applied_{page}"
    if st.session_state.get(flag):
        return
    st.session_state[flag] = True
    values: dict[str, Any] = {}
    notices = []
    by_name = {s.name: s for s in settings}
    for name in st.query_params:
        found = by_name.get(name)
        text = st.query_params.get(name, "")
        if found is None:
            if name not in ignore:
                notices.append(f"link: '{name[:40]}' is not a setting of this page")
            continue
        try:
            values[found.key] = found.parse(text)
        except ValueError as why:
            notices.append(f"link: {name} = {text[:60]!r} ignored ({why}); kept {found.encode(found.default)!r}")
    notices += apply(settings, values, "link")
    if notices:
        st.session_state[f"_notices_{page}"] = st.session_state.get(f"_notices_{page}", []) + notices


def notices(page: str) -> None:
    """Show (once) what a link or a loaded scenario could not set, so the user knows the defaults stand in."""
    found = st.session_state.pop(f"_notices_{page}", None)
    if found:
        st.info("Some settings were not applied and the defaults stand in:\n\n" +
                "\n".join(f"- {n}" for n in found[:12]) + (f"\n- ... {len(found) - 12} more" if len(found) > 12 else ""))


def current(settings: Sequence[Setting]) -> dict[str, Any]:
    """The page's settings as they are now."""
    return {s.key: st.session_state.get(s.key, s.default) for s in settings}


def publish(settings: Sequence[Setting]) -> None:
    """After the widgets: the settings that differ from their defaults into the URL (a link reproduces the view)."""
    wanted = {}
    for s in settings:
        v = st.session_state.get(s.key, s.default)
        if v is not None and v != s.default:
            wanted[s.name] = s.encode(v)
    if dict(st.query_params) != wanted:
        st.query_params.from_dict(wanted)


# ----------------------------------------------------------------------------- scenario files
def scenario_loader(page: str, settings: Sequence[Setting] | Callable[[dict[str, Any]], Sequence[Setting]],
                    kinds: dict[str, str],
                    to_settings: Callable[[dict[str, Any]], tuple[dict[str, Any], list[str]]]) -> None:
    """A 'Load a scenario' uploader: a scenario YAML of one of `kinds` (kind -> what it is) sets the page's widgets.

    to_settings maps the file's fields to widget keys and says what it could not carry over; `settings` may depend on
    the file (a callable of its mapping). A file of another page's kind names that page. Call it before the widgets
    are drawn (it sets their values)."""
    with st.expander("Load a scenario file"):
        up = st.file_uploader("Scenario YAML (what this page exports, or `simulator run` reads)", type=["yaml", "yml"],
                              key=f"{page}-scenario-up")
    if up is None:
        return
    data = up.getvalue()
    digest = hashlib.sha1(data).hexdigest()
    if st.session_state.get(f"_loaded_{page}") == digest:
        return  # applied once; the user's later changes stand
    st.session_state[f"_loaded_{page}"] = digest
    found = _read_scenario(data, up.name, kinds)
    if isinstance(found, str):
        st.session_state[f"_notices_{page}"] = [found]
        return
    values, skipped = to_settings(found)
    chosen = settings(found) if callable(settings) else settings
    st.session_state[f"_notices_{page}"] = skipped + apply(chosen, values, up.name)
    st.session_state[f"_loaded_name_{page}"] = up.name


PAGE_OF_KIND = {"training": "Training planner", "inference": "Inference and serving",
                "serving": "Inference and serving", "cluster": "Cluster simulation",
                "cluster_scenario": "Cluster simulation", "sweep": "none (run it with `simulator sweep`)"}


def _read_scenario(data: bytes, name: str, kinds: dict[str, str]) -> dict[str, Any] | str:
    """The uploaded mapping, or a one-line reason it cannot be loaded here."""
    if len(data) > limits.MAX_SCENARIO_UPLOAD_BYTES:
        return (f"{name}: {len(data):,} bytes is more than a scenario file needs "
                f"({limits.MAX_SCENARIO_UPLOAD_BYTES:,} at most)")
    try:
        raw = sim.parse_yaml_text(data.decode("utf-8", errors="replace"), name)
    except sim.SimulatorError as exc:
        return ui_message(str(exc))
    if not isinstance(raw, dict):
        return f"{name}: a scenario file is a mapping of fields (kind:, model:, ...)"
    kind = raw.get("kind")
    if kind not in kinds:
        page = PAGE_OF_KIND.get(str(kind))
        where = f"; open it on the {page} page" if page else ""
        return f"{name}: kind {kind!r} is not what this page loads ({', '.join(kinds)}){where}"
    return raw


def foreign_references(raw: Any, ids: Mapping[str, Sequence[str]], where: str = "") -> list[str]:
    """References inside an uploaded file that are not shipped ids (`ids`: field name -> the ids it may name), and any
    `path`: an upload never makes the server open a file its author chose. Empty when the file is safe to read."""
    found: list[str] = []
    if isinstance(raw, dict):
        for key, value in raw.items():
            here = f"{where}.{key}" if where else str(key)
            if key == "path" and value is not None:
                found.append(f"{here}: an uploaded file cannot name a file on the server; upload the file itself where "
                             "the page takes one")
            elif key in ids and isinstance(value, str) and value not in ids[key]:
                found.append(f"{here}: {value[:60]!r} is not a shipped id (an uploaded file can only name shipped ones)")
            else:
                found += foreign_references(value, ids, here)
    elif isinstance(raw, list):
        for i, item in enumerate(raw[:10_000]):
            found += foreign_references(item, ids, f"{where}[{i}]")
    return found


def shipped_only(field: str, value: Any, ids: Sequence[str], skipped: list[str]) -> str | None:
    """A reference inside an uploaded file: a shipped id, or None with a notice (never a path on the server)."""
    if value is None:
        return None
    if isinstance(value, str) and value in ids:
        return value
    skipped.append(f"{field}: {str(value)[:60]!r} is not a shipped id here (an uploaded file cannot name files on "
                   f"the server; upload the file itself where the page takes one)")
    return None


# ----------------------------------------------------------------------------- A/B
def ab_section(page: str, settings: Sequence[Setting], headline: dict[str, str], labels: dict[str, str]) -> None:
    """Pin the current view as A, change settings, and see A beside the current view (B): what differs in the
    inputs and the headline figures. `headline`: figure name -> formatted value; `labels`: widget key -> name."""
    pin_key = f"_pin_{page}"
    now = current(settings)
    st.subheader("Compare with a pinned view (A/B)")
    c1, c2 = st.columns([1, 3])
    if c1.button("Pin this view as A", key=f"{page}-pin"):
        st.session_state[pin_key] = {"settings": now, "headline": dict(headline)}
    pinned = st.session_state.get(pin_key)
    if pinned is None:
        c2.caption("Pin the current settings and results as A, change anything, and A stays here beside the new "
                   "view (B).")
        return
    if c2.button("Clear A", key=f"{page}-unpin"):
        st.session_state.pop(pin_key, None)
        return
    rows = [{"": labels.get(k, k), "A (pinned)": _show(v), "B (now)": _show(now.get(k))}
            for k, v in pinned["settings"].items() if v != now.get(k)]
    if rows:
        st.caption("Settings that differ")
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    else:
        st.caption("Same settings as A.")
    names = list(dict.fromkeys([*pinned["headline"], *headline]))
    st.dataframe(pd.DataFrame([{"": n, "A (pinned)": pinned["headline"].get(n, "—"), "B (now)": headline.get(n, "—")}
                               for n in names]), hide_index=True, width="stretch")


def _show(v: Any) -> str:
    if isinstance(v, list):
        return ", ".join(map(str, v))
    return "—" if v is None else str(v)
