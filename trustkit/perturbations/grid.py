"""Severity sweeps: named (perturbation, setting) pairs, and the study's grids."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone

from .._validation import check_choice, check_sr
from .codec import Mp3Compression
from .noise import AddBackgroundNoise, AddNoise
from .pitch_time import PitchShift, TimeStretch

__all__ = ["GRID_NAMES", "STUDY_GRIDS", "GridPoint", "PerturbationGrid", "grid_points", "perturb", "seeded_step", "study_grid"]


@dataclass(frozen=True)
class GridPoint:
    """One setting of a sweep: a ready, configured perturbation and its label."""

    name: str
    family: str
    param: str
    value: Any
    severity: str
    perturbation: Any = field(repr=False, compare=False)


class PerturbationGrid(Sequence):
    """A sweep of one perturbation parameter over a list of values.

    Iterating yields :class:`GridPoint` objects, each holding a clone of
    ``perturbation`` with ``param`` set to one value (``set_params`` keys such as
    ``"perturbation__n_steps"`` reach into wrappers). Grids concatenate with ``+``.

    Parameters
    ----------
    perturbation : transformer
        The template; it is cloned, never modified.
    param : str
        Parameter to sweep.
    values : sequence
        Settings, in order.
    family : str or None, default=None
        Label of the sweep (default: the class name in lower case).
    severity : str, default="custom"
        Label such as ``"imperceptible"`` or ``"graver"``.

    Examples
    --------
    >>> from trustkit.perturbations import PitchShift, PerturbationGrid
    >>> grid = PerturbationGrid(PitchShift(sr=22050), "n_steps", [-1, 1], family="pitch_shift")
    >>> [p.name for p in grid]
    ['pitch_shift(n_steps=-1)', 'pitch_shift(n_steps=1)']
    >>> len(grid + grid)
    4
    """

    def __init__(self, perturbation: Any = None, param: str | None = None, values: Sequence[Any] = (), *, family: str | None = None, severity: str = "custom") -> None:
        self.perturbation = perturbation
        self.param = param
        self.values = values
        self.family = family
        self.severity = severity
        self._parts: tuple[PerturbationGrid, ...] | None = None

    @classmethod
    def concat(cls, grids: Sequence[PerturbationGrid]) -> PerturbationGrid:
        """Join several grids into one, in order."""
        out = cls()
        out._parts = tuple(grids)
        return out

    def __add__(self, other: PerturbationGrid) -> PerturbationGrid:
        if not isinstance(other, PerturbationGrid):
            return NotImplemented
        return PerturbationGrid.concat([self, other])

    def _points(self) -> list[GridPoint]:
        if self._parts is not None:
            return [p for part in self._parts for p in part._points()]
        if self.perturbation is None or self.param is None:
            raise ValueError("PerturbationGrid needs a perturbation and the name of the parameter to sweep.")
        valid = clone(self.perturbation).get_params(deep=True)
        if self.param not in valid:
            raise ValueError(
                f"param {self.param!r} is not a parameter of {type(self.perturbation).__name__}; "
                f"valid: {sorted(valid)}."
            )
        family = self.family or type(self.perturbation).__name__.lower()
        leaf = self.param.rsplit("__", 1)[-1]
        points = []
        for value in self.values:
            est = clone(self.perturbation).set_params(**{self.param: value})
            label = f"{value:g}" if isinstance(value, (int, float, np.number)) else repr(value)
            points.append(GridPoint(f"{family}({leaf}={label})", family, self.param, value, self.severity, est))
        names = [p.name for p in points]
        if len(set(names)) != len(names):
            raise ValueError(f"values of {family} repeat: {names}.")
        return points

    def __iter__(self) -> Iterator[GridPoint]:
        return iter(self._points())

    def __len__(self) -> int:
        return len(self._points())

    def __getitem__(self, index):  # type: ignore[override]
        return self._points()[index]

    @property
    def names(self) -> list[str]:
        """Names of the settings, in order."""
        return [p.name for p in self]

    def to_frame(self) -> pd.DataFrame:
        """One row per setting: name, family, parameter, value, severity."""
        return pd.DataFrame(
            [{"name": p.name, "family": p.family, "param": p.param, "value": p.value, "severity": p.severity} for p in self]
        )

    def __repr__(self) -> str:
        fams = sorted({p.family for p in self})
        return f"PerturbationGrid({len(self)} settings: {', '.join(fams)})"


def _sym(values: Sequence[float]) -> list[float]:
    return [-v for v in reversed(values)] + list(values)


#: Settings of the robustness study (Kim et al., 2019), by family and severity.
STUDY_GRIDS: dict[str, dict[str, list[float]]] = {
    "pitch_shift": {
        "imperceptible": _sym([0.25, 0.5, 0.75, 1.0]),
        "graver": _sym([2.0, 4.0, 6.0, 8.0, 10.0, 12.0]),
    },
    "time_stretch": {
        "imperceptible": [0.92, 0.94, 0.96, 0.98, 1.02, 1.04, 1.06, 1.08],
        "graver": [0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.1, 1.2, 1.3, 1.4, 1.5],
    },
    "pink_noise": {
        "imperceptible": [27.5, 28.0, 28.5, 29.0, 29.5],
        "graver": [-15.0, -10.0, -6.0, -3.0, 3.0, 6.0, 9.0, 12.0, 15.0, 18.0, 21.0, 24.0, 27.0, 30.0],
    },
    "mp3": {
        "imperceptible": [224, 256, 320],
        "graver": [8, 16, 24, 32, 40, 48, 64, 80, 96, 112, 128, 160, 192],
    },
}
STUDY_GRIDS["environmental_noise"] = STUDY_GRIDS["pink_noise"]


def study_grid(
    name: str = "imperceptible",
    *,
    sr: int,
    noise: Any = None,
    families: Sequence[str] | None = None,
    snr_reference: str = "clip",
    random_state: int | None = None,
) -> PerturbationGrid:
    """The perturbation grids of the robustness study (Kim et al., 2019).

    Parameters
    ----------
    name : {"imperceptible", "graver", "all"}, default="imperceptible"
        Barely audible settings, clearly audible ones, or both.
    sr : int
        Sample rate in Hz.
    noise : array-like, path or None, default=None
        A background recording; adds the environmental-noise family.
    families : list of str or None, default=None
        Subset of ``"pitch_shift"``, ``"time_stretch"``, ``"pink_noise"``,
        ``"mp3"``, ``"environmental_noise"``.
    snr_reference : {"clip", "active"}, default="clip"
        Where the noise families measure the signal's power: the whole clip
        (the study's definition) or its active part (clips with pauses or
        padding; see :class:`~trustkit.perturbations.AddNoise`).
    random_state : int or None, default=None
        Seed of the noise families.

    Returns
    -------
    PerturbationGrid

    Examples
    --------
    >>> grid = study_grid("imperceptible", sr=22050)
    >>> len(grid), grid[0].name
    (24, 'pitch_shift(n_steps=-1)')
    """
    check_choice(name, "name", ("imperceptible", "graver", "all"))
    sr = check_sr(sr, "study_grid", example="'imperceptible'")
    severities = ("imperceptible", "graver") if name == "all" else (name,)
    templates = {
        "pitch_shift": (PitchShift(sr=sr), "n_steps"),
        "time_stretch": (TimeStretch(sr=sr), "rate"),
        "pink_noise": (AddNoise(color="pink", snr_reference=snr_reference, random_state=random_state), "snr_db"),
        "mp3": (Mp3Compression(sr=sr), "bitrate"),
    }
    if noise is not None:
        templates["environmental_noise"] = (
            AddBackgroundNoise(noise, sr=sr, snr_reference=snr_reference, random_state=random_state),
            "snr_db",
        )
    wanted = list(templates) if families is None else list(families)
    for fam in wanted:
        if fam not in templates:
            hint = " (pass noise=<recording>)" if fam == "environmental_noise" else ""
            raise ValueError(f"families must be among {sorted(STUDY_GRIDS)}{hint}; got {fam!r}.")
    parts = [
        PerturbationGrid(templates[fam][0], templates[fam][1], STUDY_GRIDS[fam][sev], family=fam, severity=sev)
        for sev in severities
        for fam in wanted
    ]
    return PerturbationGrid.concat(parts)


#: the study's grids, by name
GRID_NAMES = ("imperceptible", "graver", "all")


def grid_points(spec: Any, sr: int) -> list[GridPoint]:
    """The settings a meter runs: a grid by name, a :class:`PerturbationGrid`, or a list of transformers.

    A list may hold transformers or ``(name, transformer)`` pairs (unnamed
    ones are called ``"k:ClassName"``). Every meter that perturbs
    (:class:`~trustkit.SensitivityMeter`, :class:`~trustkit.TransferabilityProbe`
    with ``perturbations=``) reads its settings here, so the same spec gives
    the same settings in the same order.

    Raises
    ------
    ValueError
        An unknown name, an empty grid, or names that repeat (or ``"identity"``).
    TypeError
        A list item that is not a transformer.

    Examples
    --------
    >>> from trustkit.perturbations import AddNoise
    >>> [p.name for p in grid_points([("noise", AddNoise(snr_db=20))], sr=16000)]
    ['noise']
    >>> len(grid_points("imperceptible", sr=22050))
    24
    """
    if isinstance(spec, str):
        if spec not in GRID_NAMES:
            raise ValueError(f"perturbations must be one of {', '.join(map(repr, GRID_NAMES))}, a PerturbationGrid "
                             f"or a list of transformers; got {spec!r}.")
        points = list(study_grid(spec, sr=sr))
    elif isinstance(spec, PerturbationGrid):
        points = list(spec)
    elif isinstance(spec, (list, tuple)) and spec:
        points = []
        for k, item in enumerate(spec):
            name, step = item if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str) else (f"{k}:{type(item).__name__}", item)
            if not hasattr(step, "transform"):
                raise TypeError(f"perturbations[{k}] must be a transformer, got {type(step).__name__}.")
            points.append(GridPoint(name, type(step).__name__.lower(), "", np.nan, "custom", step))
    else:
        raise ValueError("perturbations must be a grid name, a PerturbationGrid or a non-empty list of transformers; "
                         f"got {spec!r}.")
    if not points:
        raise ValueError("perturbations holds no setting (an empty PerturbationGrid): the headline would be "
                         "undefined. Pass a grid name such as 'imperceptible', or a grid with at least one setting.")
    names = [p.name for p in points]
    if len(set(names)) != len(names) or "identity" in names:
        raise ValueError(f"perturbation names must be unique and not 'identity'; got {names}.")
    return points


def seeded_step(point: GridPoint, *, seed: int, sr: int, loudness_match: bool) -> Any:
    """A setting's perturbation, ready to run: seeded by ``seed`` (the meter's seed tree), loudness matched if asked.

    ``length="allow"``: a time stretch yields the whole stretched signal, never
    zero padding that an encoder would then measure instead of the stretch.
    The same ``point`` and ``seed`` give the same audio in every meter.
    """
    from ._base import configure_step
    from .loudness import LoudnessMatch

    step = configure_step(point.perturbation, entropy=seed, index=0, sr=sr, length="allow")
    if loudness_match and point.severity != "identity":
        step = LoudnessMatch(step, sr=sr)
    return step


def perturb(step: Any, X: np.ndarray, pool: Any = None) -> np.ndarray:
    """``step.fit_transform(X)``; in ``pool``'s processes, block by block, when the step holds the GIL.

    Clips are seeded by their content, so blocks give the same clips as one
    batch. Every meter perturbs through this function (cached with
    ``memory=``, ``pool`` ignored), so meters that share clips, settings and
    seeds perturb each setting once.
    """
    from ._base import holds_gil

    if pool is not None and pool.active and holds_gil(step):
        return pool.map_rows(step.fit_transform, X)
    return step.fit_transform(X)
