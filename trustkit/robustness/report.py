"""SensitivityReport: what the robustness meter measured, with intervals, and its gate."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from ..exceptions import GateError
from ..reports import Report, wide_table
from ..reports.diff import encode_share

__all__ = ["SensitivityGateError", "SensitivityReport"]


class SensitivityGateError(GateError):
    """Raised by :meth:`SensitivityReport.check` when the gate fails (a :class:`~trustkit.GateError`)."""


@dataclass(frozen=True, eq=False, repr=False)
class SensitivityReport(Report):
    """Result of :meth:`SensitivityMeter.score`.

    Attributes
    ----------
    table : pandas.DataFrame
        The long table (:class:`~trustkit.reports.Report`). With a baseline,
        first its headline (scope ``"headline"``, role ``"baseline"``); then,
        scope ``"setting"``, per setting and encoder (ids ``encoder``,
        ``role``, ``setting``, ``family``, ``severity``, ``param``,
        ``param_value``, the perturbed length ``length_out``, ``in_headline``)
        one row per measure: sensitivity and consistency (Wilson intervals),
        mean reciprocal rank ``mrr`` and median ``distance_ratio`` (bootstrap
        intervals) and, with an audio distance, ``audio_consistency``,
        ``agreement`` (share of clips whose outcome is the same in audio and
        embedding space; Wilson), ``spearman`` (the study's between-space
        consistency: one Spearman correlation over all perturbed-vs-original
        pairs of the setting) and ``spearman_per_clip`` (the mean of one
        correlation per clip); last, with a baseline, scope ``"encoder -
        baseline"``: the paired consistency difference per setting.
        :meth:`wide` gives one row per setting and encoder.
    per_clip : pandas.DataFrame
        One row per clip, setting and encoder.
    headline_estimate : Estimate
        ``float(report)`` with its interval over clips.
    config : dict
    baseline_estimate : Estimate or None
        The baseline's headline, computed the same way.
    profile : pandas.DataFrame
        With an encoder set to ``layer="all"``: one row per layer, shallow to
        deep (``layer``, ``depth``, then the long table's columns): the
        headline sensitivity of every layer on the same clips and
        perturbations. The table's rows carry the layer too, and the headline
        is the deepest layer's. Empty otherwise.
    clip_keys : list of str
        The content key of every clip (:func:`trustkit.audio.content_keys`),
        in the clips' order: what pairs this run's clips with another run's
        (:meth:`compare_to`).
    """

    table: pd.DataFrame
    per_clip: pd.DataFrame = field(repr=False)
    headline_estimate: Any
    config: dict
    baseline_estimate: Any = None
    profile: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    clip_keys: list = field(default_factory=list, repr=False)
    higher_is_better: ClassVar[bool] = False
    gate_error: ClassVar[type[GateError]] = SensitivityGateError
    limit_range: ClassVar[tuple[float | None, float | None]] = (0.0, 1.0)
    limit_name: ClassVar[str] = "max_sensitivity"
    gate_scopes: ClassVar[tuple[str, ...]] = ("per_setting",)
    headline: ClassVar[str] = "mean sensitivity (1 - within-space consistency) over the imperceptible settings, identity excluded"

    def __float__(self) -> float:
        return float(self.headline_estimate.statistic)

    def _headline_interval(self) -> tuple[float, float]:
        return float(self.headline_estimate.low), float(self.headline_estimate.high)

    def _headline_n(self) -> float:
        return float(self.headline_estimate.n)

    def wide(self) -> pd.DataFrame:
        """One row per setting and encoder (the ``"setting"`` rows of :attr:`table`): a column per measure.

        Each measure ``m`` gives ``m``, ``m_low``, ``m_high``, beside the
        setting's ids and ``n``.
        """
        t = wide_table(self.table[self.table["scope"] == "setting"].drop(columns="scope"))
        if len(t):
            t["in_headline"] = t["in_headline"].astype(bool)
            t["param_value"] = pd.to_numeric(t["param_value"].replace("", np.nan))
            t["length_out"] = t["length_out"].astype(int)
        return t

    @property
    def comparison(self) -> pd.DataFrame:
        """With a baseline: consistency of encoder minus baseline per setting, with a paired bootstrap interval.

        Columns ``setting``, ``family``, ``severity``, ``difference``,
        ``low``, ``high`` (the ``"encoder - baseline"`` rows of :attr:`table`);
        empty without a baseline.
        """
        rows = self.table[self.table["scope"] == "encoder - baseline"]
        return (rows[["setting", "family", "severity", "statistic", "low", "high"]]
                .rename(columns={"statistic": "difference"}).reset_index(drop=True))

    def paired_outcomes(self) -> dict[str, Any]:
        """Per clip: the headline's failure rate and each setting's outcome (1 = not nearest its original).

        ``design`` holds what two runs must share: the settings (name, family,
        severity, parameter, in the headline), the seed tree's entropy, the
        metric, loudness matching, rate and length.
        """
        c = self.config
        clips = self.per_clip[self.per_clip["role"] == "encoder"]
        settings = self.wide()
        settings = settings[(settings["role"] == "encoder") & (settings["severity"] != "identity")]
        failed = {name: 1.0 - g.sort_values("clip")["consistent"].to_numpy(dtype=float)
                  for name, g in clips.groupby("setting", sort=False)}
        scope = settings.loc[settings["in_headline"], "setting"].tolist()
        headline = np.mean([failed[name] for name in scope], axis=0) if scope else np.full(c["n_clips"], np.nan)
        return {
            "report": type(self).__name__, "unit": "clip", "n_units": int(c["n_clips"]),
            "keys": list(self.clip_keys) or None,
            "describe": {"encoder": c.get("encoder"), "version": c.get("version")},
            "design": {
                "settings": [[r.setting, r.family, r.severity, r.param, None if pd.isna(r.param_value) else r.param_value,
                              bool(r.in_headline)] for r in settings.itertuples()],
                "seed_entropy": c.get("seed_entropy"), "metric": c.get("metric"),
                "loudness_match": c.get("loudness_match"), "sr": c.get("sr"), "n_samples": c.get("n_samples"),
            },
            "comparisons": [
                {"name": "sensitivity", "scope": "headline", "measure": "sensitivity", "higher_is_better": False,
                 "statistic": "mean", "values": headline.tolist()},
                *({"name": name, "scope": "setting", "measure": "sensitivity", "higher_is_better": False,
                   "statistic": "share", "values": encode_share(failed[name])} for name in settings["setting"]),
            ],
        }

    @property
    def quality(self) -> pd.DataFrame:
        """With ``quality=``: per setting, how audible it is, and whether the data support "imperceptible".

        Columns ``setting``, ``family``, ``severity``, then each measure of
        :data:`~trustkit.perturbations.quality.QUALITY_MEASURES` with
        ``_low``/``_high`` (the mean over the measured clips and its
        interval), ``n`` (clips), and ``verdict``: ``"imperceptible"`` when
        the MOS-LQO interval is at or above the threshold (ITU-R BS.1116-3's
        4.5), ``"perceptible"`` below it, else undecided (empty without
        quality).
        """
        from ..perturbations.quality import quality_verdict

        rows = self.table[self.table["scope"] == "quality"]
        if not len(rows):
            return pd.DataFrame()
        t = wide_table(rows.drop(columns=[c for c in ("scope", "encoder", "role", "length_out", "in_headline", "layer")
                                          if c in rows]))
        q = self.config.get("quality", {})
        t["n"] = len(q.get("clips", []))  # the clips measured (a measure undefined on some, e.g. SNR of a copy, has fewer)
        t["verdict"] = [quality_verdict(lo, hi, q.get("threshold", 4.5)) if q.get("mos") else
                        "not measured (quality='signal')" for lo, hi in zip(t["mos_lqo_low"], t["mos_lqo_high"])]
        return t

    @property
    def verification(self) -> pd.DataFrame:
        """With ``verify=True``: per setting that makes a claim, what was measured and the share of clips where it happened.

        Columns ``setting``, ``family``, ``claim``, ``measured`` (median over
        the clips), ``share``, ``low``, ``high`` (Wilson), ``n``, ``verdict``;
        empty otherwise.
        """
        rows = self.table[self.table["scope"] == "verification"]
        if not len(rows):
            return pd.DataFrame()
        out = rows[["setting", "family", "claim", "measured", "statistic", "low", "high", "n", "verdict"]]
        return out.rename(columns={"statistic": "share"}).reset_index(drop=True)

    def summary_by_family(self) -> pd.DataFrame:
        """Mean sensitivity per encoder, family and severity (identity excluded)."""
        t = self.wide()
        t = t[t["severity"] != "identity"]
        return t.groupby(["role", "encoder", "severity", "family"], sort=False)["sensitivity"].agg(["mean", "min", "max", "count"]).reset_index()

    def summary(self) -> str:
        """A short readable account of the results."""
        c = self.config
        wide = self.wide()
        main = wide[wide["role"] == "encoder"]
        ident = main[main["severity"] == "identity"].iloc[0]
        lines = [
            f"SensitivityMeter: {c['encoder']} on {c['n_clips']} clips, {c['n_settings']} settings, "
            f"metric={c['metric']}, loudness_match={c['loudness_match']}",
            f"Sensitivity ({c['headline_scope']}): {self.headline_estimate:.3f} (lower is better; "
            f"{int(100 * self.headline_estimate.confidence)} % interval over clips)",
        ]
        if self.baseline_estimate is not None:
            lines.append(f"Baseline {c['baseline']}: sensitivity {self.baseline_estimate:.3f} (same settings and clips)")
        skipped = c.get("corpus", {}).get("skipped", [])
        if skipped:
            lines.append(f"{len(skipped)} files left out (on_error='skip'): "
                         + "; ".join(f"{f['file']} ({f['reason']})" for f in skipped[:10])
                         + (" ..." if len(skipped) > 10 else ""))
        if len(self.profile):
            lines.append("Layer profile (sensitivity of every layer, shallow to deep; the headline is the deepest):")
            lines += [f"  {r.depth:2d} {r.layer:<14s} {r.statistic:.3f} [{r.low:.3f}, {r.high:.3f}]" for r in self.profile.itertuples()]
        lines += [
            f"Identity sanity row: consistency {ident['consistency']:.3f} (must be 1.000)",
            "",
            "Mean sensitivity by family:",
        ]
        fam = self.summary_by_family()
        for _, r in fam.iterrows():
            lines.append(f"  {r['role']:<8s} {r['severity']:<13s} {r['family']:<20s} {r['mean']:.3f}  (range {r['min']:.3f}-{r['max']:.3f}, {int(r['count'])} settings)")
        if "spearman" in wide:
            t = wide[wide["severity"] != "identity"]
            lines += ["", f"Between-space consistency with audio distance {c['audio_distance']!r} (mean over settings):"]
            for (role, enc), g in t.groupby(["role", "encoder"], sort=False):
                lines.append(f"  {role:<8s} {enc}: Spearman (pooled, as in the study) {g['spearman'].mean():.3f}, "
                             f"per-clip mean {g['spearman_per_clip'].mean():.3f}, outcome agreement {g['agreement'].mean():.3f}")
        comp = self.comparison
        comp = comp[comp["severity"] != "identity"]
        if len(comp):
            worse = comp[comp["high"] < 0]
            better = comp[comp["low"] > 0]
            lines += ["", f"Encoder vs baseline ({c['baseline']}), paired bootstrap over clips: consistency "
                      f"lower on {len(worse)}, higher on {len(better)}, not distinguishable on "
                      f"{len(comp) - len(worse) - len(better)} of {len(comp)} settings."]
        v = self.verification
        if len(v):
            failed = v[v["verdict"] != "happened"]
            lines += ["", f"Did each setting do what it claims (on {int(v['n'].max())} clips): {len(v) - len(failed)} of "
                      f"{len(v)} happened" + (":" if len(failed) else ".")]
            lines += [f"  {r.setting:<28s} claims {r.claim}, measured {r.measured:.3g}: {r.verdict} (as claimed on "
                      f"{r.share:.0%} [{r.low:.0%}, {r.high:.0%}])" for r in failed.itertuples()]
        q = self.quality
        if len(q):
            counts = q["verdict"].str.split(" ").str[0].value_counts()
            lines += ["", f"Audibility on {int(q['n'].max())} clips (ViSQOL v3 MOS-LQO, ceiling 4.73; imperceptible when "
                      f"the interval is >= {c['quality']['threshold']:g}, ITU-R BS.1116-3): " + ", ".join(
                          f"{counts[v]} {v}" for v in counts.index) + f" of {len(q)} settings."]
            lines += [f"  {r.setting:<28s} MOS-LQO {r.mos_lqo:.2f} [{r.mos_lqo_low:.2f}, {r.mos_lqo_high:.2f}], "
                      f"segmental SNR {r.segmental_snr_db:.1f} dB, LSD {r.lsd_db:.1f} dB: {r.verdict}"
                      for r in q.itertuples() if not r.verdict.startswith("imperceptible")]
        return "\n".join(lines)

    def _in_scope(self) -> pd.DataFrame:
        """The encoder's settings in the headline's scope (the imperceptible ones, identity excluded)."""
        wide = self.wide()
        return wide[(wide["role"] == "encoder") & wide["in_headline"]]

    def _above(self, limit: float, column: str = "sensitivity") -> tuple[int, str]:
        """How many settings in the headline's scope exceed ``limit`` by ``column`` (NaN exceeds), and which."""
        scope = self._in_scope()
        failing = scope[~(scope[column] <= limit)]
        return len(failing), ", ".join(f"{n} ({v:.3f})" for n, v in zip(failing["setting"], failing[column]))

    def _gate_detail(self, limit: float) -> str:
        return f"encoder {self.config['encoder']}; settings above it: {self._above(limit)[1] or 'none individually'}"

    def _gate_scope(self, scope: str, limit: float, use_interval: bool, error: type[Exception]) -> str:
        # "per_setting": every setting in the headline's scope, by its value or the upper end of its interval
        n_failing, listed = self._above(limit, "sensitivity_high" if use_interval else "sensitivity")
        what = "upper ends of the settings' intervals" if use_interval else "settings"
        n = len(self._in_scope())
        if n_failing:
            raise error(f"{n_failing} of {n} {what} exceed {self.limit_name}={limit:g} "
                        f"(encoder {self.config['encoder']}); above it: {listed}.")
        return f"all {n} {what} <= {limit:g}"

    def plot(self, ax: Any = None) -> Any:
        """Consistency against severity, one panel per family, with interval bands."""
        import matplotlib.pyplot as plt

        t = self.wide()
        t = t[t["severity"] != "identity"]
        families = list(dict.fromkeys(t["family"]))
        if ax is None:
            fig, axes = plt.subplots(1, max(len(families), 1), figsize=(4 * max(len(families), 1), 3.2), squeeze=False)
            axes = axes[0]
        else:
            axes = np.atleast_1d(ax)
            fig = axes[0].figure
        for a, fam in zip(axes, families):
            sub = t[t["family"] == fam]
            for (role, enc), g in sub.groupby(["role", "encoder"], sort=False):
                g = g.sort_values("param_value")
                x = g["param_value"].to_numpy(dtype=float) if g["param_value"].notna().all() else np.arange(len(g))
                a.plot(x, g["consistency"], marker="o", label=f"{enc} ({role})")
                a.fill_between(x, g["consistency_low"], g["consistency_high"], alpha=0.2)
            a.set_title(fam)
            a.set_ylim(-0.02, 1.02)
            a.set_xlabel(str(sub["param"].iloc[0]) if "param" in sub else "setting")
        if len(axes):
            axes[0].set_ylabel("within-space consistency")
            axes[0].legend(fontsize=8)
        fig.tight_layout()
        return fig


