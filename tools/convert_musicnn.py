"""Rebuild trustkit's musicnn ONNX files (and the test reference) from the musicnn wheel.

trustkit runs the four pre-trained musicnn auto-taggers (Pons & Serra, 2019;
ISC licence) with onnxruntime alone. This script is how the shipped files were
made; it is the only place that needs TensorFlow, and TensorFlow is in no extra
of trustkit and never in CI. Versions used (Python 3.11)::

    python3.11 -m venv /tmp/tfvenv
    /tmp/tfvenv/bin/pip install tensorflow-cpu==2.21.0 tf-keras==2.21.0 tf2onnx==1.17.0 \
        onnx==1.23.2 onnxruntime==1.32.0 librosa==0.11.0
    /tmp/tfvenv/bin/pip install --no-deps musicnn==0.1.0   # a plain install pins numpy<1.17
    /tmp/tfvenv/bin/pip install -e .                       # trustkit's front-end makes the fixture
    TF_USE_LEGACY_KERAS=1 /tmp/tfvenv/bin/python tools/convert_musicnn.py models
    TF_USE_LEGACY_KERAS=1 /tmp/tfvenv/bin/python tools/convert_musicnn.py reference

``models`` writes ``trustkit/encoders/_musicnn/{MSD,MTT}_{musicnn,vgg}.onnx``
(opset 17) and ``tags.json``. The graph is musicnn's own ``models.define_model``
built with ``is_training=False`` (a Python constant, so batch normalisation uses
its stored statistics and dropout is the identity) and frozen with the
checkpoint's weights. Every layer is reduced to one vector per 3-s patch inside
the graph, so that a per-patch output is a plain (n_patches, dim) matrix:

- musicnn models (input: log-mel patches of any length, ``(batch, frames, 96)``):
  ``timbral`` (408), ``temporal`` (153), ``cnn1``, ``cnn2``, ``cnn3`` (64 each):
  the front- and mid-end feature maps averaged over the patch's frames;
  ``max_pool`` and ``mean_pool`` (753 each, the back-end's temporal poolings),
  ``penultimate`` (200, the dense layer after batch normalisation), ``taggram``
  (50 sigmoid tag probabilities).
- vgg models (input: exactly 187 frames): ``pool1`` to ``pool4`` (128 each:
  the feature maps averaged over time and frequency), ``pool5`` (256, the last
  pooled map flattened, as the classifier reads it), ``taggram`` (50).

``reference`` computes the test fixture ``tests/data/musicnn_reference.npz``:
the outputs of TensorFlow itself, patch by patch, for the fixture clips stored
in the same file, with the front-end trustkit uses (float32 log: musicnn 0.1.0
takes the log in float16, which overflows to inf for mel power above ~6.55).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "trustkit" / "encoders" / "_musicnn"
FIXTURE = ROOT / "tests" / "data" / "musicnn_reference.npz"
MODELS = ("MSD_musicnn", "MTT_musicnn", "MSD_vgg", "MTT_vgg")
N_FRAMES = 187
N_MELS = 96
SR = 16000


def _tf():
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # plain float32 kernels for the reference
    import tensorflow as tf

    tf.compat.v1.disable_eager_execution()
    return tf


def build(model: str):
    """Build musicnn's graph for ``model`` in inference mode; return (graph, input, outputs, checkpoint)."""
    tf = _tf()
    import musicnn
    from musicnn import configuration, models

    labels = configuration.MTT_LABELS if model.startswith("MTT") else configuration.MSD_LABELS
    graph = tf.Graph()
    with graph.as_default():
        with tf.name_scope("model"):
            frames = N_FRAMES if "vgg" in model else None
            x = tf.compat.v1.placeholder(tf.float32, [None, frames, N_MELS], name="logmel")
            out = models.define_model(x, False, model, len(labels))
        outputs = {}
        if "vgg" in model:
            logits, *pools = out
            for i, pool in enumerate(pools[:4], start=1):
                outputs[f"pool{i}"] = tf.reduce_mean(pool, axis=[1, 2])
            outputs["pool5"] = tf.compat.v1.layers.flatten(pools[4])
        else:
            logits, timbral, temporal, cnn1, cnn2, cnn3, mean_pool, max_pool, penultimate = out
            for name, t in (("timbral", timbral), ("temporal", temporal), ("cnn1", cnn1), ("cnn2", cnn2), ("cnn3", cnn3)):
                t = tf.reshape(t, [tf.shape(t)[0], tf.shape(t)[1], int(np.prod(t.shape[2:]))])
                outputs[name] = tf.reduce_mean(t, axis=1)
            outputs["max_pool"] = tf.reshape(max_pool, [-1, 753])
            outputs["mean_pool"] = tf.reshape(mean_pool, [-1, 753])
            outputs["penultimate"] = penultimate
        outputs["taggram"] = tf.nn.sigmoid(logits)
        outputs = {k: tf.identity(v, name=f"out_{k}") for k, v in outputs.items()}
    checkpoint = os.path.join(os.path.dirname(musicnn.__file__), model) + "/"
    return graph, x, outputs, checkpoint, labels


def session(model: str):
    tf = _tf()
    graph, x, outputs, checkpoint, labels = build(model)
    with graph.as_default():
        sess = tf.compat.v1.Session(graph=graph)
        sess.run(tf.compat.v1.global_variables_initializer())
        tf.compat.v1.train.Saver().restore(sess, checkpoint)
    return sess, x, outputs, labels


def convert(model: str) -> Path:
    tf = _tf()
    import tf2onnx

    sess, x, outputs, _ = session(model)
    names = [t.op.name for t in outputs.values()]
    frozen = tf.compat.v1.graph_util.convert_variables_to_constants(sess, sess.graph.as_graph_def(), names)
    proto, _ = tf2onnx.convert.from_graph_def(
        frozen,
        input_names=[x.name],
        output_names=[t.name for t in outputs.values()],
        opset=17,
    )
    # plain names for inputs and outputs: "logmel" and the layer names
    rename = {x.name: "logmel", **{t.name: k for k, t in outputs.items()}}
    for node in proto.graph.node:
        node.input[:] = [rename.get(i, i) for i in node.input]
        node.output[:] = [rename.get(o, o) for o in node.output]
    for value in [*proto.graph.input, *proto.graph.output]:
        value.name = rename.get(value.name, value.name)
    proto.doc_string = (
        f"musicnn 0.1.0 {model} (ISC licence, Music Technology Group, Universitat Pompeu Fabra), "
        "converted by trustkit tools/convert_musicnn.py with tf2onnx 1.17.0, opset 17"
    )
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{model}.onnx"
    path.write_bytes(proto.SerializeToString())
    sess.close()
    return path


def logmel(y: np.ndarray) -> np.ndarray:
    """trustkit's musicnn front-end itself (float32 log): the fixture is made with the code it tests against."""
    from trustkit.encoders.musicnn import musicnn_logmel

    return musicnn_logmel(y)


def patches(rep: np.ndarray) -> np.ndarray:
    """trustkit's patch cutting itself (see its docstring)."""
    from trustkit.encoders.musicnn import musicnn_patches

    return musicnn_patches(rep)


def fixture_clips() -> dict[str, np.ndarray]:
    """The fixture's audio: int16 at 16 kHz, stored in the fixture itself."""
    t = np.arange(int(7.2 * SR)) / SR
    rng = np.random.default_rng(20261130)
    # a melody of harmonic notes with decaying envelopes, and a little noise
    melody = np.zeros_like(t)
    for k, f0 in enumerate([220.0, 330.0, 262.0, 392.0, 294.0, 440.0, 196.0, 349.0, 247.0, 523.0, 175.0, 311.0]):
        start = k * 0.6
        env = np.where(t >= start, np.exp(-(t - start) * 3.0), 0.0)
        for h in range(1, 6):
            melody += env * np.sin(2 * np.pi * f0 * h * t) / h
    melody = 0.2 * melody / np.abs(melody).max() + 0.01 * rng.standard_normal(len(t))
    # musicnn 0.1.0's float16 front-end gives inf (and NaN embeddings) on this one
    loud = 0.9 * np.sin(2 * np.pi * 440.0 * t[: 4 * SR])
    short = melody[: int(1.5 * SR)]
    return {name: np.round(np.clip(y, -1, 1) * 32767).astype(np.int16) for name, y in
            (("melody", melody), ("loud_sine", loud), ("short", short))}


def reference() -> Path:
    clips = fixture_clips()
    arrays = {f"audio/{k}": v for k, v in clips.items()}
    for model in MODELS:
        sess, x, outputs, _ = session(model)
        for clip, pcm in clips.items():
            batch = patches(logmel(pcm.astype(np.float32) / 32768))
            # one patch per run: the reference must not depend on batching
            rows = [sess.run(outputs, {x: batch[i : i + 1]}) for i in range(len(batch))]
            for layer in outputs:
                arrays[f"{model}/{clip}/{layer}"] = np.vstack([r[layer] for r in rows]).astype(np.float32)
        sess.close()
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(FIXTURE, **arrays)
    return FIXTURE


def main(argv: list[str]) -> None:
    what = argv[1] if len(argv) > 1 else "models"
    if what == "models":
        from musicnn import configuration

        for model in MODELS:
            print("wrote", convert(model))
        tags = {"MSD": list(configuration.MSD_LABELS), "MTT": list(configuration.MTT_LABELS)}
        (OUT / "tags.json").write_text(json.dumps(tags, indent=1) + "\n")
    elif what == "reference":
        print("wrote", reference())
    else:
        raise SystemExit(f"usage: {argv[0]} [models|reference]")


if __name__ == "__main__":
    main(sys.argv)
