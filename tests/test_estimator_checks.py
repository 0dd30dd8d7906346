"""scikit-learn's own estimator checks on every perturbation."""

from __future__ import annotations

from sklearn.utils.estimator_checks import parametrize_with_checks

from trustkit.perturbations import (
    AddBackgroundNoise,
    AddNoise,
    BandPass,
    Bitcrush,
    Clipping,
    Compose,
    Downsample,
    Gain,
    HighPass,
    Identity,
    LoudnessMatch,
    LowPass,
    Mp3Compression,
    OneOf,
    PitchShift,
    RandomApply,
    Reverb,
    SomeOf,
    SpeedChange,
    TimeStretch,
)

SR = 22050
ESTIMATORS = [
    AddNoise(snr_db=20, random_state=0),
    AddBackgroundNoise([0.1, -0.2, 0.3, -0.1, 0.05], snr_db=10, random_state=0),
    PitchShift(n_steps=1, sr=SR),
    TimeStretch(rate=1.1, sr=SR),
    SpeedChange(factor=1.1, sr=SR),
    Mp3Compression(bitrate=128, sr=SR),
    Gain(gain_db=-3),
    LowPass(cutoff_hz=2000, sr=SR),
    HighPass(cutoff_hz=200, sr=SR),
    BandPass(low_hz=200, high_hz=2000, sr=SR),
    Reverb(rt60=0.3, sr=SR, random_state=0),
    Clipping(percent=5),
    Bitcrush(bits=8),
    Downsample(target_sr=8000, sr=SR),
    LoudnessMatch(Gain(gain_db=-6), sr=SR),
    Identity(),
    Compose([Gain(gain_db=-3), AddNoise(snr_db=20)], random_state=0),
    OneOf([Gain(gain_db=-3), Gain(gain_db=3)], random_state=0),
    SomeOf([Gain(gain_db=-3), Bitcrush(bits=8)], random_state=0),
    RandomApply(Gain(gain_db=-3), p=0.5, random_state=0),
]


BY_DESIGN = {
    "check_estimators_dtypes": (
        "integer arrays are refused on purpose: integer PCM must be scaled to [-1, 1] "
        "first (trustkit.audio.pcm_to_float), silently casting int16 would be wrong by 90 dB"
    ),
    "check_n_features_in_after_fitting": (
        "perturbations are stateless: after fit, clips of any length are accepted, "
        "so a different n_samples at transform is not an error"
    ),
}
# checks run on arrays of a handful of samples per row; these steps need longer clips
LONG_CLIPS = {
    "PitchShift": "256 samples (one Signalsmith block)",
    "TimeStretch": "256 samples (one Signalsmith block)",
    "Mp3Compression": "1152 samples (one MP3 frame)",
    "LoudnessMatch": "0.4 s (one BS.1770 gating block)",
}
SHORT_DATA_CHECKS = [
    "check_dict_unchanged", "check_dont_overwrite_parameters", "check_dtype_object",
    "check_estimators_fit_returns_self", "check_estimators_nan_inf", "check_estimators_overwrite_params",
    "check_estimators_pickle", "check_f_contiguous_array_estimator", "check_fit2d_1sample",
    "check_fit2d_predict1d", "check_fit_check_is_fitted", "check_fit_idempotent", "check_fit_score_takes_y",
    "check_methods_sample_order_invariance", "check_methods_subset_invariance", "check_n_features_in",
    "check_pipeline_consistency", "check_positive_only_tag_during_fit", "check_readonly_memmap_input",
    "check_transformer_data_not_an_array", "check_transformer_general", "check_transformer_preserve_dtypes",
    "check_transformers_unfitted_stateless",
]


def expected_failed_checks(estimator):
    failures = dict(BY_DESIGN)
    need = LONG_CLIPS.get(type(estimator).__name__)
    if need:
        reason = f"needs clips of at least {need}; sklearn's checks use a few samples per row"
        failures.update(dict.fromkeys(SHORT_DATA_CHECKS, reason))
    return failures


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=expected_failed_checks)
def test_sklearn_compatible(estimator, check):
    check(estimator)
