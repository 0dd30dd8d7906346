"""Property-based layer (hypothesis): random shapes, dtypes, amplitudes and parameters.

Every call either returns a finite result of the right shape, or raises one of
trustkit's documented errors from trustkit's own code (a message that names the
argument) -- never a crash inside a dependency.
"""

from __future__ import annotations

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from trustkit import InvalidAudioError  # noqa: E402
from trustkit.cli import _raised_by_trustkit  # noqa: E402

SR = 8000
# trustkit's own warnings (e.g. clips that are mostly digital silence) are documented behaviour, not crashes
pytestmark = pytest.mark.filterwarnings("ignore::trustkit.TrustkitWarning")
# the suite draws the same examples every run (no flaky CI); TRUSTKIT_HYPOTHESIS_EXAMPLES=500 explores afresh
EXPLORE = int(__import__("os").environ.get("TRUSTKIT_HYPOTHESIS_EXAMPLES", 0))
FAST = settings(max_examples=EXPLORE or 25, derandomize=not EXPLORE, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])

audio = st.builds(
    lambda n, m, dtype, level, seed, silent: _clips(n, m, dtype, level, seed, silent),
    st.integers(1, 3), st.integers(1, 6000), st.sampled_from([np.float32, np.float64]),
    st.sampled_from([0.0, 1e-6, 1e-3, 0.3, 1.0, 4.0, 1e3, 1e5]), st.integers(0, 2**16), st.booleans(),
)


def _clips(n, m, dtype, level, seed, silent):
    X = (np.random.default_rng(seed).standard_normal((n, m)) * level).astype(dtype)
    if silent:
        X[0] = 0
    return X


def _documented(exc: BaseException) -> bool:
    return isinstance(exc, (InvalidAudioError, ValueError, TypeError)) and _raised_by_trustkit(exc)


def _steps():
    from trustkit import perturbations as P

    return st.one_of(
        st.builds(lambda s: P.AddNoise(snr_db=s, random_state=0), st.floats(-60, 200)),
        st.builds(lambda g: P.Gain(gain_db=g), st.floats(-60, 60)),
        st.builds(lambda k: P.PitchShift(n_steps=k, sr=SR), st.floats(-12, 12)),
        st.builds(lambda r: P.TimeStretch(rate=r, sr=SR), st.floats(0.3, 3.0)),
        st.builds(lambda c: P.LowPass(cutoff_hz=c, sr=SR), st.floats(50, 3900)),
        st.builds(lambda p: P.Clipping(percent=p), st.floats(0, 50)),
        st.builds(lambda b: P.Bitcrush(bits=b), st.integers(1, 24)),
        st.builds(lambda r: P.Reverb(rt60=r, sr=SR, random_state=0), st.floats(0, 2)),
        st.builds(lambda b: P.Mp3Compression(bitrate=b, sr=SR), st.sampled_from([8, 16, 32, 64])),
    )


@FAST
@given(X=audio, step=_steps())
def test_perturbations_return_finite_audio_or_a_documented_error(X, step):
    before = X.copy()
    try:
        Y = step.fit_transform(X)
    except Exception as exc:
        assert _documented(exc), f"{type(step).__name__} crashed inside a dependency: {type(exc).__name__}: {exc}"
        return
    finally:
        np.testing.assert_array_equal(X, before)  # the input is never modified
    assert Y.ndim == 2 and len(Y) == len(X) and Y.dtype == X.dtype
    assert np.isfinite(Y).all()


@FAST
@given(X=audio, n_mfcc=st.integers(1, 40), deltas=st.booleans())
def test_encoders_return_finite_embeddings_or_a_documented_error(X, n_mfcc, deltas):
    from trustkit.encoders import MFCCEncoder, RandomProjectionEncoder

    for enc in (MFCCEncoder(sr=SR, n_mfcc=n_mfcc, deltas=deltas), RandomProjectionEncoder(sr=SR, n_components=8)):
        try:
            Z = enc.fit_transform(X)
        except Exception as exc:
            assert _documented(exc), f"{type(enc).__name__}: {type(exc).__name__}: {exc}"
            continue
        assert Z.shape[0] == len(X) and np.isfinite(Z).all()


@FAST
@given(X=audio, sr=st.sampled_from([8000, 11025, 16000, 22050, 44100]), n_mels=st.integers(1, 300),
       n_fft=st.sampled_from([64, 256, 512, 2048]), fmin=st.floats(0, 30000), fmax=st.one_of(st.none(), st.floats(1, 30000)))
def test_encoders_at_any_rate_and_mel_setting_embed_or_refuse_naming_the_parameter(X, sr, n_mels, n_fft, fmin, fmax):
    from trustkit.encoders import MFCCEncoder

    enc = MFCCEncoder(sr=sr, n_mels=n_mels, n_fft=n_fft, fmin=fmin, fmax=fmax, n_mfcc=1)
    before = X.copy()
    try:
        Z = enc.fit_transform(X)
    except Exception as exc:
        assert _documented(exc), f"{type(exc).__name__}: {exc}"
        return
    finally:
        np.testing.assert_array_equal(X, before)  # whatever happens, the caller's audio is untouched
    assert Z.shape[0] == len(X) and np.isfinite(Z).all()
    # a filterbank with at least one band: distinct clips do not all collapse onto one embedding
    if len(X) > 1 and np.ptp(X, axis=1).min() > 1e-3 and not np.allclose(X[0], X[1]):
        assert np.ptp(Z, axis=0).max() > 0


def _misbehaving(kind, seed):
    """An encoder that misbehaves in one of the ways a user's model does."""
    rng = np.random.default_rng(seed)

    def encoder(X):
        if kind == "writes":
            X *= 0
            return np.ones((len(X), 3))
        if kind == "nan":
            return np.full((len(X), 3), np.nan)
        if kind == "inf":
            return np.full((len(X), 3), np.inf)
        if kind == "wrong_rows":
            return np.ones((len(X) + 1, 3))
        if kind == "ragged":
            return [np.ones(int(rng.integers(1, 4))) for _ in X]
        if kind == "strings":
            return np.array([["a", "b"]] * len(X))
        if kind == "complex":
            return np.ones((len(X), 3)) * (1 + 1j)
        if kind == "three_d":
            return np.ones((len(X), 2, 2))
        if kind == "none":
            return None
        return np.c_[X.mean(axis=1), X.std(axis=1)]

    return encoder


@FAST
@given(X=audio, kind=st.sampled_from(["writes", "nan", "inf", "wrong_rows", "ragged", "strings", "complex", "three_d",
                                      "none", "fine"]), seed=st.integers(0, 100), per_clip=st.booleans())
def test_a_misbehaving_encoder_gets_a_named_error_and_never_changes_the_callers_audio(X, kind, seed, per_clip):
    from trustkit.encoders import FunctionEncoder

    before = X.copy()
    try:
        Z = FunctionEncoder(_misbehaving(kind, seed), sr=SR, per_clip=per_clip).fit_transform(X)
    except Exception as exc:
        assert _documented(exc), f"{kind}: {type(exc).__name__}: {exc}"
        assert kind != "fine" or len(X) == 0
    else:  # a "ragged" encoder is only ragged when its sizes happen to differ (one clip: one size)
        assert kind in ("fine", "writes", "ragged") and np.isfinite(Z).all() and Z.shape[0] == len(X)
    np.testing.assert_array_equal(X, before)


@settings(max_examples=12, derandomize=not EXPLORE, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(X=audio, metric=st.sampled_from(["cosine", "euclidean", "cityblock"]), loud=st.booleans())
def test_the_meter_returns_a_report_or_a_documented_error(X, metric, loud):
    from trustkit import SensitivityMeter
    from trustkit.encoders import MFCCEncoder
    from trustkit.perturbations import AddNoise, Gain

    try:
        report = SensitivityMeter(MFCCEncoder(), [("g", Gain(gain_db=-3)), ("n", AddNoise(snr_db=20))], sr=SR,
                                  metric=metric, loudness_match=loud, n_bootstrap=20, random_state=0).score(X)
    except Exception as exc:
        assert _documented(exc), f"{type(exc).__name__}: {exc}"
        return
    assert 0.0 <= float(report) <= 1.0
    t = report.wide()
    assert ((t["consistency_low"] <= t["consistency"]) & (t["consistency"] <= t["consistency_high"])).all()


@settings(max_examples=20, derandomize=not EXPLORE, deadline=None)
@given(n=st.integers(0, 30), d=st.integers(1, 12), k=st.integers(1, 4), seed=st.integers(0, 1000),
       scale=st.sampled_from([1e-8, 1.0, 1e6]))
def test_the_probe_and_estimators_return_numbers_or_a_documented_error(n, d, k, seed, scale):
    from trustkit import TransferabilityProbe

    rng = np.random.default_rng(seed)
    F = rng.standard_normal((n, d)) * scale
    y = rng.integers(0, k, n)
    try:
        report = TransferabilityProbe("precomputed", cv=2, n_bootstrap=20, estimators=("logme", "hscore", "knn"),
                                      random_state=0).score(F, y)
    except Exception as exc:
        assert _documented(exc), f"{type(exc).__name__}: {exc}"
        return
    assert 0.0 <= float(report) <= 1.0
    h = report.estimators.set_index("estimator").loc["hscore", "statistic"]
    assert 0.0 <= h <= len(np.unique(y)) - 1 + 1e-9
