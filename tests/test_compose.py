from __future__ import annotations

import numpy as np
import pytest
from conftest import SR
from sklearn.base import clone
from sklearn.pipeline import Pipeline, make_pipeline

from trustkit.perturbations import (
    AddNoise,
    Bitcrush,
    Compose,
    Gain,
    Identity,
    LoudnessMatch,
    OneOf,
    PitchShift,
    RandomApply,
    SomeOf,
    TimeStretch,
)


def test_sklearn_pipeline_and_nested_set_params(music):
    pipe = make_pipeline(Gain(gain_db=-6), AddNoise(snr_db=20, random_state=0))
    pipe.set_params(addnoise__snr_db=10)
    Xt = pipe.fit_transform(music)
    expected = AddNoise(snr_db=10, random_state=0).transform(Gain(gain_db=-6).transform(music))
    np.testing.assert_array_equal(Xt, expected)


def test_compose_equals_manual_chain_and_reports_each_step(music):
    chain = Compose([("quiet", Gain(gain_db=-6)), ("noise", AddNoise(snr_db=15, random_state=4))])
    Xt, p = chain.transform_with_params(music)
    from trustkit.perturbations._base import keyed_by, origin_keys

    # every step draws by the clip Compose was given (so float32 and float64 audio draw alike), not by the
    # previous step's output: the manual chain seeded the same way is equal to the last bit
    with keyed_by(origin_keys(music)):
        expected = AddNoise(snr_db=15, random_state=4).transform(Gain(gain_db=-6).transform(music))
    np.testing.assert_array_equal(Xt, expected)
    unkeyed = AddNoise(snr_db=15, random_state=4).transform(Gain(gain_db=-6).transform(music))
    assert not np.array_equal(Xt, unkeyed)  # keyed by the gained clip, the noise would be another draw
    np.testing.assert_allclose(p["noise__snr_db_realised"], 15, atol=1e-4)
    assert (p["quiet__gain_db"] == -6).all()


def test_compose_child_seeds_are_distinct_and_reproducible(music):
    chain = Compose([AddNoise(snr_db=20), AddNoise(snr_db=20)], random_state=7)
    a, b = chain.transform(music), chain.transform(music)
    np.testing.assert_array_equal(a, b)
    prepared = chain._prepare(7, None)
    seeds = [step.random_state for _, step in prepared]
    assert seeds[0] != seeds[1]
    # the user's own step objects are untouched
    assert chain.steps[0].random_state is None


def test_compose_nested_params_and_sr_fill(music):
    chain = Compose([PitchShift(n_steps=1), Gain(gain_db=-3)], sr=SR)
    assert chain.get_params()["pitchshift__sr"] is None
    chain.set_params(pitchshift__n_steps=2, gain=Gain(gain_db=-9))
    assert chain.steps[0].n_steps == 2 and chain.steps[1].gain_db == -9
    Xt = chain.fit_transform(music)
    expected = Gain(gain_db=-9).transform(PitchShift(n_steps=2, sr=SR).transform(music))
    np.testing.assert_array_equal(Xt, expected)
    with pytest.raises(ValueError, match="Invalid parameter 'nope'"):
        chain.set_params(nope__x=1)
    assert clone(chain).get_params()["pitchshift__n_steps"] == 2


def test_compose_repeated_classes_get_numbered_names():
    chain = Compose([Gain(gain_db=1), Gain(gain_db=2)])
    assert [n for n, _ in chain._named()] == ["gain-1", "gain-2"]
    assert chain.get_params()["gain-2__gain_db"] == 2


def test_compose_inside_pipeline_set_params(music):
    pipe = Pipeline([("aug", Compose([Gain(gain_db=-3), AddNoise(snr_db=20)], random_state=0))])
    pipe.set_params(aug__addnoise__snr_db=5)
    _, p = pipe[0].transform_with_params(music)
    np.testing.assert_allclose(p["addnoise__snr_db_realised"], 5, atol=1e-4)


def test_one_of_draws_both_and_is_deterministic(music):
    X = np.vstack([music * k for k in (0.5, 0.7, 0.9, 1.0)])  # 16 distinct clips
    t = OneOf([Gain(gain_db=-6), Bitcrush(bits=4)], weights=[3, 1], random_state=0)
    Xt, p = t.transform_with_params(X)
    assert set(p["applied"]) == {"gain", "bitcrush"}
    for i, name in enumerate(p["applied"]):
        ref = Gain(gain_db=-6) if name == "gain" else Bitcrush(bits=4)
        np.testing.assert_array_equal(Xt[i], ref.transform(X[i : i + 1])[0])
    np.testing.assert_array_equal(Xt, t.transform(X))
    np.testing.assert_array_equal(Xt[::-1], t.transform(X[::-1]))
    only_gain = OneOf([Gain(gain_db=-6), Bitcrush(bits=4)], weights=[1, 0], random_state=0)
    assert set(only_gain.transform_with_params(X)[1]["applied"]) == {"gain"}
    with pytest.raises(ValueError, match="weights must be 2 non-negative numbers"):
        OneOf([Gain(), Gain()], weights=[1, -1]).fit_transform(X)


def test_some_of_counts_and_order(music):
    X = np.vstack([music * k for k in (0.5, 0.7, 0.9, 1.0)])
    t = SomeOf([Gain(gain_db=-6), Gain(gain_db=-3), Bitcrush(bits=6)], n=(1, 2), random_state=0)
    _, p = t.transform_with_params(X)
    counts = p["applied"].str.count(",") + 1
    assert counts.between(1, 2).all() and counts.nunique() == 2
    order = {"gain-1": 0, "gain-2": 1, "bitcrush": 2}
    for applied in p["applied"]:
        names = applied.split(", ")
        assert [order[n] for n in names] == sorted(order[n] for n in names)
    with pytest.raises(ValueError, match="n must be in"):
        SomeOf([Gain()], n=3).fit_transform(X)


def test_random_apply_probability(music):
    X = np.random.default_rng(0).standard_normal((400, 64))
    _, p = RandomApply(Gain(gain_db=-6), p=0.3, random_state=0).transform_with_params(X)
    share = (p["applied"] == "gain").mean()
    assert abs(share - 0.3) < 3 * np.sqrt(0.3 * 0.7 / 400)
    np.testing.assert_array_equal(RandomApply(Gain(gain_db=-6), p=0.0, random_state=0).transform(X), X)
    np.testing.assert_array_equal(
        RandomApply(Gain(gain_db=-6), p=1.0, random_state=0).transform(X), Gain(gain_db=-6).transform(X)
    )
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\]"):
        RandomApply(Gain(), p=1.5).fit_transform(X)


def test_length_changing_step_is_refused_inside_one_of(music):
    t = OneOf([TimeStretch(rate=2.0, sr=SR, length="allow")], random_state=0)
    with pytest.raises(ValueError, match="length-preserving .*Use length='preserve'"):
        t.fit_transform(music)


def test_loudness_match_wraps_a_composite(music):
    t = LoudnessMatch(Compose([Gain(gain_db=-20), AddNoise(snr_db=10)], random_state=0), sr=SR)
    _, p = t.transform_with_params(music)
    assert np.all(np.abs(p["loudness_realised"] - p["loudness_reference"]) < 0.1)


def test_bad_steps():
    with pytest.raises(ValueError, match="steps must be a non-empty list"):
        Compose([]).fit_transform(np.ones((1, 10)))
    with pytest.raises(TypeError, match="must be a transformer"):
        Compose([Gain(), "gain"]).fit_transform(np.ones((1, 10)))
    with pytest.raises(ValueError, match="names must be unique"):
        Compose([("a", Gain()), ("a", Identity())]).fit_transform(np.ones((1, 10)))
