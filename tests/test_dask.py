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


@pytest.mark.slow
def test_a_worker_lost_mid_run_changes_no_number(tmp_path):
    """Dask reruns a lost worker's chunks elsewhere; clips are seeded by content, so the numbers cannot change."""
    import os
    import signal
    import threading
    import time
    import warnings

    import joblib
    import soundfile as sf

    from trustkit import SensitivityMeter
    from trustkit.datasets import make_music
    from trustkit.encoders import MFCCEncoder
    from trustkit.perturbations import AddNoise, PerturbationGrid

    X, _ = make_music(16, duration=1.0, sr=16000, random_state=2)
    for i, x in enumerate(X):
        sf.write(tmp_path / f"{i:02d}.wav", x, 16000, subtype="FLOAT")
    grid = PerturbationGrid(AddNoise(), "snr_db", [20, 10, 0, -10], family="noise")
    meter = SensitivityMeter(MFCCEncoder(), grid, random_state=0, n_bootstrap=50, n_jobs=2, chunk_size=2)
    alone = meter.score(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # distributed's messages about the worker it lost
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
        client = distributed.Client(cluster)
        try:
            victim = next(iter(client.scheduler_info()["workers"]))
            pid = client.run(os.getpid, workers=[victim])[victim]
            killed = threading.Event()

            def kill_when_busy():
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline and not killed.is_set():
                    if client.processing().get(victim):  # the victim holds a chunk now: kill its process
                        os.kill(pid, signal.SIGKILL)
                        killed.set()
                    time.sleep(0.02)

            threading.Thread(target=kill_when_busy, daemon=True).start()
            with joblib.parallel_backend("dask"):
                survived = meter.score(tmp_path)
        finally:
            client.close()
            cluster.close()
    assert killed.is_set()
    assert alone.table.equals(survived.table) and alone.per_clip.equals(survived.per_clip)
