"""ONNX export: a model or a whole detector as one ``.onnx`` file with a dynamic batch axis.

Parts:

- ``"full"``: x -> reconstruction (what ``hg.reconstruct`` returns).
- ``"encoder"``: x -> code (a VAE's mean code, as ``hg.encode``).
- ``"decoder"``: code -> output (as ``hg.decode``).
- ``"scorer"`` (a detector): raw x -> reconstruction, per-sample score and is_anomaly, with the
  detector's fitted scaler, ``input_transform``, error and threshold inside the graph, so the file
  alone scores new data as ``Detector.score_samples`` / ``predict`` do. The reconstruction is in
  the units of the input (the scaler undone); an ensemble's is the mean of its members'.

A conditional model (``cvae``) takes its class labels as a second input, ``labels`` (int64).
The graph is traced with PyTorch's exporter (``torch.onnx.export(dynamo=True)``) and written
atomically; the file's metadata (``metadata_props``) names the model, its config, the part,
and for a scorer the score and threshold.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import logging
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from hourglass.atomic import write_bytes_atomic
from hourglass.detection.detector import model_and_detector
from hourglass.errors import InvalidInputError, MissingDependencyError
from hourglass.models.base import Autoencoder
from hourglass.validation import as_float_array
from hourglass.version import __version__

PARTS = ("full", "encoder", "decoder", "scorer")
# Rows of the example batch the graph is traced with: not 0 or 1, which torch.export would
# treat as fixed sizes instead of a dynamic batch axis.
TRACE_ROWS = 2


def _require(module: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependencyError(
            f"ONNX export needs the {module!r} package: "
            "pip install 'hourglass-ae[onnx]' (onnx, onnxscript, onnxruntime)"
        ) from None


class _Full(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x, labels=None):
        return self.model(x) if labels is None else self.model(x, labels)


class _Encoder(_Full):
    def forward(self, x, labels=None):
        return self.model.encode(x) if labels is None else self.model.encode(x, labels)


class _Decoder(_Full):
    def forward(self, z, labels=None):
        return self.model.decode(z) if labels is None else self.model.decode(z, labels)


class _ExportScorer(nn.Module):
    """A detector's scorer (the one scoring path, :mod:`hourglass.detection.scorer`) plus its
    threshold: raw x -> (reconstruction, score, is_anomaly)."""

    def __init__(self, scorer: nn.Module, threshold: float):
        super().__init__()
        self.scorer = scorer
        self.threshold = float(threshold)

    def forward(self, x):
        x_hat, score = self.scorer(x)
        return x_hat, score, (score > self.threshold).to(torch.int64)


@contextlib.contextmanager
def _quiet_exporter():
    """Silence the exporter's progress lines, warnings and log records (such as 'torchvision is
    not installed'): they say nothing about the user's model."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def _example(model: Autoencoder, part: str, example, rows: int = TRACE_ROWS):
    if example is not None:
        arr = as_float_array(example, "example")
        if len(arr) < rows:
            arr = np.concatenate([arr] * rows)
        return torch.from_numpy(np.ascontiguousarray(arr[:rows]))
    gen = torch.Generator().manual_seed(0)
    if part == "decoder":
        return torch.randn((rows, *model.latent_shape), generator=gen)
    return torch.rand((rows, *model.input_shape), generator=gen)


def export_onnx(model_or_detector, path, part: str = "full", *, example=None, opset: int | None = None) -> Path:
    """Write a model or detector to ``path`` as an ONNX graph with a dynamic batch axis.

    Parameters
    ----------
    model_or_detector : Autoencoder, Detector, DetectorEnsemble or a fitted AutoencoderDetector
    path : str or Path
        The ``.onnx`` file to write (atomically: an interrupted export leaves no partial file).
    part : {"full", "encoder", "decoder", "scorer"}
        What the graph computes (see the module's docstring). ``"scorer"`` needs a fitted detector.
    example : array, optional
        A few real inputs to trace with (codes for ``"decoder"``); random ones otherwise. The
        graph is the same either way; real data only makes an exporter's warning more telling.
    opset : int, optional
        ONNX opset version (the exporter's default otherwise).

    Returns
    -------
    Path of the written file. Inputs are named ``x`` (``z`` for the decoder; plus ``labels`` for a
    conditional model); outputs ``reconstruction``, ``code``, ``output``, or for the scorer
    ``reconstruction``, ``score`` and ``is_anomaly``.

    Examples
    --------
    >>> import hourglass as hg, onnxruntime, tempfile, os
    >>> model = hg.create_model("stacked", input_shape=(140,), seed=0)
    >>> path = hg.export_onnx(model, os.path.join(tempfile.mkdtemp(), "ecg.onnx"))
    >>> session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    >>> x = hg.datasets.load("ecg5000").x_test[:5]
    >>> bool(abs(session.run(None, {"x": x})[0] - hg.reconstruct(model, x)).max() < 1e-5)
    True
    """
    if part not in PARTS:
        raise InvalidInputError(f"part must be one of {PARTS}, got {part!r}")
    model, det = model_and_detector(model_or_detector, "export_onnx")
    if part == "scorer" and det is None:
        raise InvalidInputError(
            "part='scorer' needs a fitted detector (hg.Detector(model).fit(x_normal)): a bare "
            "model has no score or threshold"
        )
    onnx = _require("onnx")
    _require("onnxscript")
    # Trace a CPU copy in eval mode: the caller's model keeps its device, mode and weights.
    source = det if part == "scorer" else model
    source = copy.deepcopy(source)
    src_model = source.model if part == "scorer" else source
    src_model.to("cpu").eval()
    if part == "scorer":
        for member in getattr(source, "detectors", [source]):
            member.model.to("cpu").eval()
        # all k draws decoded at once (rows=None): the traced graph's batch size is not fixed
        module = _ExportScorer(source.scorer(device=torch.device("cpu"), rows=None), source.threshold_)
    else:
        module = {"full": _Full, "encoder": _Encoder, "decoder": _Decoder}[part](src_model)
    module.eval()

    x = _example(src_model, part, example)
    if tuple(x.shape[1:]) != (tuple(src_model.latent_shape) if part == "decoder" else tuple(src_model.input_shape)):
        raise InvalidInputError(
            f"example has samples of shape {tuple(x.shape[1:])}; the {part} takes "
            f"{tuple(src_model.latent_shape if part == 'decoder' else src_model.input_shape)}"
        )
    batch = torch.export.Dim("batch")
    args, names, dynamic = (x,), ["z" if part == "decoder" else "x"], [{0: batch}]
    if model.conditional:
        if part == "scorer":
            raise InvalidInputError("a conditional model cannot be a detector's model")
        args += (torch.arange(len(x), dtype=torch.int64) % model.config.n_classes,)
        names.append("labels")
        dynamic.append({0: batch})
    outputs = {
        "full": ["reconstruction"],
        "encoder": ["code"],
        "decoder": ["output"],
        "scorer": ["reconstruction", "score", "is_anomaly"],
    }[part]

    with _quiet_exporter(), torch.no_grad():
        try:
            program = torch.onnx.export(
                module,
                args,
                None,
                input_names=names,
                output_names=outputs,
                dynamic_shapes=tuple(dynamic),
                opset_version=opset,
                dynamo=True,
                verbose=False,
            )
        except Exception as exc:  # the exporter raises many types; say which model and part failed
            raise InvalidInputError(
                f"could not export the {model.name!r} model's {part} to ONNX: {type(exc).__name__}: {str(exc)[:500]}"
            ) from exc
    proto = program.model_proto
    meta = {
        "hourglass_model": model.name,
        "hourglass_config": json.dumps(model.config.to_dict()),
        "hourglass_part": part,
    }
    if part == "scorer":
        meta.update(hourglass_score=str(det.score), hourglass_threshold=repr(float(det.threshold_)))
    meta["hourglass_version"] = __version__
    onnx.helper.set_model_props(proto, meta)

    return write_bytes_atomic(path, proto.SerializeToString())
