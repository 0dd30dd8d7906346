from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

SR = 22050
SHARED_LIBROSA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "librosa"


def pytest_configure(config):
    # real recordings: point librosa at the shared copy when nobody chose a folder
    if "LIBROSA_DATA_DIR" not in os.environ and SHARED_LIBROSA.is_dir():
        os.environ["LIBROSA_DATA_DIR"] = str(SHARED_LIBROSA)


@pytest.fixture(scope="session")
def sr():
    return SR


@pytest.fixture(scope="session")
def music():
    from trustkit.datasets import make_music

    X, _ = make_music(4, duration=1.5, sr=SR, random_state=0)
    X.flags.writeable = False  # any in-place write by a perturbation fails loudly
    return X


def tone(freq, seconds=1.0, sr=SR, amp=0.5):
    t = np.arange(int(seconds * sr)) / sr
    return amp * np.sin(2 * np.pi * freq * t)


def peak_hz(y, sr=SR):
    spec = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    return np.argmax(spec) * sr / len(y)
