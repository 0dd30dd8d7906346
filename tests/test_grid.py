from __future__ import annotations

import numpy as np
import pytest
from conftest import SR

from trustkit.perturbations import (
    PRESETS,
    STUDY_GRIDS,
    AddNoise,
    LoudnessMatch,
    PerturbationGrid,
    PitchShift,
    degradation,
    study_grid,
)


def test_study_grids_hold_the_papers_settings():
    assert STUDY_GRIDS["pitch_shift"]["imperceptible"] == [-1, -0.75, -0.5, -0.25, 0.25, 0.5, 0.75, 1]
    assert STUDY_GRIDS["pitch_shift"]["graver"] == [-12, -10, -8, -6, -4, -2, 2, 4, 6, 8, 10, 12]
    assert STUDY_GRIDS["time_stretch"]["graver"][0] == 0.3 and STUDY_GRIDS["time_stretch"]["graver"][-1] == 1.5
    assert STUDY_GRIDS["pink_noise"]["imperceptible"] == [27.5, 28, 28.5, 29, 29.5]
    assert STUDY_GRIDS["mp3"]["imperceptible"] == [224, 256, 320]
    imp = study_grid("imperceptible", sr=SR)
    assert len(imp) == 8 + 8 + 5 + 3
    assert len(study_grid("all", sr=SR)) == len(imp) + len(study_grid("graver", sr=SR))
    frame = imp.to_frame()
    assert set(frame["severity"]) == {"imperceptible"}
    assert frame.groupby("family").size().to_dict() == {"mp3": 3, "pink_noise": 5, "pitch_shift": 8, "time_stretch": 8}


def test_grid_points_are_configured_clones():
    template = PitchShift(sr=SR)
    grid = PerturbationGrid(template, "n_steps", [-2, 2], family="ps")
    assert [p.perturbation.n_steps for p in grid] == [-2, 2]
    assert template.n_steps == 1.0
    assert grid.names == ["ps(n_steps=-2)", "ps(n_steps=2)"]


def test_grid_reaches_into_wrappers(music):
    grid = PerturbationGrid(LoudnessMatch(AddNoise(random_state=0), sr=SR), "perturbation__snr_db", [10, 20])
    for point in grid:
        _, p = point.perturbation.transform_with_params(music)
        np.testing.assert_allclose(p["perturbation__snr_db_realised"], point.value, atol=1e-4)


def test_environmental_noise_needs_a_recording(music):
    with pytest.raises(ValueError, match="pass noise=<recording>"):
        study_grid("imperceptible", sr=SR, families=["environmental_noise"])
    grid = study_grid("graver", sr=SR, noise=np.random.default_rng(0).standard_normal(SR), families=["environmental_noise"])
    assert len(grid) == 14


def test_bad_grid():
    with pytest.raises(ValueError, match="param 'snr' is not a parameter of AddNoise"):
        list(PerturbationGrid(AddNoise(), "snr", [1]))
    with pytest.raises(ValueError, match="name must be one of"):
        study_grid("mild", sr=SR)
    with pytest.raises(ValueError, match="repeat"):
        list(PerturbationGrid(AddNoise(), "snr_db", [1, 1]))


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_keep_shape_and_are_seeded(name, music):
    chain = degradation(name, sr=SR, random_state=0)
    a, b = chain.fit_transform(music), chain.fit_transform(music)
    assert a.shape == music.shape
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, music)
