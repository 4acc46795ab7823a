"""A one-page report of what a page shows, as a self-contained HTML file: the inputs, the assumptions behind the
numbers (stack, engine, price book and its date, error band), the answer, its charts (inline SVG, drawn by
vl-convert from the same Vega-Lite specs the page shows) and the alternatives. Print it from a browser for a PDF."""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Sequence
from typing import Any

import pandas as pd
import streamlit as st

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 60rem; margin: 2rem auto;
       color: #1f2328; padding: 0 1rem; }
h1 { font-size: 1.5rem; margin-bottom: 0.2rem; } h2 { font-size: 1.1rem; margin-top: 1.6rem;
     border-bottom: 1px solid #d0d7de; padding-bottom: 0.2rem; }
table { border-collapse: collapse; font-size: 0.85rem; margin: 0.4rem 0; }
td, th { border: 1px solid #d0d7de; padding: 0.2rem 0.5rem; text-align: left; vertical-align: top; }
th { background: #f6f8fa; } .muted { color: #656d76; font-size: 0.8rem; }
.answer td:first-child { font-weight: 600; } svg { max-width: 100%; height: auto; }
@media print { body { margin: 0; } h2 { break-after: avoid; } }
"""


def _pairs(title: str, items: dict[str, Any], css: str = "") -> str:
    rows = "".join(f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(_text(v))}</td></tr>" for k, v in items.items())
    return f"<h2>{html.escape(title)}</h2><table class='{css}'>{rows}</table>"


def _text(v: Any) -> str:
    if isinstance(v, (list, tuple)):
        return ", ".join(map(str, v))
    return "—" if v is None else str(v)


def chart_svg(chart: Any) -> str:
    """An Altair chart as inline SVG (vl-convert), or a note when it cannot be drawn here."""
    try:
        import vl_convert as vlc

        return str(vlc.vegalite_to_svg(chart.to_dict()))
    except Exception as exc:  # noqa: BLE001 - a report without one chart beats no report
        return f"<p class='muted'>(chart not drawn: {html.escape(str(exc)[:200])})</p>"


def report_html(title: str, inputs: dict[str, Any], assumptions: dict[str, Any], answer: dict[str, Any],
                charts: Sequence[tuple[str, Any]] = (), tables: Sequence[tuple[str, pd.DataFrame]] = (),
                notes: Sequence[str] = ()) -> str:
    """The report as one HTML document (no external files or scripts)."""
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{CSS}</style></head><body>",
             f"<h1>{html.escape(title)}</h1><p class='muted'>AI compute planner report, "
             f"{dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}</p>",
             _pairs("Answer", answer, "answer"), _pairs("Inputs", inputs), _pairs("Assumptions", assumptions)]
    parts += [f"<p class='muted'>{html.escape(n)}</p>" for n in notes]
    for name, chart in charts:
        parts.append(f"<h2>{html.escape(name)}</h2>{chart_svg(chart)}")
    for name, df in tables:
        parts.append(f"<h2>{html.escape(name)}</h2>" + df.to_html(index=False, na_rep="—", border=0, escape=True))
    parts.append("</body></html>")
    return "".join(parts)


def report_button(page: str, title: str, **kw: Any) -> None:
    """A download button for the page's report (built when the page draws, from what it shows)."""
    name = "".join(c if c.isalnum() else "-" for c in title.lower()).strip("-")[:60] or "report"
    st.download_button("Download a one-page report (HTML; print it for a PDF)", report_html(title, **kw),
                       f"{name}.html", "text/html", key=f"{page}-report")
