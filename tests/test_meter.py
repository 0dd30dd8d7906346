"""The contract every meter shares: one parameter surface, one clone rule, one seed tree, one parallel map."""

from __future__ import annotations

import ast
import collections
import inspect
import pathlib

import numpy as np
import pytest
from conftest import SR
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression

import trustkit
from trustkit import FidelityComplexityScorer, SensitivityMeter, TransferabilityProbe
from trustkit._meter import Meter
from trustkit._seeds import PURPOSES, SeedTree
from trustkit.encoders import MFCCEncoder
from trustkit.perturbations import Gain

COMMON = ("n_bootstrap", "confidence", "n_jobs", "random_state", "verbose", "memory")
METERS = (SensitivityMeter, TransferabilityProbe, FidelityComplexityScorer)


@pytest.mark.parametrize("cls", METERS)
def test_every_meter_has_the_same_parameter_surface_and_base(cls):
    params = inspect.signature(cls.__init__).parameters
    assert issubclass(cls, Meter)
    for name in COMMON:
        assert name in params, f"{cls.__name__} lacks {name}"
        assert params[name].kind is inspect.Parameter.KEYWORD_ONLY
    defaults = {name: params[name].default for name in COMMON}
    assert defaults == {"n_bootstrap": 1000, "confidence": 0.95, "n_jobs": None, "random_state": None,
                        "verbose": False, "memory": None}
    assert "n_bootstrap" in inspect.signature(trustkit.compare_encoders).parameters
    assert "confidence" in inspect.signature(trustkit.compare_encoders).parameters


def _fitted_model():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((80, 5))
    return X, LogisticRegression().fit(X, (X[:, 0] + X[:, 1] > 0).astype(int))


def test_clone_keeps_the_fitted_models_and_clones_the_rest():
    X, model = _fitted_model()
    scorer = FidelityComplexityScorer(model, response="decision_function", budgets=(1, "all"), n_bootstrap=50,
                                      random_state=0)
    twin = clone(scorer)
    assert twin.model is model and twin.get_params()["budgets"] == (1, "all")
    # the clone is usable at once: the explained model kept its fit
    report = twin.fit(X).score(X[:6], (X[:6] - X.mean(axis=0)) * model.coef_[0])
    assert float(report) > 0.9
    enc = MFCCEncoder(sr=SR)
    assert clone(SensitivityMeter(enc, sr=SR, baseline=enc)).encoder is enc
    assert clone(TransferabilityProbe(enc)).encoder is enc


class _CountingModel:
    def __init__(self):
        self.calls = 0

    def predict_proba(self, X):
        self.calls += 1
        p = 1 / (1 + np.exp(-X[:, 0]))
        return np.c_[1 - p, p]


@pytest.mark.parametrize(("param", "value", "match"), [
    ("n_bootstrap", 3, "n_bootstrap"),
    ("confidence", 1.5, "confidence"),
    ("confidence", float("nan"), "confidence"),
    ("n_jobs", 0, "n_jobs"),
    ("n_jobs", 1.5, "n_jobs"),
    ("verbose", "yes", "verbose"),
    ("random_state", -1, "random_state"),
    ("memory", 3, "memory"),
])
def test_common_parameters_are_checked_before_the_first_model_call(param, value, match):
    X = np.random.default_rng(0).standard_normal((10, 3))
    model = _CountingModel()
    with pytest.raises((ValueError, TypeError), match=match):  # at fit (which draws background rows) or at score
        FidelityComplexityScorer(model, **{param: value}).fit(X).score(X[:3], np.ones((3, 3)))
    with pytest.raises((ValueError, TypeError), match=match):
        FidelityComplexityScorer(model, baseline=np.zeros(3), **{param: value}).fit(X).score(X[:3], np.ones((3, 3)))
    assert model.calls == 0
    calls = []
    encoder = lambda A: calls.append(1) or A[:, :8]  # noqa: E731
    with pytest.raises((ValueError, TypeError), match=match):
        SensitivityMeter(encoder, [("g", Gain(gain_db=-1))], sr=SR, **{param: value}).score(np.ones((3, SR)) * 0.1)
    with pytest.raises((ValueError, TypeError), match=match):
        TransferabilityProbe(encoder, sr=SR, **{param: value}).score(np.ones((6, SR)) * 0.1, [0, 1] * 3)
    assert not calls
    with pytest.raises((ValueError, TypeError), match=match):
        TransferabilityProbe(encoder, sr=SR, **{param: value}).check_params()


def test_verbose_shows_one_progress_bar_and_silence_prints_nothing(capsys):
    X, model = _fitted_model()
    W = (X[:5] - X.mean(axis=0)) * model.coef_[0]
    FidelityComplexityScorer(model, n_bootstrap=20, random_state=0).fit(X).score(X[:5], W)
    assert capsys.readouterr() == ("", "")
    FidelityComplexityScorer(model, n_bootstrap=20, random_state=0, verbose=True).fit(X).score(X[:5], W)
    out, err = capsys.readouterr()
    assert out == "" and "FidelityComplexityScorer instances" in err and "5/5" in err


def test_seed_tree_leaves_are_the_spawn_tree_and_independent_of_order():
    tree = SeedTree(12345)
    for purpose, branch in PURPOSES.items():
        child = np.random.SeedSequence(12345).spawn(branch + 1)[branch].spawn(3)[2]
        assert tree.seed(purpose, 2) == int(child.generate_state(1, np.uint32)[0])
    seeds = [tree.seed(p, k) for p in PURPOSES for k in range(5)]
    assert len(set(seeds)) == len(seeds)
    assert len(set(PURPOSES.values())) == len(PURPOSES)  # one branch per purpose
    with pytest.raises(KeyError, match="unknown seed purpose 'nope'"):
        tree.seed("nope")
    a = SeedTree(np.random.RandomState(0))
    b = SeedTree(np.random.RandomState(0))
    assert a.seed("folds") == b.seed("folds")  # a RandomState is drawn from once, at the root


def test_scorer_numbers_do_not_depend_on_n_jobs_or_the_order_of_work():
    X, model = _fitted_model()
    W = (X[:8] - X.mean(axis=0)) * model.coef_[0] + np.random.default_rng(1).standard_normal((8, 5)) * 0.1
    one = FidelityComplexityScorer(model, n_bootstrap=50, random_state=3).fit(X).score(X[:8], W)
    two = FidelityComplexityScorer(model, n_bootstrap=50, random_state=3, n_jobs=2).fit(X).score(X[:8], W)
    np.testing.assert_array_equal(one.per_instance.to_numpy(dtype=str), two.per_instance.to_numpy(dtype=str))
    import pandas as pd

    pd.testing.assert_frame_equal(one.table, two.table)
    wide = FidelityComplexityScorer(model, n_bootstrap=50, random_state=3, confidence=0.5).fit(X).score(X[:8], W)
    t1, t2 = one.table.set_index("measure").loc["fidelity"], wide.table.set_index("measure").loc["fidelity"]
    assert t2["high"] - t2["low"] < t1["high"] - t1["low"]  # the confidence reaches the intervals
    assert wide.config["confidence"] == 0.5 and one.config["n_bootstrap"] == 50


_RUNS: list[int] = []


class _LinearExplainer:
    """Exact attributions of a linear model (module level, so that joblib can hash it)."""

    def __init__(self, model, mean):
        self.model, self.mean = model, mean

    def __call__(self, A):
        _RUNS.append(len(A))
        return (A - self.mean) * self.model.coef_[0]


def test_memory_caches_the_explainer_run(tmp_path):
    X, model = _fitted_model()
    _RUNS.clear()
    explainer = _LinearExplainer(model, X.mean(axis=0))
    scorer = FidelityComplexityScorer(model, n_bootstrap=20, random_state=0, memory=str(tmp_path)).fit(X)
    first = scorer.score(X[:4], explainer)
    second = scorer.score(X[:4], explainer)
    assert _RUNS == [4]  # the second score read the explanations from the cache
    assert float(first) == float(second)


# -- the layers -------------------------------------------------------------------------------------------------
ROOT = pathlib.Path(trustkit.__file__).parent
#: packages in the order they may depend on each other (each only on earlier ones and the shared internals)
LAYERS = ["reports", "perturbations", "encoders", "robustness", "transferability", "fidelity", "trust", "cli"]


def _imports() -> dict[str, set[tuple[str, tuple[str, ...]]]]:
    found: dict[str, set] = collections.defaultdict(set)
    for path in ROOT.rglob("*.py"):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        is_pkg = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = parts[: len(parts) - node.level + (1 if is_pkg else 0)]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                if target.startswith("trustkit"):
                    found[".".join(parts)].add((target, tuple(a.name for a in node.names)))
    return found


def _top(module: str) -> str:
    return [*module.split("."), ""][1]


def test_no_module_reaches_into_another_packages_private_names():
    bad = []
    for module, targets in _imports().items():
        for target, names in targets:
            if _top(module) == _top(target) or _top(target).startswith("_"):
                continue  # inside one package, or the shared internals (trustkit._validation, _seeds, _meter, ...)
            private = [p for p in target.split(".")[2:] if p.startswith("_")]
            private += [n for n in names if n.startswith("_") and not n.startswith("__")]
            if private:
                bad.append(f"{module} imports {private} from {target}")
    assert not bad, bad


def test_layers_are_one_way():
    order = {name: i for i, name in enumerate(LAYERS)}
    bad = []
    for module, targets in _imports().items():
        src = _top(module)
        for target, _ in targets:
            dst = _top(target)
            if src in order and dst in order and order[dst] > order[src]:
                bad.append(f"{module} ({src}) imports {target} ({dst}), a later layer")
    assert not bad, bad


def test_every_meter_writes_the_same_config_record():
    X, model = _fitted_model()
    W = (X[:4] - X.mean(axis=0)) * model.coef_[0]
    enc = MFCCEncoder(sr=SR)
    clips = np.random.default_rng(0).standard_normal((6, SR)).astype(np.float32) * 0.1
    reports = [
        FidelityComplexityScorer(model, n_bootstrap=20, random_state=None).fit(X).score(X[:4], W),
        SensitivityMeter(enc, [("g", Gain(gain_db=-1))], sr=SR, n_bootstrap=20, random_state=5).score(clips),
        TransferabilityProbe(enc, cv=2, n_bootstrap=20, random_state=5).score(clips, [0, 1] * 3),
    ]
    for rep in reports:
        c = rep.config
        assert c["meter"] in {"FidelityComplexityScorer", "SensitivityMeter", "TransferabilityProbe"}
        assert {"random_state", "seed_entropy", "n_bootstrap", "confidence", "n_jobs", "timing"} <= set(c)
        assert c["n_bootstrap"] == 20 and c["confidence"] == 0.95
        assert all(v is None or v >= 0 for v in c["timing"].values())
    # random_state=None: the entropy actually used is recorded, so the run can be repeated exactly
    again = FidelityComplexityScorer(model, n_bootstrap=20, random_state=reports[0].config["seed_entropy"]).fit(X)
    import pandas as pd

    pd.testing.assert_frame_equal(again.score(X[:4], W).table, reports[0].table)


@pytest.mark.parametrize(("kwargs", "y", "match"), [
    ({"estimators": ("logme", "nope")}, [0, 1] * 3, "estimators must be among"),
    ({"probe": "forest"}, [0, 1] * 3, "probe"),
    ({"inner_cv": 1}, [0, 1] * 3, "inner_cv"),
    ({"metrics": ["r2"]}, [0, 1] * 3, "metrics"),
    ({"cv": 4}, [0, 1] * 3, "fewer than cv=4"),
    ({}, [0, 1, 0], "y"),
])
def test_the_probe_checks_targets_folds_and_parameters_before_the_encoder_runs(kwargs, y, match):
    calls = []
    encoder = lambda A: calls.append(1) or A[:, :8]  # noqa: E731
    with pytest.raises((ValueError, TypeError), match=match):
        TransferabilityProbe(encoder, sr=SR, **kwargs).score(np.ones((6, SR)) * 0.1, y)
    assert not calls


def test_sensitivity_meter_checks_loudness_match_before_encoding():
    calls = []
    encoder = lambda A: calls.append(1) or A[:, :8]  # noqa: E731
    with pytest.raises(TypeError, match="loudness_match must be True or False; got 'yes'"):
        SensitivityMeter(encoder, [("g", Gain(gain_db=-1))], sr=SR, loudness_match="yes").score(np.ones((3, SR)) * 0.1)
    assert not calls


def _cube_for_the_race_test(i):
    return i**3


def test_first_cached_calls_from_threads_do_not_race(tmp_path, monkeypatch):
    """joblib writes a function's code on its first call in a folder; a thread that read the file created but not
    yet written warned of a collision of the function with itself, at "line -1" (joblib#1060), and cleared its
    cache (seen in the demo's shared cache with joblib 1.3, and once in a full run). The first call now runs alone."""
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    from joblib import _store_backends

    from trustkit._cache import cached_call

    store = _store_backends.FileSystemStoreBackend.store_cached_func_code
    started = threading.Event()

    def slow_store(self, path, func_code=None):  # a write other threads can see begun, as on a slow disk
        if func_code is None:
            return store(self, path, func_code)
        store(self, path, "")  # opened and truncated, not yet written
        started.set()
        time.sleep(0.3)
        store(self, path, func_code)

    monkeypatch.setattr(_store_backends.FileSystemStoreBackend, "store_cached_func_code", slow_store)

    def call(i):
        if i:
            started.wait(5)  # the other calls arrive while the first one's code file is half written
        return cached_call(_cube_for_the_race_test, str(tmp_path), i, what="cube")

    with ThreadPoolExecutor(4) as pool:  # a JobLibCollisionWarning raises here (filterwarnings = error)
        assert list(pool.map(call, range(8))) == [i**3 for i in range(8)]


def _rows_with_a_warning(X):
    import warnings

    from trustkit import TrustkitWarning

    warnings.warn(f"a block of {len(X)} rows", TrustkitWarning, stacklevel=1)
    return X[:, ::-1] * 2


def _rows_refused(X):
    raise ValueError(f"no block of {len(X)} rows")


def _rows_of_their_block_size(X):
    return np.full((len(X), len(X)), float(len(X)))


def test_process_pool_maps_blocks_of_rows_in_order_and_brings_warnings_and_errors_back():
    import pickle

    from trustkit import TrustkitWarning
    from trustkit._meter import ProcessPool, process_pool

    X = np.arange(7 * 5, dtype=np.float32).reshape(7, 5)
    with process_pool(2) as pool:
        assert pool.active and pool.n_workers == 2
        with pytest.warns(TrustkitWarning) as caught:
            Y = pool.map_rows(_rows_with_a_warning, X)
        np.testing.assert_array_equal(Y, X[:, ::-1] * 2)  # 7 rows in blocks of 4 and 3, stacked in order
        assert Y.dtype == np.float32
        assert sorted(str(w.message) for w in caught) == ["a block of 3 rows", "a block of 4 rows"]
        with pytest.raises(ValueError, match="no block of 4 rows"):
            pool.map_rows(_rows_refused, X)
        with pytest.raises(RuntimeError, match="must treat rows alike"):
            pool.map_rows(_rows_of_their_block_size, X)
        copy = pickle.loads(pickle.dumps(pool))  # a process backend's copy works where it is
        assert not copy.active
        np.testing.assert_array_equal(copy.map_rows(_rows_of_their_block_size, X), np.full((7, 7), 7.0))
    assert pool._executor is None  # closed with the block
    assert not ProcessPool(1).active
    np.testing.assert_array_equal(ProcessPool(1).map_rows(_rows_of_their_block_size, X), np.full((7, 7), 7.0))


def test_holds_gil_names_the_steps_threads_cannot_share():
    from trustkit.perturbations import (
        AddNoise,
        Compose,
        LoudnessMatch,
        Mp3Compression,
        PitchShift,
        TimeStretch,
        holds_gil,
    )

    assert holds_gil(Mp3Compression(128)) and holds_gil(PitchShift(1)) and holds_gil(TimeStretch(1.1))
    assert not holds_gil(PitchShift(1, method="librosa")) and not holds_gil(AddNoise())
    assert holds_gil(LoudnessMatch(Mp3Compression(128))) and not holds_gil(LoudnessMatch(AddNoise()))
    assert holds_gil(Compose([AddNoise(), TimeStretch(1.1)])) and not holds_gil(Compose([AddNoise(), Gain(-3)]))
    assert not holds_gil(object()) and not holds_gil(np.negative)


def test_parallel_map_runs_in_the_callers_context_on_threads_and_crosses_processes_without_it():
    import contextvars

    import joblib

    from trustkit._meter import parallel_map

    var = contextvars.ContextVar("test_block", default="outside")
    token = var.set("inside")
    try:
        assert parallel_map(lambda i: (i, var.get()), [(0,), (1,)], n_jobs=2) == [(0, "inside"), (1, "inside")]
        with joblib.parallel_config(backend="loky"):  # the context does not cross a process boundary; the map works
            assert parallel_map(np.negative, [(np.ones(2),), (np.zeros(1),)], n_jobs=2)[0].tolist() == [-1.0, -1.0]
    finally:
        var.reset(token)
