"""Shared AppTest helpers for the page tests (tests/ is on sys.path under pytest's default import mode)."""

from streamlit.testing.v1 import AppTest


def page(mod: str, timeout: float = 600) -> AppTest:  # a hang guard: a loaded machine is slow, not wrong
    """One page of the app (simulator.ui.<mod>.render) as an AppTest."""
    return AppTest.from_string(f"from simulator.ui import {mod}\n{mod}.render()\n", default_timeout=timeout)


def error_shown_by(setup: str, expr: str) -> str:
    """Run `expr` in a page script after `setup`; assert the page shows an error element instead of an
    exception and keeps running, and return the first error's text."""
    script = ("import streamlit as st\n"
              "from simulator.ui.common import guarded\n"
              f"{setup}\n"
              f"result = {expr}\n"
              "st.write('still running', result is None)\n")
    at = AppTest.from_string(script, default_timeout=600).run()  # Streamlit's default 3 s timed out under load
    assert not at.exception, at.exception
    assert at.error, "no error element"
    assert any("still running" in str(md.value) for md in at.markdown)
    return at.error[0].value


def metric(at: AppTest, label: str) -> str:
    """The value of the page's metric with this label."""
    return next(m.value for m in at.metric if m.label == label)


def clean(at: AppTest) -> None:
    """The page ran without an exception or an error box."""
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
