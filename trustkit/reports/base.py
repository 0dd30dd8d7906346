"""The shared report base: the long table, the headline and its gate, JSON, HTML, summary."""

from __future__ import annotations

import base64
import html
import io
import json
import os
from dataclasses import dataclass, fields
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from ..exceptions import GateError
from .files import write_text_atomic

__all__ = ["LONG_COLUMNS", "Report", "estimate_row", "finish_long", "jsonable", "layer_profile", "long_table", "version",
           "wide_table"]

def version() -> str:
    """Trustkit's installed version (``importlib.metadata``; ``"0.0.0"`` when run from a source tree not installed)."""
    from importlib import metadata

    try:
        return metadata.version("trustkit")
    except metadata.PackageNotFoundError:  # pragma: no cover - a source tree on sys.path, not installed
        return "0.0.0"


#: the columns every report's long table ends with (:meth:`Report.to_long`)
LONG_COLUMNS = ("measure", "statistic", "low", "high", "n", "confidence")


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON types: frames as lists of records, arrays as lists, NaN/inf as None.

    Examples
    --------
    >>> jsonable({"a": np.float64("nan"), "b": np.arange(2)})
    {'a': None, 'b': [0, 1]}
    """
    if isinstance(value, pd.DataFrame):
        return json.loads(value.to_json(orient="records"))
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return jsonable(value.item())  # a NaN becomes null like any other
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return repr(value)


def finish_long(long: pd.DataFrame, confidence: float) -> pd.DataFrame:
    """``long`` in the long table's form: ids first (empty ids as ""), then :data:`LONG_COLUMNS`.

    A missing ``confidence`` (a row without an interval, or a table built without one) is ``confidence``.
    """
    long = long.copy()
    if "confidence" not in long:
        long["confidence"] = confidence
    long["confidence"] = long["confidence"].astype(float).fillna(confidence)
    for column in ("statistic", "low", "high", "n"):
        long[column] = long[column].astype(float) if column in long else np.nan
    ids = [c for c in long.columns if c not in LONG_COLUMNS]
    long[ids] = long[ids].astype(object).where(long[ids].notna(), "")
    return long[[*ids, *LONG_COLUMNS]].reset_index(drop=True)


def long_table(rows: list[dict[str, Any]], confidence: float) -> pd.DataFrame:
    """A report's stored table from its estimate rows (each: ids, ``measure``, ``statistic``, ``low``, ``high``, ``n``).

    Examples
    --------
    >>> long_table([{"scope": "s", "measure": "m", "statistic": 0.5, "low": 0.4, "high": 0.6, "n": 10}], 0.95)
      scope measure  statistic  low  high     n  confidence
    0     s       m        0.5  0.4   0.6  10.0        0.95
    """
    return finish_long(pd.DataFrame(rows, columns=None if rows else list(LONG_COLUMNS)), confidence)


def estimate_row(measure: str, estimate: Any, **ids: Any) -> dict[str, Any]:
    """One row of a long table from an :class:`~trustkit.stats.Estimate` (ids first)."""
    return {**ids, "measure": measure, "statistic": estimate.statistic, "low": estimate.low, "high": estimate.high,
            "n": estimate.n, "confidence": estimate.confidence}


def wide_table(long: pd.DataFrame) -> pd.DataFrame:
    """A long table with a column per measure (``m``, ``m_low``, ``m_high``), one row per combination of ids.

    ``n`` and ``confidence`` are kept when every measure of a row has the same.

    Examples
    --------
    >>> long = long_table([{"setting": "a", "measure": m, "statistic": v, "low": v - 1, "high": v + 1, "n": 5}
    ...                    for m, v in (("x", 1.0), ("y", 2.0))], 0.95)
    >>> wide_table(long)
      setting    x  x_low  x_high    y  y_low  y_high    n  confidence
    0       a  1.0    0.0     2.0  2.0    1.0     3.0  5.0        0.95
    """
    ids = [c for c in long.columns if c not in LONG_COLUMNS]
    if not len(long):
        return pd.DataFrame(columns=ids)
    key = long[ids].astype(str).agg("\x1f".join, axis=1) if ids else pd.Series("", index=long.index)
    out: dict[str, dict[str, Any]] = {}
    for k, row in zip(key, long.to_dict("records")):
        rec = out.setdefault(k, {**{c: row[c] for c in ids}, "_n": set(), "_c": set()})
        m = row["measure"]
        rec[m], rec[f"{m}_low"], rec[f"{m}_high"] = row["statistic"], row["low"], row["high"]
        rec["_n"].add(row["n"])
        rec["_c"].add(row["confidence"])
    records = []
    for rec in out.values():
        n, c = rec.pop("_n"), rec.pop("_c")
        records.append({**rec, **({"n": n.pop()} if len(n) == 1 else {}), **({"confidence": c.pop()} if len(c) == 1 else {})})
    frame = pd.DataFrame(records)
    tail = [c for c in ("n", "confidence") if c in frame]
    return frame[[c for c in frame.columns if c not in tail] + tail]


def layer_profile(rows: dict[str, Any], **ids: Any) -> pd.DataFrame:
    """A layer profile: one row per layer, shallow to deep (``rows``' order), each a row of a long table.

    Every meter builds its profile here (``layer="all"``): ``ids`` (e.g. the
    ``series``), then ``layer``, ``depth`` and the long table's columns of
    the row measured on that layer (a mapping or :class:`pandas.Series` with
    :data:`LONG_COLUMNS`).

    Examples
    --------
    >>> row = {"measure": "sensitivity", "statistic": 0.1, "low": 0.0, "high": 0.3, "n": 20, "confidence": 0.95}
    >>> layer_profile({"conv1": row, "conv2": row})[["layer", "depth", "statistic"]]
       layer  depth  statistic
    0  conv1      0        0.1
    1  conv2      1        0.1
    """
    return pd.DataFrame([{**ids, "layer": layer, "depth": depth, **{c: row[c] for c in LONG_COLUMNS}}
                         for depth, (layer, row) in enumerate(rows.items())])


@dataclass(frozen=True, eq=False, repr=False)
class Report:
    """Base of every meter's result.

    Subclasses are frozen dataclasses with a ``table`` field, a ``config``
    dict, ``higher_is_better`` and ``headline``; ``float(report)`` is the
    headline number. ``table`` is the one stored long table, the same shape in
    every report: what identifies a row (``scope``, ``setting``, ``encoder``,
    ``task``, ...), then ``measure, statistic, low, high, n, confidence``
    (:data:`LONG_COLUMNS`; build it with :func:`long_table`). :meth:`to_long`
    puts the headline on top of it; :meth:`wide` pivots it to a column per
    measure.
    """

    higher_is_better: ClassVar[bool] = True
    #: what ``float(report)`` means, in words
    headline: ClassVar[str] = ""

    def __float__(self) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    #: the error a failed gate raises (a subclass of :class:`~trustkit.GateError`)
    gate_error: ClassVar[type[GateError]] = GateError
    #: the legal range of a limit on the headline, ``(low, high)`` (None: unbounded)
    limit_range: ClassVar[tuple[float | None, float | None]] = (None, None)
    #: the limit's name, in messages and as a keyword of :meth:`check` (e.g. ``max_sensitivity``)
    limit_name: ClassVar[str] = "limit"
    #: how a gate's message writes the headline (a count: ``"g"``)
    value_format: ClassVar[str] = ".3f"
    #: what :meth:`check` accepts as ``scope`` besides ``"headline"``
    gate_scopes: ClassVar[tuple[str, ...]] = ()

    def check(self, limit: float | None = None, *, scope: str = "headline", use_interval: bool = False,
              **named_limit: float) -> str:
        """Gate on the headline: raise when it is on the wrong side of ``limit``; return what passed.

        The one gate of trustkit (:mod:`trustkit.reports.gate`): the command
        line's ``--fail-above``/``--fail-below`` and :mod:`trustkit.testing`
        come here. Higher-is-better headlines must reach ``limit``,
        lower-is-better ones must not exceed it; an undefined headline fails.

        Parameters
        ----------
        limit : float
            In the report's ``limit_range``; may also be passed by the
            report's ``limit_name`` (``report.check(max_sensitivity=0.2)``).
        scope : str, default="headline"
            ``"headline"``, or one of the report's ``gate_scopes`` (e.g.
            ``"per_setting"`` for a sensitivity report: every setting of the
            headline's scope must pass).
        use_interval : bool, default=False
            Gate on the unfavourable end of the headline's interval (the lower
            end when higher is better): a stricter gate that accounts for the
            sample size.

        Returns
        -------
        str
            The passing comparison, e.g. ``"accuracy 0.900 >= 0.8"``.

        Raises
        ------
        GateError
            Of the report's kind (``gate_error``), naming the value, the
            limit and which way it failed.
        ValueError
            The limit is not a finite number in ``limit_range``, or the scope
            is unknown.
        """
        from .gate import gate

        if named_limit:
            unknown = sorted(set(named_limit) - {self.limit_name})
            if unknown or limit is not None:
                raise TypeError(f"{type(self).__name__}.check takes one limit, positionally or as "
                                f"{self.limit_name}=; got {'limit and ' if limit is not None else ''}"
                                f"{', '.join(sorted(named_limit))}.")
            limit = named_limit[self.limit_name]
        if limit is None:
            raise TypeError(f"{type(self).__name__}.check needs a limit, e.g. check({self.limit_name}=...).")
        return gate(self, limit, scope=scope, use_interval=use_interval)

    def limit_bounds(self) -> tuple[float | None, float | None]:
        """The legal range of a limit on this report's headline (``limit_range`` unless the headline varies)."""
        return self.limit_range

    def _gate_scope(self, scope: str, limit: float, use_interval: bool, error: type[Exception]) -> str:
        """The gate for one of ``gate_scopes`` (reports that declare scopes implement it)."""
        raise NotImplementedError  # pragma: no cover - only called for a declared scope

    def _gate_detail(self, limit: float) -> str:
        """What a failed headline gate adds to its message (e.g. the settings above the limit); "" for nothing."""
        return ""

    def _measure_name(self) -> str:
        """The headline's measure in a few words (the ``headline`` class attribute says it all)."""
        return self.headline.split(":")[0].split(" (")[0]

    def _headline_interval(self) -> tuple[float, float] | None:
        """The headline's interval, when the report has one."""
        return None

    def _undefined_reason(self) -> str:
        """Why the headline is undefined (NaN), in words; "" when the report cannot tell."""
        return ""

    def __repr__(self) -> str:
        """One line: the headline with its interval (``summary()`` and ``table`` hold the rest)."""
        value = float(self)
        interval = self._headline_interval()
        text = f"undefined ({self._undefined_reason() or 'see .summary()'})" if not np.isfinite(value) else f"{value:.3f}"
        if interval is not None and np.isfinite(value):
            text += f" [{interval[0]:.3f}, {interval[1]:.3f}]"
        better = "higher" if self.higher_is_better else "lower"
        what = self._measure_name()
        return f"<{type(self).__name__}: {what} {text}, {better} is better; .summary() for more>"

    def _repr_html_(self) -> str:
        """For notebooks: the summary and the first rows of the long table (``to_long()``; ``report.table`` has all)."""
        long = self.to_long()
        head = long.head(12).to_html(index=False, float_format=lambda v: f"{v:.4g}", escape=True, na_rep="")
        more = f"<p><small>{len(long)} rows in report.to_long()</small></p>" if len(long) > 12 else ""
        return f"<pre>{html.escape(self.summary())}</pre>{head}{more}"

    def to_frame(self) -> pd.DataFrame:
        """The stored table, wide: one row per thing measured, a column per measure (see :meth:`wide`)."""
        return self.wide()

    def wide(self) -> pd.DataFrame:
        """The stored long table with one row per identified thing and three columns per measure.

        Reports may show a narrower view (a probe: one row per metric). The ids (``scope``, ``setting``, ``encoder``, ...) stay as they are;
        each measure becomes ``<measure>``, ``<measure>_low`` and
        ``<measure>_high``; ``n`` and ``confidence`` stay when they are the
        same for every measure of a row. Rows keep the table's order.

        Returns
        -------
        pandas.DataFrame

        Examples
        --------
        >>> import numpy as np
        >>> from trustkit import TransferabilityProbe
        >>> rng = np.random.default_rng(0)
        >>> F = np.eye(2)[np.repeat([0, 1], 20)] + 0.3 * rng.standard_normal((40, 2))
        >>> report = TransferabilityProbe("precomputed", cv=2, n_bootstrap=50, random_state=0).score(F, np.repeat(["a", "b"], 20))
        >>> wide = report.wide()  # a probe's: one row per metric
        >>> str(wide.loc[0, "metric"]), bool(wide.loc[0, "low"] <= wide.loc[0, "statistic"] <= wide.loc[0, "high"])
        ('accuracy', True)
        """
        return wide_table(self.table)

    def row(self, measure: str, **ids: Any) -> pd.Series:
        """The stored table's one row of ``measure`` whose id columns equal ``ids`` ("" matches an empty id).

        Raises
        ------
        KeyError
            When not exactly one row matches.

        Examples
        --------
        >>> import numpy as np
        >>> from trustkit import TransferabilityProbe
        >>> rng = np.random.default_rng(0)
        >>> F = np.eye(2)[np.repeat([0, 1], 20)] + 0.3 * rng.standard_normal((40, 2))
        >>> report = TransferabilityProbe("precomputed", cv=2, n_bootstrap=50, random_state=0).score(F, np.repeat(["a", "b"], 20))
        >>> float(report.row("accuracy", scope="probe, out-of-fold")["statistic"]) == float(report)
        True
        """
        t = self.table
        keep = t["measure"] == measure
        for column, value in ids.items():
            keep &= (t[column].fillna("") if t[column].dtype == object else t[column]) == value
        rows = t[keep]
        if len(rows) != 1:
            raise KeyError(f"{type(self).__name__}: {len(rows)} rows of measure {measure!r} with {ids}; expected one.")
        return rows.iloc[0]

    def to_long(self) -> pd.DataFrame:
        """Every number of the report with its interval, in the one long table every report shares.

        The stored ``table`` with the headline as its first row. Columns: what
        identifies the row (e.g. ``encoder``, ``task``, ``setting``), then
        ``measure, statistic, low, high, n, confidence`` (scipy's names: the
        statistic and its confidence interval).

        Returns
        -------
        pandas.DataFrame

        Examples
        --------
        >>> import numpy as np
        >>> from trustkit import TransferabilityProbe
        >>> rng = np.random.default_rng(0)
        >>> F = np.eye(2)[np.repeat([0, 1], 20)] + 0.3 * rng.standard_normal((40, 2))
        >>> report = TransferabilityProbe("precomputed", cv=2, n_bootstrap=50, random_state=0).score(F, np.repeat(["a", "b"], 20))
        >>> long = report.to_long()
        >>> list(long.columns[-6:])
        ['measure', 'statistic', 'low', 'high', 'n', 'confidence']
        >>> long.iloc[0]["scope"], long.iloc[0]["measure"], float(long.iloc[0]["statistic"]) == float(report)
        ('headline', 'accuracy', True)
        """
        value = float(self)
        interval = self._headline_interval() or (np.nan, np.nan)
        head = {"scope": "headline", "measure": self._measure_name(), "statistic": value,
                "low": interval[0], "high": interval[1], "n": self._headline_n()}
        long = pd.concat([pd.DataFrame([head]), self.table], ignore_index=True)
        return finish_long(long, self.config.get("confidence", 0.95))

    def _headline_n(self) -> float:
        """The sample size behind the headline."""
        return np.nan

    def paired_outcomes(self) -> dict[str, Any] | None:
        """What a clip-by-clip comparison with another run needs (JSON-ready); None for a report that has none.

        The content key of every clip (``keys``), what two runs must share to
        be compared (``design``: settings, the seed tree's entropy, ...;
        ``per_unit``: folds, labels), and the per-clip outcomes behind the
        headline and each setting (``comparisons``). Written into the JSON
        (``"paired"``) so that ``trustkit diff`` compares files; read by
        :meth:`compare_to`.
        """
        return None

    def compare_to(self, old: Any, *, margin: float = 0.02, confidence: float | None = None,
                   n_bootstrap: int = 2000, random_state: int = 0) -> Any:
        """Compare with an ``old`` run on the same clips: each headline and setting worse, better, equivalent or undecided.

        ``old`` is a report of the same kind, its JSON document or the path of
        its JSON file. See :func:`trustkit.reports.diff.compare_runs` for the
        decision rule (paired tests, Holm, TOST margin); ``confidence``
        defaults to this report's.

        Returns
        -------
        DiffReport
            ``float(diff)`` is the number of headlines worse; ``diff.check(0)``
            gates on it.

        Raises
        ------
        NotComparableError
            The runs used other clips, settings, seeds or folds (each named).
        """
        from .diff import compare_runs

        conf = self.config.get("confidence", 0.95) if confidence is None else confidence
        return compare_runs(old, self, margin=margin, confidence=conf, n_bootstrap=n_bootstrap,
                            random_state=random_state)

    def to_dict(self) -> dict[str, Any]:
        """All fields as JSON-ready Python objects, plus the headline, the long table and trustkit's version."""
        out = {f.name: jsonable(getattr(self, f.name)) for f in fields(self)}
        out["paired"] = jsonable(self.paired_outcomes())
        out["headline"] = {"value": jsonable(float(self)), "meaning": self.headline, "higher_is_better": self.higher_is_better}
        out["report"] = type(self).__name__
        out["version"] = version()
        out["summary"] = self.summary()
        out["long"] = jsonable(self.to_long())
        out["wide"] = jsonable(self.wide())
        # what the page needs beyond the fields, so that `trustkit report` rebuilds the page to_html writes
        interval = self._headline_interval()
        out["measure"] = self._measure_name()
        out["interval"] = None if interval is None else jsonable(list(interval))
        out["plot_png"] = self._plot_png()
        return out

    def to_json(self, path: str | os.PathLike[str] | None = None, *, indent: int = 1) -> str:
        """Serialise :meth:`to_dict`; also write it to ``path`` when given."""
        text = json.dumps(self.to_dict(), indent=indent, allow_nan=False)
        if path is not None:
            write_text_atomic(path, text)
        return text

    def summary(self) -> str:  # pragma: no cover - abstract
        """A short readable account of the results."""
        raise NotImplementedError

    def plot(self, ax: Any = None) -> Any:  # pragma: no cover - abstract
        """Plot the results; returns the matplotlib figure."""
        raise NotImplementedError

    def plot_profile(self, ax: Any = None) -> Any:
        """The layer profile: the measure of every layer against depth, with its interval.

        Available when the encoder was set to ``layer="all"`` (``report.profile``
        has one row per layer, shallow to deep).

        Returns
        -------
        matplotlib.axes.Axes
        """
        profile = getattr(self, "profile", None)
        if profile is None or not len(profile):
            raise ValueError(f"this {type(self).__name__} has no layer profile: score an encoder set to layer='all' "
                             "(e.g. MusicnnEncoder(layer='all'), HFAudioEncoder(path, layer='all')).")
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(max(4.0, 0.6 * len(profile["depth"].unique())), 3.4), layout="constrained")
        for key, g in (profile.groupby("series", sort=False) if "series" in profile else [(None, profile)]):
            x = g["depth"].to_numpy()
            ax.fill_between(x, g["low"], g["high"], alpha=0.2)
            ax.plot(x, g["statistic"], marker="o", label=key)
        if "series" in profile:
            ax.legend(fontsize=8)
        ax.set_xticks(profile["depth"].unique(), profile.drop_duplicates("depth")["layer"], rotation=45, ha="right")
        ax.set_xlabel("layer (shallow to deep)")
        ax.set_ylabel(f"{profile['measure'].iloc[0]} ({int(100 * self.config.get('confidence', 0.95))} % interval)")
        return ax

    def _plot_png(self) -> str:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        fig = self.plot()
        fig = fig if hasattr(fig, "savefig") else fig.figure
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
        plt.close(fig)
        return base64.b64encode(buf.getvalue()).decode()

    def section(self, title: str | None = None, note: str = "") -> dict[str, Any]:
        """The report as one section of a report document (what :func:`trustkit.trust.render_html` renders)."""
        interval = self._headline_interval()
        return {
            "title": title or type(self).__name__, "note": note or self.headline, "summary": self.summary(),
            "measure": self._measure_name(), "headline": jsonable(float(self)), "higher_is_better": self.higher_is_better,
            "interval": None if interval is None else jsonable(list(interval)),
            "table": jsonable(self.to_frame()), "compact": jsonable(self.to_long()), "plot_png": self._plot_png(),
            "paired": jsonable(self.paired_outcomes()),
        }

    def to_html(self, path: str | os.PathLike[str] | None = None) -> str:
        """A self-contained HTML page: summary, figure, the long table, the full table behind a toggle.

        Rendered by trustkit's one renderer (:func:`trustkit.trust.render_html`)
        from the same document as ``trustkit report`` reads.
        """
        from .html import render_html

        page = render_html({"report": "TrustReport", "meta": {"description": self.headline, "version": version()},
                            "sections": [self.section()]})
        if path is not None:
            write_text_atomic(path, page)
        return page

    def __str__(self) -> str:
        return self.summary()
