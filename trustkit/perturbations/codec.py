"""Lossy codecs: constant-bitrate MP3 round trip."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from .._validation import check_number
from ..audio import fix_length
from ._base import BasePerturbation

__all__ = ["MP3_BITRATES", "Mp3Compression"]

_MPEG1 = (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
_MPEG2 = (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)
#: Layer III bitrates (kbps) allowed at each sample rate (ISO 11172-3, 13818-3 and MPEG-2.5).
MP3_BITRATES: dict[int, tuple[int, ...]] = {
    **dict.fromkeys((32000, 44100, 48000), _MPEG1),
    **dict.fromkeys((16000, 22050, 24000), _MPEG2),
    **dict.fromkeys((8000, 11025, 12000), _MPEG2),
}
ALL_BITRATES = tuple(sorted(set(_MPEG1) | set(_MPEG2)))


def codec_rate(sr: int, bitrate: int) -> int:
    """The MP3 sample rate used to encode audio at ``sr`` with ``bitrate`` kbps.

    ``sr`` itself when the standard allows that bitrate there; otherwise the
    allowed rate nearest to ``sr`` (in octaves, ties to the higher rate), so that
    the requested bitrate is what the encoder really uses.
    """
    if bitrate in MP3_BITRATES.get(sr, ()):
        return sr
    ok = [r for r, rates in MP3_BITRATES.items() if bitrate in rates]
    return min(ok, key=lambda r: (abs(np.log2(r / sr)), -r))


#: the shortest input fast-mp3-augment encodes (it refuses less): shorter clips are padded with silence, then cut
MIN_CODEC_SECONDS = 0.1


class Mp3Compression(BasePerturbation):
    """Encode each clip as constant-bitrate MP3 and decode it back (LAME + minimp3).

    The output is aligned with the input (encoder and decoder delay removed,
    cross-correlation lag 0), has the input's length and is deterministic.
    Clips down to one MP3 frame (1,152 samples) are accepted: below 100 ms,
    which the encoder library refuses, the clip is encoded with silence after
    it and the silence is cut off again.
    When ``sr`` is not an MP3 rate, or the bitrate is not allowed at ``sr``
    (MPEG-2 rates such as 22050 Hz stop at 160 kbps), the clip is resampled
    (soxr, high quality) to the nearest rate where it is, and back; the rate
    used is reported as ``codec_sr``.

    Parameters
    ----------
    bitrate : int, default=128
        Constant bitrate in kbps, one of 8, 16, 24, 32, 40, 48, 56, 64, 80, 96,
        112, 128, 144, 160, 192, 224, 256, 320.
    sr : int
        Sample rate in Hz (required).
    quality : int, default=2
        LAME's algorithm quality, 0 (best, slowest) to 9 (fastest); it does not
        change the bitrate. 2 is LAME's recommended "high quality".
    clip_policy : {"none", "clip", "rescale", "raise"}, default="none"
        Input above full scale is encoded at reduced gain and restored, so
        the codec itself never clips.
    n_jobs : int or None, default=None

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).standard_normal((1, 22050)).astype(np.float32) * 0.1
    >>> Xt, p = Mp3Compression(bitrate=64, sr=22050).transform_with_params(X)
    >>> Xt.shape, int(p["bitrate_kbps"][0]), int(p["codec_sr"][0])
    ((1, 22050), 64, 22050)
    """

    _needs_sr: ClassVar[bool] = True
    _example: ClassVar[str] = "bitrate=128"

    def __init__(self, bitrate=128, *, sr=None, quality=2, clip_policy="none", n_jobs=None):
        self.bitrate = bitrate
        self.sr = sr
        self.quality = quality
        self.clip_policy = clip_policy
        self.n_jobs = n_jobs

    def _check_params(self, sr):
        bitrate = check_number(self.bitrate, "bitrate", low=1, integer=True)
        if bitrate not in ALL_BITRATES:
            raise ValueError(
                f"bitrate must be an MP3 Layer III bitrate in kbps, one of "
                f"{', '.join(map(str, ALL_BITRATES))}; got {bitrate}."
            )
        quality = check_number(self.quality, "quality", low=0, high=9, integer=True)
        return {"bitrate": bitrate, "quality": quality, "codec_sr": codec_rate(sr, bitrate)}

    def _min_samples(self, sr):
        return 1152  # one MP3 frame

    def _holds_gil(self):
        return True  # LAME through fast-mp3-augment

    def _perturb(self, x, sr, rng, params):
        import fast_mp3_augment

        codec_sr = params["codec_sr"]
        z = x
        if codec_sr != sr:
            import soxr

            z = soxr.resample(x, sr, codec_sr, quality="HQ")
        z = np.ascontiguousarray(z, dtype=np.float32)
        # above full scale, fast-mp3-augment encodes at 1 / peak and restores the gain after decoding
        pre = max(float(z.max()), -float(z.min()), 1.0)
        # fast-mp3-augment refuses less than 100 ms: a shorter clip (down to one MP3 frame, the documented
        # minimum) is encoded with digital silence after it, and the silence is cut off again
        short = MIN_CODEC_SECONDS * codec_sr - len(z)
        if short > 0:
            z = np.concatenate([z, np.zeros(int(np.ceil(short)) + 1, dtype=np.float32)])
        y = fast_mp3_augment.compress_roundtrip(
            z, codec_sr, params["bitrate"], preserve_delay=False, quality=params["quality"]
        )
        if codec_sr != sr:
            import soxr

            y = soxr.resample(y, codec_sr, sr, quality="HQ")
        return fix_length(y, len(x)), {
            "bitrate_kbps": params["bitrate"],
            "codec_sr": codec_sr,
            "quality": params["quality"],
            "encoder_gain_db": float(-20 * np.log10(pre)),
        }
