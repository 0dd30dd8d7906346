from __future__ import annotations

import numpy as np
import pytest
from conftest import SR

from trustkit.encoders import MFCCEncoder
from trustkit.robustness.audio_distances import AudioDistance, dtw_distance, mckl_distance, simple_distance


def _dtw_by_hand(F, G):
    n, m = len(F), len(G)
    C = np.full((n + 1, m + 1), np.inf)
    C[0, 0] = 0.0
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            cost = np.linalg.norm(F[i - 1] - G[j - 1])
            C[i, j] = cost + min(C[i - 1, j], C[i, j - 1], C[i - 1, j - 1])
    return C[n, m]


def _simple_by_hand(F, G, m):
    m = min(m, len(F), len(G))
    profile = [min(np.sum((F[i : i + m] - G[j : j + m]) ** 2) for j in range(len(G) - m + 1)) for i in range(len(F) - m + 1)]
    return np.median(profile)


def test_dtw_is_the_unnormalised_total_cost_of_the_optimal_alignment():
    rng = np.random.default_rng(0)
    F, G = rng.standard_normal((17, 5)), rng.standard_normal((23, 5))
    assert dtw_distance(F, G) == pytest.approx(_dtw_by_hand(F, G), rel=1e-12)
    assert dtw_distance(F, F) == 0.0


@pytest.mark.parametrize(("n_a", "n_b", "m"), [(40, 55, 7), (60, 30, 50), (12, 12, 50)])
def test_simple_equals_a_brute_force_matrix_profile(n_a, n_b, m):
    rng = np.random.default_rng(1)
    F, G = rng.standard_normal((n_a, 4)), rng.standard_normal((n_b, 4))
    assert simple_distance(F, G, subsequence=m) == pytest.approx(_simple_by_hand(F, G, m), rel=1e-9, abs=1e-9)
    assert simple_distance(F, F, subsequence=m) == pytest.approx(0.0, abs=1e-9)


def test_mckl_estimates_the_symmetric_kl_of_gaussians():
    from sklearn.mixture import GaussianMixture

    rng = np.random.default_rng(2)
    mu = np.array([1.0, -0.5, 0.5])
    a = GaussianMixture(1, random_state=0).fit(rng.standard_normal((5000, 3)))
    b = GaussianMixture(1, random_state=1).fit(rng.standard_normal((5000, 3)) + mu)
    # KL(a||b) + KL(b||a) of unit-covariance Gaussians is |mu|^2; 256 samples each: a few percent of error
    assert mckl_distance(a, b) == pytest.approx(mu @ mu, rel=0.15)
    assert mckl_distance(a, a) == 0.0


@pytest.mark.parametrize("kind", ["dtw", "simple", "mckl"])
def test_audio_distance_uses_25_mfcc_frames_and_is_zero_on_a_copy(kind):
    import librosa

    from trustkit.datasets import make_music

    X, _ = make_music(3, duration=1.5, sr=SR, random_state=0)
    dist = AudioDistance(kind, sr=SR, seed=0).prepare(X)
    D = dist(X)
    np.testing.assert_allclose(np.diag(D), 0.0, atol=1e-9)
    assert (D[~np.eye(3, dtype=bool)] > 0).all()
    if kind != "mckl":
        frames = [librosa.feature.mfcc(y=x, sr=SR, n_mfcc=25).T for x in X]
        fn = dtw_distance if kind == "dtw" else simple_distance
        assert D[0, 1] == pytest.approx(fn(frames[0], frames[1]), rel=1e-6)
    again = AudioDistance(kind, sr=SR, seed=0).prepare(X)(X)
    np.testing.assert_array_equal(D, again)  # seeded: the same numbers every time


def test_study_mfcc_baseline_follows_the_authors_code():
    import librosa

    from trustkit.datasets import make_music

    X, _ = make_music(3, duration=2.0, sr=SR, random_state=0)

    def authors(y, sr):  # scripts/ext_latent_batch.py of eldrin/are-nearby-neighbors-relatives, by hand
        m = librosa.feature.mfcc(y=y, n_mfcc=40, sr=sr).T
        dm = m[1:] - m[:-1]
        ddm = dm[1:] - dm[:-1]
        return np.r_[m.mean(0), dm.mean(0), ddm.mean(0), m.std(0), dm.std(0), ddm.std(0)]

    Z = MFCCEncoder.study(sr=SR).fit_transform(X)
    assert Z.shape == (3, 240)
    np.testing.assert_allclose(Z, np.vstack([authors(x, SR) for x in X]), rtol=1e-5, atol=1e-4)
    assert MFCCEncoder(sr=SR).fit_transform(X).shape == (3, 144)  # trustkit's own variant is still there
