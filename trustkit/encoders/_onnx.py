"""One place that opens ONNX models for the encoders: onnxruntime, one thread, cached per process."""

from __future__ import annotations

import functools
from typing import Any

__all__ = ["onnx_session"]


@functools.lru_cache(maxsize=16)
def onnx_session(path: str, extra_outputs: tuple[str, ...] = (), *, owner: str, install: str) -> Any:
    """An ``onnxruntime.InferenceSession`` of the model at ``path``, made once per process.

    Parameters
    ----------
    path : str
        The ``.onnx`` file.
    extra_outputs : tuple of str
        Inner tensors to expose as extra graph outputs (needs the ``onnx``
        package to edit the graph).
    owner, install : str
        Who asks, and how to install what is missing (for the error message).

    Notes
    -----
    One intra-op and one inter-op thread: results do not depend on the
    machine's core count, and the parallelism lives in the meters (joblib).
    """
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise ImportError(f"{owner} needs onnxruntime, which is not installed: {install}") from exc
    source: Any = path
    if extra_outputs:
        try:
            import onnx
        except ImportError as exc:
            raise ImportError(f"{owner} needs the onnx package to expose inner layers: {install}") from exc
        model = onnx.load(path)
        known = {o for node in model.graph.node for o in node.output}
        for name in extra_outputs:
            if name not in known:
                raise ValueError(f"layer {name!r} is not a tensor of the {owner} graph ({path}).")
            model.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
        source = model.SerializeToString()
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
