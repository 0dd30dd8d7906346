"""Meters on a local dask.distributed cluster give the numbers of a single process."""

from __future__ import annotations

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def client():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # distributed's start-up chatter (ports, deprecations)
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
        client = distributed.Client(cluster)
    yield client
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        client.close()
        cluster.close()


@pytest.mark.slow
def test_meters_on_a_dask_cluster_match_one_process(client):
    import joblib

    from trustkit import SensitivityMeter, TransferabilityProbe
    from trustkit.datasets import make_music
    from trustkit.encoders import MFCCEncoder
    from trustkit.perturbations import AddNoise, PerturbationGrid

    X, y = make_music(15, duration=1.0, sr=16000, random_state=0)
    grid = PerturbationGrid(AddNoise(), "snr_db", [10, 0, -10], family="noise")
    meter = SensitivityMeter(MFCCEncoder(sr=16000), grid, sr=16000, random_state=0, n_bootstrap=100, n_jobs=2)
    probe = TransferabilityProbe(MFCCEncoder(sr=16000), cv=3, n_bootstrap=100, random_state=0, n_jobs=2)
    local_s, local_t = meter.score(X), probe.score(X, y["timbre"])
    with joblib.parallel_backend("dask"):
        dask_s, dask_t = meter.score(X), probe.score(X, y["timbre"])
    assert local_s.table.equals(dask_s.table) and local_s.per_clip.equals(dask_s.per_clip)
    assert local_t.table.equals(dask_t.table) and np.array_equal(local_t.oof["fold"], dask_t.oof["fold"])


@pytest.mark.slow
def test_a_corpus_streamed_on_a_dask_cluster_matches_one_process(client, tmp_path):
    """Chunks are tasks that receive the corpus (paths), read their files on a worker and return embeddings."""
    import joblib
    import soundfile as sf

    from trustkit import SensitivityMeter
    from trustkit.datasets import make_music
    from trustkit.encoders import MFCCEncoder
    from trustkit.perturbations import AddNoise, PerturbationGrid

    X, _ = make_music(9, duration=1.0, sr=16000, random_state=1)
    for i, x in enumerate(X):
        sf.write(tmp_path / f"{i}.wav", x, 16000, subtype="FLOAT")
    grid = PerturbationGrid(AddNoise(), "snr_db", [10, -10], family="noise")
    meter = SensitivityMeter(MFCCEncoder(), grid, random_state=0, n_bootstrap=100, n_jobs=2, chunk_size=4)
    local = meter.score(tmp_path)
    with joblib.parallel_backend("dask"):
        remote = meter.score(tmp_path)
    assert local.table.equals(remote.table) and local.per_clip.equals(remote.per_clip)
