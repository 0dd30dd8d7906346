"""Check visqol-python against Google's C++ ViSQOL v3 on the C++ repository's own conformance cases.

The claim (visqol-python's README): its audio mode gives the C++ v3.3.3 MOS-LQO
on the conformance files. The files are not in the wheel; they are in
google/visqol (``testdata/conformance_testdata_subset``, Apache-2.0), and the
expected scores are that repository's ``src/include/conformance.h``
(``kVisqolConformanceNumber`` 333). This script scores each pair with the
Python port, as ``tests/conformance_test.cc`` does (audio mode, the default
SVR model and search window, whole files), and prints the differences.

Usage: ``python tools/visqol_conformance.py FOLDER`` where FOLDER holds the
subset's WAV files (e.g. ``git show HEAD:testdata/conformance_testdata_subset/X.wav``
from a clone of google/visqol).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

# reference file, degraded file, the C++ expected MOS-LQO (conformance.h, version 333)
CASES = [
    ("strauss48_stereo.wav", "strauss48_stereo_lp35.wav", 1.3888791489130758),
    ("steely48_stereo.wav", "steely48_stereo_lp7.wav", 2.2501683734385183),
    ("sopr48_stereo.wav", "sopr48_stereo_256kbps_aac.wav", 4.68228969737946),
    ("ravel48_stereo.wav", "ravel48_stereo_128kbps_opus.wav", 4.465141897255348),
    ("moonlight48_stereo.wav", "moonlight48_stereo_128kbps_aac.wav", 4.684292801646114),
    ("harpsichord48_stereo.wav", "harpsichord48_stereo_96kbps_mp3.wav", 4.22374532766003),
    ("guitar48_stereo.wav", "guitar48_stereo_64kbps_aac.wav", 4.349722308064298),
    ("glock48_stereo.wav", "glock48_stereo_48kbps_aac.wav", 4.332452943882108),
    ("contrabassoon48_stereo.wav", "contrabassoon48_stereo_24kbps_aac.wav", 2.346868205375293),
    ("castanets48_stereo.wav", "castanets48_stereo.wav", 4.732101253042348),
]


def main(folder: str) -> int:
    from visqol.api import VisqolApi

    api = VisqolApi()
    api.create(mode="audio")
    worst = 0.0
    print(f"{'case':<42s} {'C++ v3.3.3':>11s} {'Python':>11s} {'diff':>10s} {'s':>6s}")
    for ref, deg, expected in CASES:
        t0 = time.perf_counter()
        got = api.measure(str(Path(folder) / ref), str(Path(folder) / deg)).moslqo
        worst = max(worst, abs(got - expected))
        print(f"{deg:<42s} {expected:11.6f} {got:11.6f} {got - expected:+10.2e} {time.perf_counter() - t0:6.1f}")
    print(f"largest difference: {worst:.2e} MOS over {len(CASES)} cases")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
