"""The ``trustkit`` command line."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .exceptions import InvalidAudioError

__all__ = [
    "load_encoder",
    "main",
    "run_demo",
    "run_explain",
    "run_report",
    "run_sensitivity",
    "run_transfer",
]


BUILTIN_ENCODERS: dict[str, tuple[str, dict[str, Any]]] = {
    "mfcc": ("trustkit.encoders:MFCCEncoder", {}),
    "mfcc-study": ("trustkit.encoders:MFCCEncoder.study", {}),
    "mfcc-study-autotagger": ("trustkit.encoders:MFCCEncoder.study", {"variant": "autotagger"}),
    "musicnn": ("trustkit.encoders:MusicnnEncoder", {}),
    **{m.lower().replace("_", "-"): ("trustkit.encoders:MusicnnEncoder", {"model": m})
       for m in ("MSD_musicnn", "MTT_musicnn", "MSD_vgg", "MTT_vgg")},
    "crepe": ("trustkit.encoders:CrepeEncoder", {}),
    "basicpitch": ("trustkit.encoders:BasicPitchEncoder", {}),
}


ENCODER_HELP = (
    "mfcc, mfcc-study (the robustness study's 240-d MFCC of ext_latent.py), mfcc-study-autotagger (its 144-d "
    "MFCCAutoTagger form), musicnn (= msd-musicnn), mtt-musicnn, msd-vgg, "
    "mtt-vgg (the musicnn auto-taggers, shipped), crepe, basicpitch, hear:MODULE (a HEAR-API module), "
    "hf:FOLDER_OR_NAME (a transformers audio model, last layer), or MODULE:OBJECT (imports and runs that module's code)"
)


class UsageError(ValueError):
    """A mistake on the command line (exit code 2)."""


def load_encoder(spec: str, *, sr: int, flag: str = "--encoder") -> Any:
    """Resolve a built-in name (:data:`BUILTIN_ENCODERS`) or ``MODULE:OBJECT`` to an encoder.

    ``OBJECT`` may be an encoder, a fitted transformer, a callable, a class
    (instantiated with ``sr=`` when it takes it) or a class's factory method
    such as ``MFCCEncoder.study`` (called the same way).
    """
    import inspect

    from .encoders import HearEncoder, HFAudioEncoder, as_encoder

    prefix, obj, params = resolve_encoder_spec(spec, flag=flag)
    if prefix in ("hear", "hf"):
        return as_encoder(HearEncoder(obj) if prefix == "hear" else HFAudioEncoder(obj), sr=sr)
    if inspect.isclass(obj) or (inspect.ismethod(obj) and inspect.isclass(obj.__self__)):
        obj = obj(sr=sr, **params) if "sr" in inspect.signature(obj).parameters else obj(**params)
    return as_encoder(obj, sr=sr)


def resolve_encoder_spec(spec: str, *, flag: str = "--encoder") -> tuple[str, Any, dict[str, Any]]:
    """Check an encoder spec and import its code, without building the encoder (cheap: run before reading audio).

    Returns ``(prefix, what, params)``: ``("hear" | "hf", name, {})`` or ``("", imported object, built-in params)``.
    """
    prefix, _, rest = spec.partition(":")
    if prefix in ("hear", "hf"):
        if not rest:
            raise UsageError(f"{flag} {spec!r}: name the {'HEAR module' if prefix == 'hear' else 'model folder or hub name'} "
                             f"after '{prefix}:' (e.g. {'hear:hearbaseline.naive' if prefix == 'hear' else 'hf:path/to/wav2vec2'}).")
        if prefix == "hear":
            import importlib.util

            try:
                found = importlib.util.find_spec(rest)
            except (ImportError, ValueError):
                found = None  # HearEncoder names the problem when it imports the module
            if found is not None and found.origin:
                _USER_CODE[str(Path(found.origin).resolve())] = f"{flag} {spec!r}"
        return prefix, rest, {}
    target, params = BUILTIN_ENCODERS.get(spec, (spec, {}))
    if ":" not in target:
        raise UsageError(
            f"{flag} must be one of {', '.join(BUILTIN_ENCODERS)}, hear:MODULE, hf:FOLDER_OR_NAME or MODULE:OBJECT "
            f"(e.g. mypackage.models:encoder); got {spec!r}."
        )
    return "", _import_object(target, flag), params


def run_sensitivity(args: argparse.Namespace, stream: Any = None) -> int:
    """``trustkit sensitivity``: score an encoder, print a summary, gate, write JSON/HTML."""
    from .datasets import Corpus, make_music
    from .robustness import SensitivityMeter

    stream = stream or _stream(args)
    # the encoders' specs (a typo, a module that does not import) are refused before any audio is read
    resolve_encoder_spec(args.encoder)
    if args.baseline:
        resolve_encoder_spec(args.baseline, flag="--baseline")
    if args.audio:  # streamed: the meter reads the files chunk by chunk, never all at once
        X = Corpus.from_folder(args.audio, sr=args.sr, duration=args.duration, offset=args.offset, labels=None,
                               short="pad", on_error=args.on_error)
        y = X.y
        sr, source = X.sr, _described(args, y, len(X))
        if X.skipped:
            source["skipped"] = [{"file": f, "reason": why} for f, why in X.skipped]
        args.files_read = y["file"].tolist()  # an error about "clip i" then names its file
    else:
        sr = args.sr or BUILTIN_SR
        duration = args.duration or 5.0
        X, _ = make_music(args.clips, duration=duration, sr=sr, random_state=args.seed)
        source = {"source": "built-in generated music (make_music)", "n_clips": len(X), "sr": sr, "duration": duration}
    source["snr_reference"] = args.snr_reference
    print(_input_line(source), file=stream)
    encoder = load_encoder(args.encoder, sr=sr)
    baseline = load_encoder(args.baseline, sr=sr, flag="--baseline") if args.baseline else None
    from .perturbations import study_grid

    # the grid the meter builds from its name, with the noise settings' SNR measured where the user asked
    grid = args.perturbations if args.snr_reference == "clip" else study_grid(args.perturbations, sr=sr,
                                                                              snr_reference=args.snr_reference)
    meter = SensitivityMeter(
        encoder, grid, sr=sr, metric=args.metric, baseline=baseline,
        loudness_match=not args.no_loudness_match, n_jobs=args.n_jobs, random_state=args.seed,
        verbose=_progress(args), chunk_size=args.chunk_size, memory=args.cache,
        quality=args.quality or False, quality_clips=args.quality_clips,
    )
    report = meter.score(X)
    print(report.summary(), file=stream)
    return _finish(report, args, stream, source, limit=args.fail_above, flag="--fail-above",
                   scope="per_setting" if args.per_setting else "headline")


#: the rate of the built-in generated clips when --sr is not given (with --audio the files' own rate is used)
BUILTIN_SR = 22050


def _described(args: argparse.Namespace, y: Any, n: int) -> dict[str, Any]:
    """What was read from --audio, as the JSON records it: the rate and length, and whether the files gave them."""
    other = sorted({int(r) for r in y["sr"]} - {int(y.attrs["sr"])})
    resampled = f" (files at {', '.join(map(str, other))} Hz resampled)" if other else ""
    return {"source": os.fspath(args.audio), "n_clips": n, "sr": int(y.attrs["sr"]),
            "sr_from": f"--sr{resampled}" if args.sr else "the files", "duration": float(y.attrs["duration"]),
            "duration_from": "--duration" if args.duration else "the files",
            "groups": None if "group" not in y else int(y["group"].nunique())}


def _input_line(source: dict[str, Any]) -> str:
    extra = "".join(f" ({k.removesuffix('_from')} from {v})" for k, v in source.items() if k.endswith("_from"))
    groups = f", {source['groups']} groups" if source.get("groups") else ""
    return (f"input: {source['n_clips']} clips from {source['source']} at {source['sr']} Hz, {source['duration']:.4g} s "
            f"each{groups}{extra}\n")


def _labelled_audio(args: argparse.Namespace, *, stream: bool = False) -> tuple[Any, Any, Any, int, dict[str, Any]]:
    """Clips, labels, groups (or None), the rate, and what was read (for the JSON).

    With ``stream``, --audio's files come as a corpus that the meter reads chunk by chunk.
    """
    from .datasets import Corpus, make_music

    if args.audio:
        try:
            corpus = Corpus.from_folder(args.audio, sr=args.sr, duration=args.duration, labels=args.labels or "folders",
                                        groups=args.groups, short="pad")
            y = corpus.y
            X = corpus if stream else corpus.read()
        except ValueError as exc:
            if isinstance(exc, InvalidAudioError):
                raise
            raise UsageError(f"--audio {args.audio!r}: {exc}") from exc
        if y["label"].nunique() < 2:
            raise UsageError(f"--audio {args.audio!r}: put the files in at least two sub-folders (one per label), or "
                             "pass --labels CSV.")
        args.files_read = y["file"].tolist()  # an error about "clip i" then names its file
        return X, y["label"], y.get("group"), int(y.attrs["sr"]), _described(args, y, len(X))
    if args.groups or args.labels:
        raise UsageError("--groups and --labels read files: pass --audio DIR too.")
    sr, duration = args.sr or BUILTIN_SR, args.duration or 3.0
    X, y = make_music(args.clips, duration=duration, sr=sr, random_state=args.seed)
    return X, y[args.label], None, sr, {"source": "built-in generated music (make_music)", "n_clips": len(X), "sr": sr,
                                        "duration": duration}


def run_transfer(args: argparse.Namespace, stream: Any = None) -> int:
    """``trustkit transfer``: probe an encoder on labelled audio, print, gate, write JSON/HTML."""
    from .transferability import TransferabilityProbe

    stream = stream or _stream(args)
    resolve_encoder_spec(args.encoder)  # a bad spec is refused before any audio is read
    X, y, groups, sr, source = _labelled_audio(args, stream=True)  # the probe reads --audio's files chunk by chunk
    print(_input_line(source), file=stream)
    encoder = load_encoder(args.encoder, sr=sr)
    if args.per_setting and not args.perturbations:
        raise UsageError("--per-setting gates the score under each perturbation: add --perturbations imperceptible "
                         "(or graver, all).")
    report = TransferabilityProbe(encoder, args.probe, cv=args.cv, n_jobs=args.n_jobs, random_state=args.seed,
                                  verbose=_progress(args), memory=args.cache, sr=sr, perturbations=args.perturbations,
                                  loudness_match=not args.no_loudness_match).score(X, y, groups)
    print(report.summary(), file=stream)
    return _finish(report, args, stream, source, limit=args.fail_below, flag="--fail-below",
                   scope="per_setting" if args.per_setting else "headline")


def run_explain(args: argparse.Namespace, stream: Any = None) -> int:
    """``trustkit explain``: explain a classifier of MFCC statistics (or a given model) over time segments."""
    import warnings

    from .exceptions import TrustkitWarning
    from .fidelity import (
        FidelityComplexityScorer,
        TimeSegments,
        explain_with_lime,
        explain_with_shap,
        mfcc_classifier,
    )

    stream = stream or _stream(args)
    X, y, _, sr, source = _labelled_audio(args)
    print(_input_line(source), file=stream)
    if args.model:
        model = _import_object(args.model, "--model")
        if not (callable(model) or any(hasattr(model, m) for m in ("predict_proba", "decision_function", "predict"))):
            raise UsageError(f"--model {args.model!r} is a {type(model).__name__}, not a classifier: pass a fitted "
                             "model with predict_proba, decision_function or predict, or a function of audio.")
    else:
        model = mfcc_classifier(sr).fit(X, np.asarray(y))
    clips = X[: args.instances]
    # absent segments: the same segment of the other clips when there are any (see TimeSegments), else noise
    seg = TimeSegments(args.segments, baseline=X[args.instances :] if len(X) > args.instances else "noise")
    explain = explain_with_lime if args.explainer == "lime" else explain_with_shap
    W = explain(model, clips, seg, random_state=args.seed, verbose=_progress(args))
    scorer = FidelityComplexityScorer(model, segmenter=seg, budgets=(1, 2, "all"), n_jobs=args.n_jobs, random_state=args.seed,
                                      verbose=_progress(args)).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TrustkitWarning)
        report = scorer.score(clips, W)
    print(report.summary(), file=stream)
    return _finish(report, args, stream, source, limit=args.fail_below, flag="--fail-below")


def _progress(args: argparse.Namespace) -> bool:
    """Progress bars on stderr: asked for (``--progress on``, ``--verbose``), or by default when stderr is a terminal."""
    if getattr(args, "verbose", False) or args.progress == "on":
        return True
    return args.progress == "auto" and sys.stderr.isatty()


def _finish(report: Any, args: argparse.Namespace, stream: Any, source: dict[str, Any] | None = None, *,
            limit: float | None = None, flag: str = "", name: str | None = None, **options: Any) -> int:
    """Gate (the one gate, ``Report.check``), write every output, say the gate's result; the exit code (0 or 1).

    The gate is judged first, so that ``--junit`` and ``--markdown`` carry it;
    on GitHub Actions the Markdown is also appended to the job summary.
    """
    from .reports.ci import run_gate

    name = name or (f"{flag} {limit:g}" if limit is not None else "")
    gate = run_gate(report, limit, name=name, **options)
    _write(report, args, stream, source, [gate] if gate is not None else [])
    if gate is not None:
        print(f"\nGATE {'PASSED' if gate.passed else 'FAILED'}: {gate.message}", file=stream)
    return 0 if gate is None or gate.passed else 1


def _write(report: Any, args: argparse.Namespace, stream: Any, source: dict[str, Any] | None = None,
           gates: list[Any] = ()) -> None:  # type: ignore[assignment]
    """Every output the flags ask for (``--json``, ``--html``, ``--junit``, ``--markdown``), all or nothing."""
    from .reports.ci import junit_xml, markdown_summary

    texts = {}
    if args.json:
        data = report.to_dict()
        if source is not None:
            data["input"] = source  # what the numbers were measured on: the files, their rate and length
        texts[Path(args.json)] = json.dumps(data, indent=1, allow_nan=False)
    if args.html:
        texts[Path(args.html)] = report.to_html()
    if getattr(args, "junit", None):
        texts[Path(args.junit)] = junit_xml(report, gates, suite=f"trustkit {args.command}")
    summary_file = os.environ.get("GITHUB_STEP_SUMMARY")
    if getattr(args, "markdown", None) or summary_file:
        md = markdown_summary(report, gates, title=f"trustkit {args.command}")
        if getattr(args, "markdown", None):
            texts[Path(args.markdown)] = md
    if texts:
        print("", file=stream)
        _write_all(texts, stream)
    if summary_file:  # GitHub Actions: appended, as the job summary's steps each add theirs
        with open(summary_file, "a", encoding="utf-8") as fh:
            fh.write(md + "\n")


def _import_object(spec: str, flag: str) -> Any:
    import importlib

    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise UsageError(f"{flag} must be MODULE:OBJECT (e.g. mypackage.models:classifier); got {spec!r}.")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise UsageError(f"{flag} {spec!r}: cannot import module {module_name!r} ({exc}).") from exc
    _remember_user_code(obj, f"{flag} {spec!r}")
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise UsageError(f"{flag} {spec!r}: module {module_name!r} has no attribute {attr!r}.")
        obj = getattr(obj, part)
    return obj


def _demo_data(args: argparse.Namespace) -> tuple[np.ndarray, Any, str]:
    from .datasets import load_audio_folder, load_example_recordings, make_music

    fast = args.fast
    if args.data == "make_music":
        # 60 clips: enough that the intervals separate encoders (at 30, every task's intervals overlapped). Timbre
        # and tempo only: mode (major/minor in a random key) is at chance for every encoder here, at 30 and at 60
        # clips -- it takes a key-invariant pitch representation, which none of the demo's encoders is
        n = args.clips or (20 if fast else 60)
        sr = args.sr or BUILTIN_SR
        X, y = make_music(n, duration=args.duration or (1.5 if fast else 3.0), sr=sr, random_state=args.seed,
                          n_jobs=args.n_jobs)
        return X, y[["timbre", "tempo_class"]], sr, (f"{n} generated music clips (trustkit.datasets.make_music); tasks: "
                                                     "timbre (5 classes) and tempo (slow/fast)")
    if args.data == "examples":
        sr = args.sr or BUILTIN_SR
        X, y = load_example_recordings(duration=args.duration or 2.0, sr=sr, max_clips_per_recording=3 if fast else 8)
        return X, y[["kind"]], sr, f"{len(X)} clips of librosa's example recordings (music, speech, animals)"
    # a folder: its files' own rate and length unless --sr / --duration say otherwise (an error names disagreeing files)
    X, y = load_audio_folder(args.data, sr=args.sr, duration=args.duration)
    if y["label"].nunique() < 2:
        raise UsageError(f"--data {args.data!r}: put the files in at least two sub-folders (one per label).")
    sr = int(y.attrs["sr"])
    return X, y[["label"]], sr, (f"{len(X)} clips from {args.data} (labels from sub-folders), {sr} Hz, "
                                 f"{y.attrs['duration']:.4g} s each")


def run_demo(args: argparse.Namespace, stream: Any = None) -> int:
    """``trustkit demo``: the full trust report on built-in (or given) data."""
    import importlib.util

    from .encoders import MFCCEncoder, MusicnnEncoder, RandomProjectionEncoder
    from .trust import run_trust_report

    stream = stream or _stream(args)
    X, labels, sr, description = _demo_data(args)
    encoders: dict[str, Any] = {"mfcc": MFCCEncoder(sr=sr), "random_projection": RandomProjectionEncoder(sr=sr)}
    if importlib.util.find_spec("onnxruntime"):  # a dependency of trustkit; absent only in a broken install
        encoders["musicnn"] = MusicnnEncoder(sr=sr)
    report = run_trust_report(X, labels, sr=sr, encoders=encoders, fast=args.fast, random_state=args.seed,
                              n_jobs=args.n_jobs, description=description, verbose=_progress(args),
                              stream=sys.stderr)  # the step lines: the command says what it is doing
    out = Path(args.out)
    _write_all({out / "trust_report.json": report.to_json(), out / "trust_report.html": report.to_html()}, stream)
    print(report.summary(), file=stream)
    return 0


def _write_all(texts: dict[Path, str], stream: Any) -> None:
    """Write every output all or nothing (temporaries first, then every rename); say what was replaced."""
    from ._interrupt import check
    from .reports import write_texts_atomic

    check()  # an interrupt that Python reported as "ignored" still stops the run before anything is written
    for path, replaced in write_texts_atomic(texts):
        if path != "-":
            print(f"{'Replaced' if replaced else 'Wrote'} {path}", file=stream)


def _stream(args: argparse.Namespace) -> Any:
    """Where the summary goes: stdout, or stderr when an output is written to stdout (``--json -``)."""
    outputs = (getattr(args, "json", None), getattr(args, "html", None), getattr(args, "out", None))
    return sys.stderr if "-" in outputs else sys.stdout


def run_listen_command(args: argparse.Namespace) -> int:
    """``trustkit listen``: every perturbation of a few clips as WAV files, with a page to compare them."""
    from .perturbations.listen import run_listen

    run_listen(args.out, n_clips=args.clips, duration=args.duration, sr=args.sr, random_state=args.seed, fast=args.fast)
    return 0


def run_preflight(args: argparse.Namespace, stream: Any = None) -> int:
    """``trustkit preflight``: can this encoder be measured at all? Exit 0 when every check passes, 1 otherwise."""
    from .encoders.check import EncoderCheckError, check_encoder

    stream = stream or _stream(args)
    resolve_encoder_spec(args.encoder)
    sr = args.sr or BUILTIN_SR
    encoder = load_encoder(args.encoder, sr=sr)
    try:
        report = check_encoder(encoder, sr=sr, n_clips=args.clips, random_state=args.seed)
    except EncoderCheckError as exc:
        if exc.report is None:  # it failed on the first clips: nothing was measured
            raise UsageError(str(exc)) from exc
        print(exc.report.summary(), file=stream)
        print(f"trustkit: preflight failed: {exc}", file=sys.stderr)
        _write(exc.report, args, stream)
        return 1
    print(report.summary(), file=stream)
    _write(report, args, stream)
    return 0


def run_diff(args: argparse.Namespace, stream: Any = None) -> int:
    """``trustkit diff OLD NEW``: paired verdicts per headline and setting; exit 1 when a headline is worse."""
    from .reports.diff import compare_runs

    stream = stream or _stream(args)
    for path in (args.old, args.new):
        if not Path(path).is_file():
            raise UsageError(f"{path!r} is not a file; pass two report JSONs written with --json.")
    diff = compare_runs(args.old, args.new, margin=args.margin, confidence=args.confidence, random_state=args.seed)
    print(diff.summary(), file=stream)
    return _finish(diff, args, stream, limit=0, name=f"no headline {' or '.join(_FAILING[args.fail_on])} "
                   f"(--fail-on {args.fail_on}, --margin {args.margin:g})",
                   scope="undecided" if args.fail_on == "undecided" else "headline")


#: the headline verdicts that fail `trustkit diff`, by --fail-on
_FAILING = {"worse": ("worse",), "undecided": ("worse", "undecided")}


def run_versions(args: argparse.Namespace) -> int:
    """``trustkit versions``: Python, trustkit and dependency versions, for bug reports."""
    from . import show_versions

    show_versions()
    return 0


def run_report(args: argparse.Namespace, stream: Any = None) -> int:
    """``trustkit report``: render the HTML page from a saved JSON report."""
    import json

    from .trust import render_html

    src = Path(args.json)
    if not src.is_file():
        raise UsageError(f"{args.json!r} is not a file; pass the trust_report.json written by `trustkit demo`.")
    out = Path(args.out) if args.out else src.with_suffix(".html")
    _check_output(out, "--out", inputs=(src,))  # never over its own input
    try:
        data = json.loads(src.read_text())
    except json.JSONDecodeError as exc:
        raise UsageError(f"{args.json!r} is not valid JSON ({exc.msg} at line {exc.lineno}).") from exc
    except RecursionError as exc:
        raise UsageError(f"{args.json!r} is nested too deeply to be a trustkit report.") from exc
    except UnicodeDecodeError as exc:
        raise UsageError(f"{args.json!r} is not UTF-8 text ({exc.reason}).") from exc
    try:
        page = render_html(data)
    except ValueError as exc:
        raise UsageError(f"{args.json!r}: {exc}") from exc
    _write_all({out: page}, stream or _stream(args))
    return 0


def _version() -> str:
    from .reports import version

    return version()


#: one meaning of --audio in every subcommand
AUDIO_HELP = ("folder of audio files, searched recursively (default: built-in generated clips); a command that needs "
              "labels takes each file's sub-folder as its label")


def _rate_and_length_flags(parser: argparse.ArgumentParser, *, builtin_duration: float) -> None:
    """``--sr`` and ``--duration``: the files' own rate and length with --audio, else the built-in clips' defaults."""
    parser.add_argument("--sr", type=int, default=None,
                        help=f"sample rate in Hz (default: the files' own rate with --audio, which must then agree; "
                             f"{BUILTIN_SR} for built-in clips); files at another rate are resampled")
    parser.add_argument("--duration", type=float, default=None,
                        help=f"seconds per clip (default: the files' own length with --audio, which must then agree; "
                             f"{builtin_duration:g} for built-in clips); longer files are cut, shorter ones zero-padded")


def _parser() -> argparse.ArgumentParser:
    """The command line: one sub-command per job, the analysing ones sharing their flags (``parents=``)."""
    parser = argparse.ArgumentParser(
        prog="trustkit", description="How far can a music-audio model be trusted?",
        epilog="exit codes: 0 done or gate passed, 1 gate failed, 2 usage or input error, 3 internal error (a bug), "
               "130 interrupted.\nSecurity: --encoder/--model MODULE:OBJECT import and run that module's code, as "
               "`python -c 'import MODULE'` would; use only code you trust.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an internal error")
    parser.add_argument("--version", action="version", version=f"trustkit {_version()}",
                        help="print trustkit's version and exit")
    sub = parser.add_subparsers(dest="command", required=True)
    run_flags, out_flags, labelled = _shared_flags()
    _add_demo(sub)
    _add_report(sub)
    _add_listen(sub)
    _add_sensitivity(sub, [out_flags, run_flags])
    _add_transfer(sub, [labelled, out_flags, run_flags])
    _add_explain(sub, [labelled, out_flags, run_flags])
    _add_diff(sub, [out_flags])
    preflight = sub.add_parser(
        "preflight", parents=[out_flags], help="check that an encoder can be measured (deterministic, batch-invariant, "
        "tells clips apart, honours its rate, survives edge inputs)",
        epilog="example: trustkit preflight --encoder mypkg.models:encoder --sr 16000\nexit codes: 0 every check "
               "passed, 1 a check failed, 2 usage or input error")
    preflight.add_argument("--encoder", required=True, help=ENCODER_HELP)
    preflight.add_argument("--sr", type=int, default=None, help=f"the rate to check at (default: {BUILTIN_SR})")
    preflight.add_argument("--clips", type=int, default=8, help="distinct generated clips (default: 8)")
    preflight.add_argument("--seed", type=int, default=0, help="random seed of the generated clips (default: 0)")
    preflight.set_defaults(func=run_preflight)
    sub.add_parser("versions", help="print versions for bug reports").set_defaults(func=run_versions)
    return parser




def _shared_flags() -> tuple[argparse.ArgumentParser, argparse.ArgumentParser, argparse.ArgumentParser]:
    """The flags analysing sub-commands share, defined once: running, outputs, and labelled audio."""
    run_flags = argparse.ArgumentParser(add_help=False)
    run_flags.add_argument("--n-jobs", type=int, default=None,
                           help="parallel settings/folds (threads; -1: every core; default: one); the numbers do not depend on it")
    run_flags.add_argument("--seed", type=int, default=0,
                           help="random seed of every random choice (default: 0): the same seed gives the same report")
    run_flags.add_argument("--cache", default=None,
                           help="a folder that keeps perturbed audio and embeddings (each finished chunk of --audio): "
                                "a run stopped with Ctrl-C, or run again, resumes without redoing them. Pickles: "
                                "use only a folder you trust")
    run_flags.add_argument("--workers", type=int, default=None,
                           help="run the tasks in N local worker processes (joblib's loky) instead of threads")
    run_flags.add_argument("--scheduler", default=None,
                           help="run the tasks on an existing Dask cluster, e.g. tcp://scheduler:8786 (needs "
                                "trustkit[scale]; the workers must see the --audio files at the same paths)")
    run_flags.add_argument("--progress", choices=["auto", "on", "off"], default="auto",
                           help="progress bars on stderr: auto (default: when stderr is a terminal), on or off")
    out_flags = argparse.ArgumentParser(add_help=False)
    out_flags.add_argument("--json", help="write the report as JSON here")
    out_flags.add_argument("--html", help="write the report as HTML here")
    out_flags.add_argument("--junit", help="write JUnit XML here: one test case per headline and per gate, a failed "
                                           "gate a failing case with its figure (CI test views read it)")
    out_flags.add_argument("--markdown", help="write a Markdown summary here (on GitHub Actions it is also appended "
                                              "to the job summary, $GITHUB_STEP_SUMMARY)")
    labelled = argparse.ArgumentParser(add_help=False)
    labelled.add_argument("--audio", help=AUDIO_HELP)
    labelled.add_argument("--clips", type=int, default=40, help="number of built-in clips without --audio (default: 40)")
    labelled.add_argument("--label", default="timbre", choices=["timbre", "mode", "tempo_class"], help="label of the built-in clips")
    _rate_and_length_flags(labelled, builtin_duration=3)
    labelled.add_argument("--labels", help="with --audio: a CSV with columns file (path under --audio), label and "
                                           "optionally group, instead of one sub-folder per label")
    labelled.add_argument("--groups",
                          help="with --audio: items that belong together (speaker, recording, artist) stay on one side "
                               "of every fold: a regular expression whose first capture group in each file's path is "
                               "its group (e.g. '_([a-z]+)_' for 7_jackson_32.wav), or 'csv' for the --labels CSV's "
                               "group column (used by default when it has one)")
    return run_flags, out_flags, labelled


def _add_demo(sub: Any) -> None:
    demo = sub.add_parser(
        "demo",
        help="the full trust report (robustness, transferability, explanations) on built-in data",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  trustkit demo\n  trustkit demo --fast --out report/\n  trustkit demo --data examples\n  trustkit demo --data my_clips/",
    )
    demo.add_argument("--out", default="trustkit-demo", help="output folder (default: trustkit-demo)")
    demo.add_argument("--data", default="make_music", help="make_music (default), examples (librosa's recordings) or a folder with one sub-folder per label")
    demo.add_argument("--clips", type=int, default=None, help="number of generated clips")
    demo.add_argument("--duration", type=float, default=None, help="seconds per clip (default: 3 for generated clips, 2 for examples, a folder's own length, which its files must then share)")
    demo.add_argument("--sr", type=int, default=None,
                      help="sample rate in Hz (default: 22050 for built-in data; a folder's own rate, which its files "
                           "must then share)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    demo.add_argument("--n-jobs", type=int, default=-1,
                      help="parallel settings/folds (threads; default -1: every core); the numbers do not depend on it")
    demo.add_argument("--fast", action="store_true", help="small and quick (smoke tests, CI)")
    demo.add_argument("--progress", choices=["auto", "on", "off"], default="auto",
                      help="progress bars on stderr: auto (default: when stderr is a terminal), on or off")
    demo.set_defaults(func=run_demo)


def _add_report(sub: Any) -> None:
    report = sub.add_parser("report", help="render the HTML trust report from a saved JSON",
                            epilog="example: trustkit report trustkit-demo/trust_report.json --out report.html")
    report.add_argument("json", help="a report JSON written by trustkit (trustkit demo, or any --json)")
    report.add_argument("--out", help="HTML file (default: next to the JSON)")
    report.set_defaults(func=run_report)


def _add_listen(sub: Any) -> None:
    listen = sub.add_parser(
        "listen",
        help="perturb built-in music and write audio, spectrograms and an HTML page to listen to",
        epilog="example: trustkit listen --out perturbations",
    )
    listen.add_argument("--out", default="trustkit-listen", help="output folder (default: trustkit-listen)")
    listen.add_argument("--clips", type=int, default=3, help="number of clips (default: 3)")
    listen.add_argument("--duration", type=float, default=4.0, help="seconds per clip (default: 4)")
    listen.add_argument("--sr", type=int, default=22050, help="sample rate in Hz (default: 22050)")
    listen.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    listen.add_argument("--fast", action="store_true", help="2 clips of 1 s, for smoke tests")
    listen.set_defaults(func=run_listen_command)


def _add_sensitivity(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    sens = sub.add_parser(
        "sensitivity", parents=parents,
        help="how far do perturbations move clips away from their originals in an encoder's space",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(
            "examples:\n"
            "  trustkit sensitivity --encoder mfcc --clips 12\n"
            "  trustkit sensitivity --encoder mypkg.models:encoder --audio clips/ --sr 22050 \\\n"
            "      --baseline mfcc --fail-above 0.2 --json sensitivity.json\n"
            "exit codes: 0 pass (or no gate), 1 gate failed, 2 usage or input error, 3 internal error, 130 interrupted"
        ),
    )
    sens.add_argument("--encoder", required=True,
                      help=ENCODER_HELP)
    sens.add_argument("--baseline", help="encoder to compare with (same forms), e.g. mfcc")
    sens.add_argument("--audio", help=AUDIO_HELP)
    sens.add_argument("--clips", type=int, default=12, help="number of built-in clips without --audio (default: 12)")
    _rate_and_length_flags(sens, builtin_duration=5)
    sens.add_argument("--snr-reference", default="clip", choices=["clip", "active"],
                      help="where the noise settings measure the signal's power: the whole clip (the study's "
                           "definition, default) or its active part (clips with pauses or padding)")
    sens.add_argument("--offset", type=float, default=0.0, help="start of the excerpt in seconds (with --audio)")
    sens.add_argument("--chunk-size", type=int, default=None,
                      help="with --audio: files read, perturbed and embedded per task (default: at most 64, and at "
                           "least 16 equal chunks so that the workers share the work); only a chunk's "
                           "audio is in memory, and the numbers do not depend on it")
    sens.add_argument("--on-error", choices=["raise", "skip"], default="raise",
                      help="with --audio: a file that cannot be used (unreadable, empty): stop naming it (default) "
                           "or leave it out, listed in the report")
    sens.add_argument("--perturbations", default="imperceptible", choices=["imperceptible", "graver", "all"],
                      help="the robustness study's grid: imperceptible (default), graver, or all of both")
    sens.add_argument("--metric", default="cosine",
                      help="embedding distance (any scipy.spatial.distance.cdist metric; default: cosine)")
    sens.add_argument("--no-loudness-match", action="store_true", help="do not match loudness after each perturbation")
    sens.add_argument("--fail-above", type=float, help="gate: exit 1 when the sensitivity exceeds this")
    sens.add_argument("--per-setting", action="store_true", help="gate every setting, not the mean")
    sens.add_argument("--quality", choices=["mos", "signal"], default=None,
                      help="measure how audible every setting is on a few clips: mos = ViSQOL v3 MOS-LQO (needs "
                           "trustkit[quality]) and the signal measures; signal = SNR, segmental SNR and LSD alone")
    sens.add_argument("--quality-clips", type=int, default=8,
                      help="with --quality: clips measured, evenly spaced (default: 8; MOS-LQO costs ~0.1 s per "
                           "second of audio and setting)")
    sens.add_argument("--verbose", action="store_true", help="the same as --progress on")
    sens.set_defaults(func=run_sensitivity)


def _add_transfer(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    transfer = sub.add_parser(
        "transfer", help="probe how well an encoder's embeddings serve a labelled task", parents=parents,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  trustkit transfer --encoder mfcc\n  trustkit transfer --encoder mypkg.models:encoder --audio genres/ "
               "--fail-below 0.6 --json transfer.json\nexit codes: 0 pass (or no gate), 1 gate failed, 2 usage or input error, 3 internal error, 130 interrupted",
    )
    transfer.add_argument("--encoder", required=True,
                          help=ENCODER_HELP)
    transfer.add_argument("--probe", default="logistic", choices=["logistic", "ridge", "svm", "knn", "mlp"],
                          help="the probe trained on the frozen embeddings, tuned by an inner CV (default: logistic)")
    transfer.add_argument("--cv", type=int, default=5, help="outer cross-validation folds (default: 5)")
    transfer.add_argument("--fail-below", type=float, help="gate: exit 1 when the main metric is below this")
    transfer.add_argument("--perturbations", choices=["imperceptible", "graver", "all"], default=None,
                          help="task-level robustness: also score each fold's clean-trained probe on its test clips "
                               "perturbed, setting by setting of the study's grid (the score and its paired drop)")
    transfer.add_argument("--no-loudness-match", action="store_true",
                          help="with --perturbations: do not match each perturbed clip's loudness to its original's")
    transfer.add_argument("--per-setting", action="store_true",
                          help="with --perturbations and --fail-below: gate the score under every setting, not the "
                               "clean score")
    transfer.set_defaults(func=run_transfer)


def _add_diff(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    diff = sub.add_parser(
        "diff", parents=parents, formatter_class=argparse.RawDescriptionHelpFormatter,
        help="compare two runs clip by clip: is the new model worse than the old one? (paired tests, Holm, margin)",
        epilog="example: trustkit diff released.json candidate.json --margin 0.02 --junit diff.xml\n"
               "exit codes: 0 no headline worse, 1 a headline worse beyond the margin (or, with --fail-on undecided, "
               "not shown equivalent), 2 the runs are not comparable (other clips, settings, seeds or folds) or a "
               "usage error\ndecision rule: docs/ci.md")
    diff.add_argument("old", help="the JSON of the run to compare against (e.g. the released model's, from --json)")
    diff.add_argument("new", help="the JSON of the new run (same clips, settings and seed)")
    diff.add_argument("--margin", type=float, default=0.02,
                      help="the smallest change that matters, on the headline's scale (default: 0.02, two points of a "
                           "sensitivity or an accuracy)")
    diff.add_argument("--confidence", type=float, default=0.95,
                      help="1 - alpha of the tests (default: 0.95); intervals are at 1 - 2 alpha (TOST)")
    diff.add_argument("--fail-on", choices=["worse", "undecided"], default="worse",
                      help="worse (default): exit 1 when a headline is worse beyond the margin; undecided: also when a "
                           "headline is not shown equivalent (strict)")
    diff.add_argument("--seed", type=int, default=0, help="random seed of the paired bootstrap (default: 0)")
    diff.set_defaults(func=run_diff)


def _add_explain(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    explain = sub.add_parser(
        "explain", help="explain an audio classifier with LIME or SHAP over time segments and score the explanations",
        parents=parents,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  trustkit explain --explainer shap\n  trustkit explain --model mypkg.models:classifier --audio clips/ "
               "--fail-below 0.1\nwithout --model, a logistic regression on MFCC statistics is trained on the labels.\n"
               "exit codes: 0 pass (or no gate), 1 gate failed, 2 usage or input error, 3 internal error, 130 interrupted",
    )
    explain.add_argument("--model", help="MODULE:OBJECT, a fitted classifier of raw audio (imports and runs that module's "
                                         "code; default: MFCC + logistic regression)")
    explain.add_argument("--explainer", default="shap", choices=["lime", "shap"],
                         help="LIME or Kernel SHAP over the time segments (default: shap)")
    explain.add_argument("--segments", type=int, default=8, help="time segments per clip (default: 8)")
    explain.add_argument("--instances", type=int, default=8, help="clips to explain (default: 8)")
    explain.add_argument("--fail-below", type=float, help="gate: exit 1 when the explanations' fidelity (1 = ranks coalitions as the model does, 0 = no information about which units matter, -1 = reversed) is below this")
    explain.set_defaults(func=run_explain)


def _check_gates(args: argparse.Namespace) -> None:
    """Every threshold is checked before any work, by the report class the command will gate (its own range)."""
    from .reports.gate import check_limit

    for flag in ("fail_above", "fail_below"):
        if getattr(args, flag, None) is not None:
            check_limit(_gated_report(args.command), getattr(args, flag), name="--" + flag.replace("_", "-"))
    _check_numbers(args)


def _gated_report(command: str) -> type:
    """The report class a command's gate reads."""
    from .fidelity import FidelityComplexityReport
    from .robustness import SensitivityReport
    from .transferability import TransferReport

    return {"sensitivity": SensitivityReport, "transfer": TransferReport, "explain": FidelityComplexityReport}[command]


#: the legal range of every numeric flag (checked before any work or allocation)
NUMBER_FLAGS = {"clips": (1, 1_000_000), "quality_clips": (1, 100_000), "instances": (1, 1_000_000), "segments": (1, 4096), "cv": (2, 1000),
                "seed": (0, 2**32 - 1), "sr": (1, 768_000), "n_jobs": (-64, 1024)}
#: the most audio a command may hold in memory, as a share of the machine's memory
MEMORY_SHARE = 0.5


def _check_numbers(args: argparse.Namespace) -> None:
    """Each numeric flag in its range, and the audio it asks for within memory: named, before anything is allocated."""
    import math

    for name, (low, high) in NUMBER_FLAGS.items():
        value = getattr(args, name, None)
        if value is not None and (not low <= value <= high or (name == "n_jobs" and value == 0)):
            flag = "--" + name.replace("_", "-")
            extra = " other than 0 (-1: every core)" if name == "n_jobs" else ""
            raise UsageError(f"{flag} must be an integer in [{low}, {high}]{extra}; got {value}.")
    for name in ("duration", "offset"):
        value = getattr(args, name, None)
        if value is not None and not (math.isfinite(value) and (value > 0 if name == "duration" else value >= 0)):
            raise UsageError(f"--{name} must be a finite number of seconds {'> 0' if name == 'duration' else '>= 0'}; "
                             f"got {value}.")
    clips, duration = getattr(args, "clips", None), getattr(args, "duration", None)
    if clips and duration and not getattr(args, "audio", None):
        need = clips * duration * (args.sr or BUILTIN_SR) * 4  # float32 samples of the generated clips
        have = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") if hasattr(os, "sysconf") else float("inf")
        if need > MEMORY_SHARE * have:
            raise UsageError(f"--clips {clips} x --duration {duration:g} s at {args.sr or BUILTIN_SR} Hz is "
                             f"{need / 2**30:.3g} GiB of audio, more than half of this machine's memory "
                             f"({have / 2**30:.3g} GiB); ask for fewer or shorter clips.")


def _check_output(path: str | Path | None, flag: str, *, inputs: tuple[Path, ...] = ()) -> None:
    """Refuse an output path that cannot be written, before any work."""
    if path is None:
        return
    from .reports import is_stream_target

    p = Path(path)
    if p.is_dir():
        raise UsageError(f"{flag} {str(p)!r} is a folder; pass a file name.")
    clash = next((i for i in inputs if p.resolve() == i.resolve()), None)
    if clash is not None:
        raise UsageError(f"{flag} {str(p)!r} is an input of this run ({str(clash)!r}) and would be overwritten; "
                         "pass another file name.")
    if is_stream_target(p):  # a FIFO, a device, /dev/stdout: written as a stream, never replaced
        return
    parent = p.parent if str(p.parent) else Path(".")
    existing = next((q for q in (parent, *parent.parents) if q.exists()), Path("."))
    if not existing.is_dir():
        raise UsageError(f"{flag} {str(p)!r}: {str(existing)!r} is a file, not a folder.")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"{flag} {str(p)!r}: cannot write in {str(existing)!r} (permission denied).")


def _check_outputs(args: argparse.Namespace) -> None:
    if args.command == "demo":
        out = Path(args.out)
        if out.exists() and not out.is_dir():
            raise UsageError(f"--out {args.out!r} is a file; pass a folder for the trust report.")
        for name in ("trust_report.json", "trust_report.html"):
            _check_output(out / name, "--out")
    elif args.command == "report":
        return  # run_report checks its --out against its input before reading anything
    elif args.command == "listen":
        out = Path(args.out)
        if out.exists() and not out.is_dir():
            raise UsageError(f"--out {args.out!r} is a file; pass a folder.")
        _check_output(out / "index.html", "--out")
    else:
        outputs = [(f"--{flag}", getattr(args, flag)) for flag in ("json", "html", "junit", "markdown")
                   if getattr(args, flag, None)]
        for flag, path in outputs:
            if path != "-":
                _check_output(path, flag, inputs=_input_files(args))
        _check_distinct(outputs)


def _check_distinct(outputs: list[tuple[str, str]]) -> None:
    """Two outputs naming one file (also by another spelling, or stdout twice) would overwrite each other."""
    seen: dict[str, str] = {}
    for flag, path in outputs:
        key = "-" if path == "-" else os.path.realpath(path)
        if key in seen:
            raise UsageError(f"{seen[key]} and {flag} name the same {'stream' if key == '-' else 'file'} "
                             f"({path!r}): one output would replace the other; give each its own file.")
        seen[key] = flag


def _input_files(args: argparse.Namespace) -> tuple[Path, ...]:
    """The files a command reads (--audio's audio files, --labels): an output must never replace one of them."""
    from .datasets import AUDIO_EXTENSIONS

    found: list[Path] = []
    audio = getattr(args, "audio", None)
    if audio and Path(audio).is_dir():
        found += [p for p in Path(audio).rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS]
    if getattr(args, "labels", None):
        found.append(Path(args.labels))
    found += [Path(getattr(args, side)) for side in ("old", "new") if getattr(args, side, None)]  # trustkit diff's inputs
    return tuple(found)


#: exit codes: 0 pass, 1 gate failed, 2 usage or input error, 3 internal error (a bug), 130 interrupted
EXIT_USAGE, EXIT_INTERNAL, EXIT_INTERRUPTED = 2, 3, 130
PACKAGE = Path(__file__).resolve().parent


def _raised_by_trustkit(exc: BaseException) -> bool:
    """Whether the innermost frame of the traceback is trustkit's own code (a deliberate input error)."""
    tb, last = exc.__traceback__, None
    while tb is not None:
        last, tb = tb, tb.tb_next
    return last is not None and Path(last.tb_frame.f_code.co_filename).resolve().is_relative_to(PACKAGE)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``trustkit`` command; returns the exit code.

    0: done (gate passed, or no gate); 1: a gate failed; 2: a usage or input
    error (one line naming the problem); 3: an unexpected error inside trustkit
    or a dependency (a bug: a short report, the traceback with ``--debug``);
    130: interrupted (Ctrl-C), with nothing half-written.
    """
    from ._interrupt import handle_interrupts

    args = _parser().parse_args(argv)
    with handle_interrupts():
        return _main(args)


def _main(args: argparse.Namespace) -> int:
    try:
        _check_gates(args)
        _check_outputs(args)
        with _engine(args):
            return args.func(args) or 0  # each subcommand's parser set its function
    except KeyboardInterrupt:
        return _interrupted()
    except (UsageError, ImportError) as exc:
        print(f"trustkit: error: {_name_clips(str(exc), args)}", file=sys.stderr)
        return EXIT_USAGE
    except (InvalidAudioError, ValueError, TypeError, OSError) as exc:
        if _was_interrupted(exc):
            return _interrupted()
        # a file system's refusal (a full disk, a read-only folder) is the environment's, not a bug
        environment = isinstance(exc, OSError) and exc.errno is not None
        if _raised_by_trustkit(exc) or environment or isinstance(exc, (InvalidAudioError, FileNotFoundError, PermissionError)):
            print(f"trustkit: error: {_name_clips(str(exc), args)}", file=sys.stderr)
            return EXIT_USAGE
        return _users_failure(exc) or _internal_error(exc, args)
    except Exception as exc:
        if _was_interrupted(exc):
            return _interrupted()
        return _users_failure(exc) or _internal_error(exc, args)
    return 0


@contextlib.contextmanager
def _engine(args: argparse.Namespace) -> Iterator[None]:
    """Where the meters' tasks run: threads (default), ``--workers N`` local processes, or ``--scheduler`` Dask."""
    import joblib

    workers, scheduler = getattr(args, "workers", None), getattr(args, "scheduler", None)
    if workers is not None and scheduler:
        raise UsageError("--workers starts a local pool and --scheduler uses an existing cluster: pass one of them.")
    if workers is not None:
        if workers < 1:
            raise UsageError(f"--workers must be a positive number of processes; got {workers}.")
        with joblib.parallel_config(backend="loky", n_jobs=workers):
            yield
        return
    if not scheduler:
        yield
        return
    try:
        from dask.distributed import Client
    except ImportError as exc:
        raise UsageError("--scheduler runs on a Dask cluster and needs dask.distributed: "
                         "pip install 'trustkit[scale]'.") from exc
    try:
        client = Client(scheduler, timeout="15s")
    except (OSError, TimeoutError) as exc:
        raise UsageError(f"--scheduler {scheduler!r}: no Dask scheduler answered ({exc}).") from exc
    try:
        with joblib.parallel_backend("dask"):
            yield
    finally:
        client.close()


def _users_failure(exc: BaseException) -> int | None:
    """Exit 2, naming the flag, when ``exc`` was raised inside the user's own code (their model failed, not trustkit)."""
    blamed = _user_code_in(exc)
    if blamed is None:
        return None
    print(f"trustkit: error: {blamed} failed inside its own code: {type(exc).__name__}: {exc}", file=sys.stderr)
    return EXIT_USAGE


def _name_clips(message: str, args: argparse.Namespace) -> str:
    """``clip 3`` in an error becomes ``clip 3 (file 'a/3.wav')`` when the clips came from --audio's files."""
    import re

    files = getattr(args, "files_read", None)
    if not files:
        return message

    def named(m: re.Match[str]) -> str:
        i = int(m.group(2))
        return f"{m.group(0)} (file {files[i]!r})" if 0 <= i < len(files) else m.group(0)

    return re.sub(r"\b(clip|clips|original) (\d+)\b", named, message)


#: files of the user's code that the command imported (--encoder/--model MODULE:OBJECT, hear:MODULE) -> the flag
_USER_CODE: dict[str, str] = {}


def _remember_user_code(module: Any, flag: str) -> None:
    path = getattr(module, "__file__", None)
    if path and not Path(path).resolve().is_relative_to(PACKAGE):  # a built-in encoder is trustkit's own code
        _USER_CODE[str(Path(path).resolve())] = flag


def _user_code_in(exc: BaseException) -> str | None:
    """The flag whose code raised ``exc`` (its traceback passes through a file that flag imported), or None."""
    tb = exc.__traceback__
    while tb is not None:
        flag = _USER_CODE.get(str(Path(tb.tb_frame.f_code.co_filename).resolve()))
        if flag is not None:
            return flag
        tb = tb.tb_next
    return None


def _was_interrupted(exc: BaseException) -> bool:
    """An error raised while unwinding from Ctrl-C (e.g. cleaning up a cache a worker still writes) is the interrupt."""
    from ._interrupt import interrupted

    context = exc.__context__
    while context is not None:
        if isinstance(context, KeyboardInterrupt):
            return True
        context = context.__context__
    return interrupted()


def _interrupted() -> int:
    print("trustkit: interrupted; nothing was written.", file=sys.stderr)
    return EXIT_INTERRUPTED


def _internal_error(exc: BaseException, args: argparse.Namespace) -> int:
    import traceback

    print(f"trustkit: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
    if getattr(args, "debug", False):
        traceback.print_exception(exc, file=sys.stderr)
    else:
        print("This looks like a bug in trustkit (or a case it should have refused with a clear message). "
              "Please report it with the command, the output of `trustkit versions`, and the traceback "
              "(`trustkit --debug ...`).", file=sys.stderr)
    return EXIT_INTERNAL


def entry() -> None:  # pragma: no cover - the console script; exercised by the subprocess tests
    """The ``trustkit`` console script: exit with :func:`main`'s code.

    After an interrupt the process ends at once (``os._exit``) once output is
    flushed: worker threads running native code (torch, BLAS) are not torn
    down by the interpreter's shutdown, which could abort the process.
    """
    code = main()
    if code == EXIT_INTERRUPTED:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    entry()
