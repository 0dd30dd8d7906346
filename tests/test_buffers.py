"""Large outputs reuse memory that nobody holds any more, and only that memory (trustkit._buffers)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from trustkit import _buffers
from trustkit import perturbations as P

SR = 22050


def address(a: np.ndarray) -> int:
    return a.__array_interface__["data"][0]


@pytest.fixture(autouse=True)
def empty_pool():
    _buffers.release()
    yield
    _buffers.release()


@pytest.fixture(scope="module")
def clips():
    # 2 x 10 s at 22.05 kHz in float32: 1.7 MB, above the size the pool starts at
    t = np.arange(10 * SR) / SR
    rng = np.random.default_rng(0)
    X = (0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal((2, len(t)))).astype(np.float32)
    assert X.nbytes >= _buffers.MIN_BYTES
    return X


STEPS = {
    "gain": lambda: P.Gain(gain_db=-6),
    "bitcrush": lambda: P.Bitcrush(bits=6),
    "clipping": lambda: P.Clipping(percent=5),
    "lowpass": lambda: P.LowPass(cutoff_hz=2000, sr=SR, order=2),
    "noise": lambda: P.AddNoise(snr_db=20, color="pink", random_state=0),
    "loudness": lambda: P.LoudnessMatch(target_lufs=-23, sr=SR),
    "reverb": lambda: P.Reverb(rt60=0.3, sr=SR, random_state=0),
    "identity": lambda: P.Gain(gain_db=0),
}


@pytest.mark.parametrize("name", list(STEPS))
def test_an_output_someone_holds_is_never_reused_and_a_released_one_is(name, clips):
    step = STEPS[name]()
    first = step.transform(clips)
    kept = first.copy()
    second = step.transform(clips)  # `first` is alive: `second` must be other memory
    assert not np.shares_memory(first, second)
    np.testing.assert_array_equal(first, kept)  # untouched by the second call
    np.testing.assert_array_equal(second, kept)  # and the same numbers (no stale data from a reused buffer)
    where = address(second)
    del second
    third = step.transform(clips)
    assert address(third) == where  # released: its memory is reused
    np.testing.assert_array_equal(third, kept)


def test_a_view_keeps_its_buffer(clips):
    step = P.Gain(gain_db=-6)
    row = step.transform(clips)[1]  # only a view of the batch survives
    kept = row.copy()
    other = step.transform(clips * 0.5)
    assert not np.shares_memory(row, other)
    np.testing.assert_array_equal(row, kept)


def test_idle_buffers_are_bounded_and_released(clips):
    outs = [_buffers.empty_batch((n, 200_000), np.float32) for n in (2, 3, 4, 5)]
    assert len(_buffers._pool) == 4
    del outs
    new = _buffers.empty_batch((6, 200_000), np.float32)  # a miss: the idle ones beyond MAX_IDLE - 1 are freed
    assert len(_buffers._pool) == _buffers.MAX_IDLE
    assert _buffers.release() == 5 * 200_000 * 4  # the most recent idle one; `new` is in use, not counted
    assert _buffers._pool == []
    assert new.shape == (6, 200_000)


def test_small_and_oversized_outputs_are_plain_numpy(monkeypatch):
    small = _buffers.empty_batch((2, 100), np.float32)
    assert small.flags.owndata and not _buffers._pool
    monkeypatch.setattr(_buffers, "MAX_BYTES", 1 << 21)
    big = _buffers.empty_batch((1, 1 << 20), np.float32)  # 4 MiB: over the limit, not tracked
    assert big.base is not None and not _buffers._pool


def test_threads_each_get_their_own_memory(clips):
    step = P.Gain(gain_db=-6)
    expected = step.transform(clips)
    results, errors = [], []

    def work():
        try:
            for _ in range(20):
                y = step.transform(clips)
                results.append(y)
                if not np.array_equal(y, expected):
                    errors.append("wrong numbers")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(repr(exc))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    held = {address(y) for y in results}
    assert len(held) == len(results)  # every held output is its own memory
