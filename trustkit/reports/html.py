"""The one HTML renderer of trustkit: a report document (JSON) to a self-contained page, from one template.

Every report renders through here: ``Report.to_html`` (a single report is a
one-section document), ``TrustReport.to_html`` and ``trustkit report FILE``.
Documents are validated field by field first; every text is escaped.
"""

from __future__ import annotations

import base64
import binascii
import html
import re
import string
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["FAVOURABLE", "PAGE", "check_report_document", "headline_text", "render_html", "render_page"]


_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _field(path: str, value: Any, kinds: tuple[type, ...], what: str) -> Any:
    if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
        raise ValueError(f"{path} must be {what}; got {type(value).__name__} {str(value)[:40]!r}.")
    return value


def _check_png(path: str, value: Any) -> str:
    _field(path, value, (str,), "base64 PNG data")
    if not _BASE64.fullmatch(value):
        raise ValueError(f"{path} must be base64 PNG data and nothing else; it holds other characters.")
    try:
        head = base64.b64decode(value[:64] + "=" * (-len(value[:64]) % 4), validate=True)
    except (ValueError, binascii.Error) as exc:
        raise ValueError(f"{path} is not valid base64 ({exc}).") from exc
    if value and not head.startswith(_PNG_MAGIC):
        raise ValueError(f"{path} must be a PNG image (base64); its data is not a PNG.")
    return value


def _check_table(path: str, rows: Any) -> list[dict[str, Any]]:
    _field(path, rows, (list,), "a list of rows (objects)")
    for i, row in enumerate(rows):
        _field(f"{path}[{i}]", row, (dict,), "an object of column: value")
        for key, v in row.items():
            if v is not None and not isinstance(v, (str, int, float, bool)):
                raise ValueError(f"{path}[{i}][{key!r}] must be a number, text, true/false or null; got {type(v).__name__}.")
    return rows


def check_report_document(data: Any) -> dict[str, Any]:
    """Validate a report JSON before rendering it; name the offending field.

    Accepts the trust report of ``trustkit demo`` (``report: "TrustReport"``)
    and the JSON of any single report (``SensitivityReport``,
    ``TransferReport``, ...), which becomes a one-section trust report.

    Returns
    -------
    dict
        The document in the trust report's shape.
    """
    _field("the document", data, (dict,), "a JSON object (the report written by trustkit)")
    kind = data.get("report")
    if kind != "TrustReport":
        if not isinstance(kind, str) or "table" not in data or "headline" not in data:
            raise ValueError("not a trustkit report: expected 'report' (e.g. 'TrustReport' or 'SensitivityReport'), "
                             "'headline' and 'table' fields, as trustkit writes them.")
        head = _field("headline", data["headline"], (dict,), "an object with value, meaning, higher_is_better")
        value = head.get("value")
        # the same document Report.to_html renders: the page rebuilt from the JSON equals the page the run wrote
        data = {"report": "TrustReport", "meta": {"description": str(data.get("description") or head.get("meaning") or kind),
                                                  "version": data.get("version", "")}, "sections": [{
            "title": kind, "note": str(head.get("meaning", "")), "summary": data.get("summary") or "",
            "measure": str(data.get("measure") or ""), "headline": value, "interval": data.get("interval"),
            "higher_is_better": head.get("higher_is_better", True),
            "table": data.get("wide", data["table"]), "compact": data.get("long", []), "plot_png": data.get("plot_png", ""),
        }]}
    meta = data.get("meta", {})
    _field("meta", meta, (dict,), "an object")
    for key, v in meta.items():
        if v is not None and not isinstance(v, (str, int, float, bool, list)):
            raise ValueError(f"meta[{key!r}] must be text, a number or a list; got {type(v).__name__}.")
    card = data.get("scorecard", {})
    _field("scorecard", card, (dict,), "an object")
    for key in ("encoders", "explanations"):
        _check_table(f"scorecard.{key}", card.get(key, []))
    for i, line in enumerate(_field("scorecard.meaning", card.get("meaning", []), (list,), "a list of texts")):
        _field(f"scorecard.meaning[{i}]", line, (str,), "text")
    sections = _field("sections", data.get("sections"), (list,), "a list of sections")
    for i, sec in enumerate(sections):
        p = f"sections[{i}]"
        _field(p, sec, (dict,), "an object")
        _field(f"{p}.title", sec.get("title"), (str,), "text")
        _field(f"{p}.note", sec.get("note", ""), (str,), "text")
        _field(f"{p}.summary", sec.get("summary", ""), (str,), "text")
        _field(f"{p}.measure", sec.get("measure", ""), (str,), "text")
        interval = sec.get("interval")
        if interval is not None:
            _field(f"{p}.interval", interval, (list,), "a list [low, high]")
            if len(interval) != 2 or any(v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)))
                                         for v in interval):
                raise ValueError(f"{p}.interval must be two numbers [low, high] (or null); got {interval!r:.60}.")
        if sec.get("headline") is not None:
            _field(f"{p}.headline", sec["headline"], (int, float), "a number or null")
        _field(f"{p}.higher_is_better", sec.get("higher_is_better", True), (bool,), "true or false")
        _check_table(f"{p}.table", sec.get("table", []))
        _check_table(f"{p}.compact", sec.get("compact", []))
        _check_png(f"{p}.plot_png", sec.get("plot_png", ""))
    return data


#: the scorecard's favourable verdicts (green)
FAVOURABLE = ("robust", "faithful", "above chance and majority")
_BAD = ("sensitive", "not faithful", "not distinguishable from chance")


def _scorecard_html(card: dict[str, Any]) -> str:
    """The first screen: verdicts with intervals; every text escaped, colours from a fixed set."""
    if not card.get("encoders") and not card.get("explanations"):
        return ""

    def cell(key: str, value: Any) -> str:
        text = "" if value is None else str(value)
        css = ""
        if key.endswith("verdict"):
            css = " class='good'" if text in FAVOURABLE else " class='bad'" if text in _BAD else " class='open'"
        return f"<td{css}>{html.escape(text)}</td>"

    def table(rows: list[dict[str, Any]]) -> str:
        if not rows:
            return ""
        cols = list(dict.fromkeys(k for r in rows for k in r))
        head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
        body = "".join("<tr>" + "".join(cell(c, r.get(c)) for c in cols) + "</tr>" for r in rows)
        return f"<table><tr>{head}</tr>{body}</table>"

    meaning = "".join(f"<li>{html.escape(m)}</li>" for m in card.get("meaning", []))
    return (f"<section id='scorecard'><h2>Scorecard</h2>{table(card.get('encoders', []))}"
            f"{table(card.get('explanations', []))}<ul>{meaning}</ul>"
            "<p><small>Details, figures and full tables below.</small></p></section>")


def headline_text(value: Any, interval: Any = None) -> str:
    """The headline as text: three decimals and its interval when it has one; "undefined" for NaN or null."""
    if value is None or not np.isfinite(value):
        return "undefined"
    if interval is not None and len(interval) == 2 and all(isinstance(v, (int, float)) and np.isfinite(v) for v in interval):
        return f"{value:.3f} [{interval[0]:.3f}, {interval[1]:.3f}]"
    return f"{value:.3f}"


#: the page: one template for every page trustkit writes (a report document, or the listening page)
PAGE = string.Template(
    "<!doctype html><html><head><meta charset='utf-8'><title>$title</title><style>"
    "body{font-family:sans-serif;margin:2em;max-width:1200px}h2{border-bottom:2px solid #4c72b0}"
    "table{border-collapse:collapse;font-size:12px;margin:1em 0}td,th{border-bottom:1px solid #ddd;padding:3px 8px;"
    "text-align:right}pre{background:#f6f6f6;padding:1em;white-space:pre-wrap}img{max-width:100%}"
    ".headline{font-size:1.3em}#scorecard table{font-size:13px}#scorecard td{text-align:left}"
    ".good{background:#d8f0d8}.bad{background:#f6d5d5}.open{background:#eee}#scorecard li{font-size:12px}"
    "details{margin:0.5em 0 1.5em}summary{cursor:pointer;color:#4c72b0}audio{width:180px}code{font-size:11px}"
    "</style></head><body><h1>$title</h1><p>$description</p>$body<p><small>$footer</small></p></body></html>"
)


def render_page(title: str, description: str, body: str, footer: str = "") -> str:
    """A page from the one template.

    ``title``, ``description`` and ``footer`` are escaped here; ``body`` is
    markup the caller built from escaped parts.
    """
    return PAGE.substitute(title=html.escape(title), description=html.escape(description), body=body,
                           footer=html.escape(footer))


#: the columns of a section's compact table (the long table's), in order
COMPACT = ("measure", "statistic", "low", "high", "n", "confidence")


def _table_html(rows: list[dict[str, Any]], columns: list[str] | None = None) -> str:
    frame = pd.DataFrame(rows)
    if columns is not None:
        frame = frame[[c for c in columns if c in frame]]
    return frame.to_html(index=False, float_format=lambda v: f"{v:.4g}", classes="results", escape=True, na_rep="")


def _section_html(i: int, s: dict[str, Any]) -> str:
    """A detail section: note, summary, figure, the compact table, the full table behind a toggle.

    The compact table is the report's long table: every number with its interval.
    """
    better = "higher" if s.get("higher_is_better", True) else "lower"
    parts = [f"<h2 id='s{i}'>{html.escape(s['title'])}</h2>", f"<p>{html.escape(s.get('note', ''))}</p>",
             f"<p class='headline'>{html.escape(s.get('measure') or 'headline')}: <b>{headline_text(s.get('headline'), s.get('interval'))}</b> "
             f"({better} is better)</p>",
             f"<pre>{html.escape(s.get('summary', ''))}</pre>"]
    if s.get("plot_png"):
        parts.append(f"<img alt='{html.escape(s['title'], quote=True)}' src='data:image/png;base64,{s['plot_png']}'>")
    compact = s.get("compact") or []
    if compact:
        ids = [c for c in dict.fromkeys(k for r in compact for k in r) if c not in COMPACT]
        parts.append(_table_html(compact, [*ids, *COMPACT]))
    rows = s.get("table", [])
    parts.append(f"<details{'' if compact else ' open'}><summary>full table ({len(rows)} rows; all of it is in the "
                 f"JSON)</summary>{_table_html(rows)}</details>")
    return "".join(parts)


def render_html(data: dict[str, Any]) -> str:
    """Render a report's JSON (a trust report or any single report) as one self-contained page.

    The one HTML renderer of trustkit (``Report.to_html``, ``TrustReport.to_html``
    and ``trustkit report`` all come here), from one template (:data:`PAGE`).
    The document is validated first (:func:`check_report_document`); every
    text is escaped and a figure must be base64 PNG data, so a crafted JSON
    cannot put markup or script into the page.
    """
    data = check_report_document(data)
    meta = data.get("meta", {})
    sections = data["sections"]
    contents = "<ul>" + "".join(
        f"<li><a href='#s{i}'>{html.escape(s['title'])}</a>: {html.escape(s.get('measure', ''))} "
        f"<b>{headline_text(s.get('headline'), s.get('interval'))}</b> "
        f"({'higher' if s.get('higher_is_better', True) else 'lower'} is better)</li>"
        for i, s in enumerate(sections)
    ) + "</ul>" if len(sections) > 1 else ""
    seconds = meta.get("seconds")
    title = ("trustkit trust report" if data.get("scorecard") or len(sections) != 1
             else f"trustkit {sections[0]['title']}")
    body = _scorecard_html(data.get("scorecard", {})) + contents + "".join(_section_html(i, s) for i, s in enumerate(sections))
    footer = f"trustkit {meta.get('version', '')}" + (f"; {seconds} s" if seconds not in (None, "") else "")
    return render_page(title, str(meta.get("description", "")), body, footer)
