"""Two runs of a meter compared clip by clip: whether the new model is worse than the old one.

A report keeps what a paired comparison needs (:meth:`Report.paired_outcomes
<trustkit.reports.Report.paired_outcomes>`, also in its JSON under
``"paired"``): the content key of every clip, what must be the same for two
runs to be compared (settings, the seed tree's entropy, folds, labels) and
the per-clip outcomes behind each headline and setting. :func:`compare_runs`
(``report.compare_to(old)``, ``trustkit diff OLD.json NEW.json``) pairs the
clips by content, refuses runs that did not measure the same thing, and
judges every difference.

The decision rule, with ``alpha = 1 - confidence`` and a margin ``m`` on the
measure's own scale (the smallest change that matters):

- the difference is ``new - old``; it is *worse* in the measure's bad
  direction (up for a sensitivity, down for an accuracy);
- a test of no change: McNemar's exact test for a share of clips (a
  setting's sensitivity, an accuracy), the paired bootstrap otherwise (a mean
  of per-clip values, a ROC-AUC, an R2; its p-value is the normal one with the
  bootstrap's standard error), by groups when the run had groups; p-values
  are adjusted by Holm in two families: the headlines (one per report, task
  or encoder: what gates) and everything else (settings: the diagnosis);
- an interval of the difference at ``1 - 2 alpha`` (90 % for the default 95 %
  confidence): the paired percentile bootstrap over clips (or groups);
- ``worse`` / ``better``: the adjusted p-value is below ``alpha`` and the
  difference is beyond the margin in that direction; ``equivalent``: the
  whole interval lies within ``[-m, m]`` (two one-sided tests at ``alpha``,
  TOST); ``undecided``: neither (too few clips to tell).

A change that is real but smaller than the margin is ``equivalent`` when the
data pin it down, ``undecided`` when they do not; nothing is ever ``worse``
on a point estimate alone. When nothing changed, the chance that any verdict
of the headlines reads ``worse`` is at most ``alpha`` (Holm controls the
family-wise error; the same holds for the settings as a family).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from ..exceptions import GateError
from ..stats import holm, mcnemar_exact, paired_bootstrap, score_metric
from .base import Report, jsonable, long_table

__all__ = ["DEFAULT_MARGIN", "VERDICTS", "DiffReport", "NotComparableError", "RegressionError", "compare_runs",
           "decode_share", "encode_share"]

#: the default margin, on the measure's own scale: 2 points of a share (sensitivity, accuracy)
DEFAULT_MARGIN = 0.02
VERDICTS = ("worse", "better", "equivalent", "undecided")


class NotComparableError(ValueError):
    """Two runs did not measure the same thing (other clips, settings, seeds or folds): no paired comparison."""


class RegressionError(GateError):
    """Raised by :meth:`DiffReport.check` when a headline is worse (or, strictly, not shown equivalent)."""


def encode_share(flags: Any) -> str:
    """Binary per-clip outcomes as one string: ``"1"``, ``"0"``, ``"."`` for a clip without one (NaN).

    Examples
    --------
    >>> encode_share([1.0, 0.0, float("nan"), 1.0])
    '10.1'
    """
    flags = np.asarray(flags, dtype=float)
    return "".join("." if not np.isfinite(f) else ("1" if f else "0") for f in flags)


def decode_share(text: str) -> np.ndarray:
    """The inverse of :func:`encode_share`: floats, NaN for ``"."``.

    Examples
    --------
    >>> decode_share("10.1").tolist()
    [1.0, 0.0, nan, 1.0]
    """
    codes = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
    return np.where(codes == ord("."), np.nan, (codes == ord("1")).astype(float))


def _payload(run: Any, which: str) -> dict[str, Any]:
    """A run's paired outcomes from a report, its JSON document (a dict) or the path of its JSON file."""
    source = which
    if isinstance(run, (str, os.PathLike)):
        source = f"{which} ({os.fspath(run)})"
        try:
            with open(run, encoding="utf-8") as fh:
                run = json.load(fh)
        except (OSError, json.JSONDecodeError) as exc:
            raise NotComparableError(f"{source}: cannot read a report's JSON ({exc}).") from exc
    if isinstance(run, Report):
        payload = jsonable(run.paired_outcomes())  # as its JSON file holds it: a report compares equal to its file
    elif isinstance(run, dict):
        payload = run.get("paired", run if "comparisons" in run or "parts" in run else None)
    else:
        raise TypeError(f"{which} must be a report, a report's JSON (dict) or its path; got {type(run).__name__}.")
    if not payload:
        kind = run.get("report") if isinstance(run, dict) else type(run).__name__
        version = run.get("version", "?") if isinstance(run, dict) else ""
        raise NotComparableError(
            f"{source} carries no per-clip outcomes ({kind}{', trustkit ' + version if version else ''}): a paired "
            "comparison needs them. Re-run it with this trustkit version and keep its --json output.")
    return payload


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _design_differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    problems = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if a != b:
            if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
                at = next(i for i, (u, v) in enumerate(zip(a, b)) if u != v)
                problems.append(f"{key} differs at entry {at}: old {_short(a[at])}, new {_short(b[at])}")
            else:
                problems.append(f"{key}: old {_short(a)}, new {_short(b)}")
    return problems


def _align(old: dict[str, Any], new: dict[str, Any], part: str) -> tuple[np.ndarray, str, list[str]]:
    """For each old clip, its place in the new run (by content key; by position when a run has none)."""
    ko, kn = old.get("keys"), new.get("keys")
    n_old, n_new = int(old["n_units"]), int(new["n_units"])
    what = old.get("unit", "clip")
    part = "" if part == "run" else f"{part}: "
    if not ko or not kn:
        if n_old != n_new:
            return np.arange(0), "", [f"{part}{n_old} {what}s in the old run, {n_new} in the new one"]
        return np.arange(n_old), f"{what}s matched by position (a run without content keys: embeddings given)", []
    if ko == kn:
        return np.arange(n_old), "", []
    places: dict[str, list[int]] = {}
    for i, k in enumerate(kn):
        places.setdefault(k, []).append(i)
    order, missing = [], []
    for i, k in enumerate(ko):
        if places.get(k):
            order.append(places[k].pop(0))
        else:
            missing.append(i)
    extra = sum(len(v) for v in places.values())
    if missing or extra:
        first = f" (first: old {what} {missing[0]}, key {ko[missing[0]]})" if missing else ""
        return np.arange(0), "", [f"{part}{len(missing)} of the old run's {n_old} {what}s are not in the new run"
                                  f"{first}, and {extra} of the new run's are not in the old one: the runs measured "
                                  f"other {what}s"]
    return np.array(order), f"{what}s matched by content (the new run has them in another order)", []


def _flatten(payload: dict[str, Any], prefix: str = "") -> dict[str, dict[str, Any]]:
    """A payload's parts by name (one part for a single report)."""
    if "parts" in payload:
        out: dict[str, dict[str, Any]] = {}
        for name, part in payload["parts"].items():
            out.update(_flatten(part, f"{prefix}{name}: "))
        return out
    return {prefix.removesuffix(": ") or "run": payload}


def _values(comparison: dict[str, Any]) -> Any:
    if comparison["statistic"] == "share":
        return decode_share(comparison["values"])
    return np.asarray(comparison["values"], dtype=float)  # JSON's nulls (NaN) become NaN


def _statistic(kind: str, truth: Any) -> Any:
    """``f(values, index) -> float``: the run's statistic on the clips ``index``."""
    if kind in ("share", "mean"):
        return lambda v, i: float(np.mean(v[i]))
    return lambda v, i: score_metric(kind, truth[i], v[i], v[i] if kind in ("roc_auc", "map") else None)


def _judge(old_c: dict[str, Any], new_c: dict[str, Any], order: np.ndarray, groups: Any, truth: Any,
           conf: float, n_bootstrap: int, seed: int) -> dict[str, Any]:
    kind = old_c["statistic"]
    a, b = _values(old_c), _values(new_c)[order]
    keep = np.isfinite(a.reshape(len(a), -1)).all(axis=1) & np.isfinite(b.reshape(len(b), -1)).all(axis=1)
    a, b = a[keep], b[keep]
    truth = None if truth is None else truth[keep]
    g = None if groups is None else np.asarray(groups)[keep]
    stat = _statistic(kind, truth)
    est, p = paired_bootstrap(lambda i: stat(b, i) - stat(a, i), len(a), groups=g, n_bootstrap=n_bootstrap,
                              confidence=conf, random_state=seed)
    test = "paired bootstrap" + (" by group" if g is not None else "")
    if kind == "share" and g is None:
        p, test = mcnemar_exact(a, b), "McNemar exact"
    idx = np.arange(len(a))
    return {"old": stat(a, idx) if len(a) else np.nan, "new": stat(b, idx) if len(a) else np.nan,
            "estimate": est, "p": p, "test": test}


def _verdict(worsening: float, low: float, high: float, p_holm: float, margin: float, alpha: float) -> str:
    """The verdict on a difference oriented so that positive is worse (see the module's decision rule)."""
    if not (np.isfinite(worsening) and np.isfinite(low) and np.isfinite(high)):
        return "undecided"
    if p_holm < alpha and worsening > margin:
        return "worse"
    if p_holm < alpha and worsening < -margin:
        return "better"
    if -margin <= low and high <= margin:
        return "equivalent"
    return "undecided"


def compare_runs(old: Any, new: Any, *, margin: float = DEFAULT_MARGIN, confidence: float = 0.95,
                 n_bootstrap: int = 2000, random_state: int = 0) -> DiffReport:
    """Compare two runs of the same meter on the same clips, clip by clip: worse, better, equivalent or undecided.

    Parameters
    ----------
    old, new : Report, dict or path
        Two reports of one kind, their JSON documents (``report.to_dict()``
        or a loaded ``--json`` file) or the paths of their JSON files.
    margin : float, default=0.02
        The smallest change that matters, on the measure's own scale (0.02:
        two points of a sensitivity or an accuracy). See the module's
        decision rule.
    confidence : float, default=0.95
        ``alpha = 1 - confidence`` for the tests; the intervals are at
        ``1 - 2 alpha`` (TOST).
    n_bootstrap : int, default=2000
        Paired resamples of the clips (or groups).
    random_state : int, default=0
        Seeds the resamples (the same for every comparison).

    Returns
    -------
    DiffReport

    Raises
    ------
    NotComparableError
        The runs measured different things: other clips (by content), other
        settings, seeds, folds or labels; every difference is named.

    Examples
    --------
    >>> import numpy as np
    >>> from trustkit import TransferabilityProbe
    >>> rng = np.random.default_rng(0)
    >>> y = np.repeat(["a", "b"], 60)
    >>> F = np.eye(2)[np.repeat([0, 1], 60)] + 0.4 * rng.standard_normal((120, 2))
    >>> probe = TransferabilityProbe("precomputed", cv=3, n_bootstrap=100, random_state=0)
    >>> old = probe.score(F, y)
    >>> new = probe.score(F + 2.0 * rng.standard_normal(F.shape), y)  # a degraded representation
    >>> diff = compare_runs(old, new, margin=0.05)
    >>> diff.verdicts()["accuracy"]
    'worse'
    >>> compare_runs(old, old).verdicts()["accuracy"]
    'equivalent'
    """
    from .._validation import check_number

    margin = check_number(margin, "margin", low=0)
    confidence = check_number(confidence, "confidence", low=0.5, high=1, low_inclusive=False, high_inclusive=False)
    alpha = 1 - confidence
    P_old, P_new = _payload(old, "old"), _payload(new, "new")
    if P_old.get("report") != P_new.get("report"):
        raise NotComparableError(f"the old run is a {P_old.get('report')}, the new one a {P_new.get('report')}: "
                                 "compare two runs of the same meter.")
    parts_old, parts_new = _flatten(P_old), _flatten(P_new)
    problems, notes = [], []
    if set(parts_old) != set(parts_new):
        problems.append(f"parts: old {sorted(parts_old)}, new {sorted(parts_new)}")
    rows, pending = [], []
    for name in [n for n in parts_old if n in parts_new]:
        o, w = parts_old[name], parts_new[name]
        where = "" if name == "run" else f"{name}: "
        problems += [where + p for p in _design_differences(o.get("design", {}), w.get("design", {}))]
        order, note, bad = _align(o, w, name)
        problems += bad
        if bad:
            continue
        if note:
            notes.append(where + note)
        for field, values in o.get("per_unit", {}).items():
            other = w.get("per_unit", {}).get(field)
            if other is None or len(other) != len(values) or any(values[i] != other[j] for i, j in enumerate(order)):
                problems.append(f"{where}{field} of the clips differ (the same clips must have the same {field})")
        names_o = [c["name"] for c in o["comparisons"]]
        names_w = {c["name"]: c for c in w["comparisons"]}
        if set(names_o) != set(names_w):
            problems.append(f"{where}measures: old {names_o}, new {sorted(names_w)}")
            continue
        truth = o.get("per_unit", {}).get("label")
        pending += [(name, c, names_w[c["name"]], order, o.get("groups"), truth) for c in o["comparisons"]]
    if problems:
        raise NotComparableError("the two runs are not comparable clip by clip:\n  - " + "\n  - ".join(problems))
    for part, c_old, c_new, order, groups, truth in pending:
        # the targets matter only to a metric recomputed on resamples (ROC-AUC, R2), not to a share or a mean
        truth_arr = None if truth is None or c_old["statistic"] in ("share", "mean") else np.asarray(truth, dtype=float)
        res = _judge(c_old, c_new, order, groups, truth_arr, 1 - 2 * alpha, n_bootstrap, random_state)
        est = res["estimate"]
        rows.append({"part": "" if part == "run" else part, "name": c_old["name"], "scope": c_old["scope"],
                     "compared": c_old.get("measure", c_old["name"]), "higher_is_better": bool(c_old["higher_is_better"]),
                     "test": res["test"], "p": res["p"], "old": res["old"], "new": res["new"],
                     "measure": "difference", "statistic": est.statistic, "low": est.low, "high": est.high,
                     "n": est.n, "confidence": 1 - 2 * alpha})
    # Holm within two families: the headlines (what gates) and the rest (settings: the diagnosis)
    adjusted = np.ones(len(rows))
    for family in (True, False):
        idx = [i for i, r in enumerate(rows) if (r["scope"] == "headline") == family]
        if idx:
            adjusted[idx] = holm(np.nan_to_num(np.array([rows[i]["p"] for i in idx], dtype=float), nan=1.0))
    for row, p_holm in zip(rows, adjusted):
        sign = -1.0 if row["higher_is_better"] else 1.0  # positive = worse
        lo, hi = sorted((sign * row["low"], sign * row["high"]))
        row["p_holm"] = float(p_holm)
        row["verdict"] = _verdict(sign * row["statistic"], lo, hi, float(p_holm), margin, alpha)
    columns = ["part", "name", "scope", "compared", "higher_is_better", "old", "new", "test", "p", "p_holm", "verdict"]
    table = long_table([{**{c: r[c] for c in columns}, **{c: r[c] for c in
                                                           ("measure", "statistic", "low", "high", "n", "confidence")}}
                        for r in rows], 1 - 2 * alpha)
    config = {"report": P_old.get("report"), "margin": margin, "confidence": confidence, "alpha": alpha,
              "interval_confidence": 1 - 2 * alpha, "n_bootstrap": n_bootstrap, "random_state": random_state,
              "notes": notes, "old": P_old.get("describe", {}), "new": P_new.get("describe", {}),
              "n_comparisons": len(rows)}
    return DiffReport(table=table, config=config)


@dataclass(frozen=True, eq=False, repr=False)
class DiffReport(Report):
    """Result of :func:`compare_runs` (``new.compare_to(old)``, ``trustkit diff``).

    Attributes
    ----------
    table : pandas.DataFrame
        One row per comparison (a headline, a setting, a task): ids ``part``
        (the report inside a composite run), ``name``, ``scope``
        (``"headline"``, ``"setting"``), ``compared`` (the measure),
        ``higher_is_better``, the ``old`` and ``new`` values on the paired
        clips, the ``test``, its ``p`` and Holm-adjusted ``p_holm``, the
        ``verdict``; then the difference ``new - old`` (``measure`` =
        ``"difference"``) with its ``1 - 2 alpha`` interval.
    config : dict
        The margin, confidence, resamples, notes on how clips were paired,
        and what describes each run.

    ``float(report)`` is the number of headlines found worse; ``check(0)``
    fails when any is, ``check(0, scope="undecided")`` also when a headline
    is not shown equivalent.
    """

    table: pd.DataFrame
    config: dict
    higher_is_better: ClassVar[bool] = False
    gate_error: ClassVar[type[GateError]] = RegressionError
    limit_range: ClassVar[tuple[float | None, float | None]] = (0.0, None)
    limit_name: ClassVar[str] = "max_worse"
    value_format: ClassVar[str] = "g"
    gate_scopes: ClassVar[tuple[str, ...]] = ("undecided",)
    headline: ClassVar[str] = "number of headlines worse than in the old run, beyond the margin"

    def _headlines(self) -> pd.DataFrame:
        return self.table[self.table["scope"] == "headline"]

    def __float__(self) -> float:
        return float((self._headlines()["verdict"] == "worse").sum())

    def _measure_name(self) -> str:
        return "headlines worse"

    def _headline_n(self) -> float:
        return float(len(self._headlines()))

    def verdicts(self, scope: str | None = "headline") -> dict[str, str]:
        """The verdict of each comparison of ``scope`` (None: every comparison), by name (``part: name`` in a composite run)."""
        t = self.table if scope is None else self.table[self.table["scope"] == scope]
        return {(f"{p}: {n}" if p else n): v for p, n, v in zip(t["part"], t["name"], t["verdict"])}

    def ci_cases(self) -> list[tuple[str, bool, str]]:
        """One CI test case per headline: it fails when the headline is worse (see :mod:`trustkit.reports.ci`)."""
        return [(f"{r['part']}: {r['name']}" if r["part"] else r["name"], r["verdict"] != "worse", self._line(r))
                for _, r in self._headlines().iterrows()]

    def _gate_detail(self, limit: float) -> str:
        worse = [k for k, v in self.verdicts().items() if v == "worse"]
        return "worse: " + ", ".join(worse) if worse else ""

    def _gate_scope(self, scope: str, limit: float, use_interval: bool, error: type[Exception]) -> str:
        bad = {k: v for k, v in self.verdicts().items() if v in ("worse", "undecided")}
        message = f"{len(bad)} headlines worse or undecided"
        if len(bad) > limit:
            raise error(f"{message} > {limit:g} ({self.limit_name}): "
                        + ", ".join(f"{k} ({v})" for k, v in bad.items()) + ".")
        return f"{message} <= {limit:g}"

    def _line(self, row: pd.Series) -> str:
        pct = round(100 * row["confidence"])
        what = f"{row['part']}: {row['name']}" if row["part"] else row["name"]
        return (f"{what}: {row['old']:.3f} -> {row['new']:.3f} ({row['statistic']:+.3f}, {pct} % interval "
                f"[{row['low']:+.3f}, {row['high']:+.3f}]; {row['test']} p = {row['p']:.2g}, Holm {row['p_holm']:.2g}): "
                f"{row['verdict'].upper()}")

    def summary(self) -> str:
        """The headlines' verdicts, then the settings' verdicts counted, the worse and better ones named."""
        c = self.config
        names = [c[side].get("encoder") or c[side].get("response") for side in ("new", "old")]
        who = f"new ({names[0]}) vs old ({names[1]})" if all(names) else "new vs old"
        lines = [f"{c['report']}: {who}, paired over the same clips; margin {c['margin']:g}, "
                 f"alpha {c['alpha']:.2g} (Holm within the headlines and within the rest)."]
        lines += [self._line(r) for _, r in self._headlines().iterrows()]
        rest = self.table[self.table["scope"] != "headline"]
        if len(rest):
            counts = rest["verdict"].value_counts()
            lines.append("other comparisons: " + ", ".join(f"{counts.get(v, 0)} {v}" for v in VERDICTS) + ".")
            lines += ["  " + self._line(r) for _, r in rest.iterrows() if r["verdict"] in ("worse", "better")]
        lines += [f"note: {n}" for n in c.get("notes", [])]
        return "\n".join(lines)

    def plot(self, ax: Any = None) -> Any:
        """Each difference with its interval (a forest plot), the margin shaded; worse in red."""
        import matplotlib.pyplot as plt

        t = self.table
        if ax is None:
            _, ax = plt.subplots(figsize=(6, max(2.0, 0.28 * len(t) + 1)), layout="constrained")
        y = np.arange(len(t))[::-1]
        colours = {"worse": "tab:red", "better": "tab:green", "equivalent": "tab:blue", "undecided": "tab:gray"}
        for yi, (_, r) in zip(y, t.iterrows()):
            ax.errorbar(r["statistic"], yi, xerr=[[r["statistic"] - r["low"]], [r["high"] - r["statistic"]]],
                        fmt="o", color=colours.get(r["verdict"], "k"))
        m = self.config["margin"]
        ax.axvspan(-m, m, color="0.9", zorder=0)
        ax.axvline(0, color="0.5", lw=0.8)
        ax.set_yticks(y, [f"{p + ': ' if p else ''}{n}" for p, n in zip(t["part"], t["name"])], fontsize=7)
        ax.set_xlabel(f"new - old ({round(100 * self.config['interval_confidence'])} % interval); margin shaded")
        return ax.figure
