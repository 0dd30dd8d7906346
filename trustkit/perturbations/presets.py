"""Real-world degradation chains in the spirit of the Audio Degradation Toolbox.

The toolbox (Mauch & Ewert, 2013) degrades audio with measured impulse
responses and recorded noises; these presets rebuild each chain from trustkit's
own steps with synthetic responses, so they ship no GPL code and no non-free
data. They are approximations of the same scenarios, not bit-exact copies.
"""

from __future__ import annotations

from typing import Any

from .._validation import check_choice, check_sr
from .codec import Mp3Compression
from .compose import Compose
from .distortion import Clipping, Downsample
from .filters import BandPass, HighPass, LowPass
from .noise import AddNoise
from .pitch_time import SpeedChange
from .reverb import Reverb

__all__ = ["PRESETS", "degradation"]

PRESETS: dict[str, str] = {
    "live_recording": "hall reverb (RT60 1.4 s), pink noise at 40 dB SNR",
    "radio_broadcast": "band 50 Hz-15 kHz, 2 % speed-up, mild clipping (0.1 %)",
    "smartphone_playback": "small-speaker band 500 Hz-8 kHz, pink noise at 40 dB SNR",
    "smartphone_recording": "mic band 150 Hz-7 kHz, 16 kHz path, clipping 0.5 %, pink noise at 35 dB SNR",
    "strong_mp3": "MP3 at 32 kbps",
    "vinyl": "low-pass 9 kHz, 0.5 % speed change, brown rumble at 35 dB, pink hiss at 40 dB SNR",
}


def degradation(name: str, *, sr: int, random_state: Any = None) -> Compose:
    """A ready degradation chain by name.

    Parameters
    ----------
    name : str
        One of ``PRESETS``: ``"live_recording"``, ``"radio_broadcast"``,
        ``"smartphone_playback"``, ``"smartphone_recording"``,
        ``"strong_mp3"``, ``"vinyl"``.
    sr : int
        Sample rate in Hz (at least 32 kHz keeps every band edge meaningful;
        edges above Nyquist are lowered to 0.45 sr).
    random_state : int, RandomState or None, default=None

    Returns
    -------
    Compose

    Examples
    --------
    >>> chain = degradation("live_recording", sr=22050, random_state=0)
    >>> [name for name, _ in chain.steps]
    ['reverb', 'noise']
    """
    check_choice(name, "name", PRESETS)
    sr = check_sr(sr, "degradation", example="'vinyl'")

    def hz(f: float) -> float:
        return min(f, 0.45 * sr)

    chains: dict[str, list[tuple[str, Any]]] = {
        "live_recording": [
            ("reverb", Reverb(rt60=1.4, drr_db=-3.0, predelay_ms=20.0)),
            ("noise", AddNoise(snr_db=40, color="pink")),
        ],
        "radio_broadcast": [
            ("band", BandPass(low_hz=50, high_hz=hz(15000))),
            ("speed", SpeedChange(factor=1.02)),
            ("clipping", Clipping(percent=0.1)),
        ],
        "smartphone_playback": [
            ("speaker", BandPass(low_hz=500, high_hz=hz(8000), order=2)),
            ("noise", AddNoise(snr_db=40, color="pink")),
        ],
        "smartphone_recording": [
            ("mic", BandPass(low_hz=150, high_hz=hz(7000), order=2)),
            ("adc", Downsample(target_sr=min(16000, sr))),
            ("clipping", Clipping(percent=0.5)),
            ("noise", AddNoise(snr_db=35, color="pink")),
        ],
        "strong_mp3": [("mp3", Mp3Compression(bitrate=32))],
        "vinyl": [
            ("lowpass", LowPass(cutoff_hz=hz(9000), order=2)),
            ("rumble", HighPass(cutoff_hz=20, order=1)),
            ("speed", SpeedChange(factor=0.995)),
            ("rumble_noise", AddNoise(snr_db=35, color="brown")),
            ("hiss", AddNoise(snr_db=40, color="pink")),
        ],
    }
    return Compose(chains[name], sr=sr, random_state=random_state)
