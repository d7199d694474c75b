"""Targets: scikit-learn estimators, PyTorch modules and ONNX models behind one face.

Model files are loaded only through :func:`load_target`: the bytes are read once
(size-limited), scanned by the integrity room's scanner (only a ``safe`` verdict loads),
bound to the model-signing digest ``integrity.scan`` names, and loaded from those same
bytes. A scikit-learn pickle is then unpickled by a restricted unpickler that resolves only
the globals the scan reported, inside scikit-learn, NumPy and SciPy. An ONNX graph runs in
onnxruntime; when its operators are all in a small differentiable set it is also
translated into torch operations (no code is run from the file) so gradient attacks work.
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from bastion.robustness.interface import Capability, RobustnessError

__all__ = [
    "LoadedModel",
    "OnnxTarget",
    "SklearnTarget",
    "TorchTarget",
    "load_target",
]

MAX_MODEL_BYTES = 512 * 1024 * 1024
_PICKLE_MODULES = ("sklearn.", "numpy.", "scipy.")
_ALL = frozenset(Capability)
_SCORES = frozenset({Capability.PROBABILITIES, Capability.LABELS})
_LABELS = frozenset({Capability.LABELS})


def _as_float(x: NDArray[Any]) -> NDArray[np.float32]:
    return np.ascontiguousarray(x, dtype=np.float32)


def _softmax(z: NDArray[Any]) -> NDArray[np.float32]:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    out: NDArray[np.float32] = (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
    return out


class TorchTarget:
    """A PyTorch module returning logits ``(n, k)`` (or one binary logit ``(n, 1)``).

    Gradients are taken with respect to the input only: during an attack the module's
    parameters are frozen (``requires_grad`` off, restored afterwards)."""

    kind = "pytorch"
    capabilities = _ALL

    def __init__(
        self, module: torch.nn.Module, input_shape: tuple[int, ...], n_classes: int | None = None
    ) -> None:
        self.module = module.eval()
        self.input_shape = tuple(int(d) for d in input_shape)
        with torch.no_grad():
            out = self.module(torch.zeros((1, *self.input_shape)))
        if out.ndim != 2:
            raise RobustnessError(f"the module returns shape {tuple(out.shape)}, not (n, classes)")
        self._binary = out.shape[1] == 1
        self.n_classes = 2 if self._binary else int(out.shape[1])
        if n_classes is not None and n_classes != self.n_classes:
            raise RobustnessError(
                f"the module has {self.n_classes} outputs, not {n_classes} classes"
            )

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        z: torch.Tensor = self.module(x)
        if self._binary:
            z = torch.cat([torch.zeros_like(z), z], dim=1)
        return z

    @contextmanager
    def frozen(self) -> Iterator[None]:
        params = [p for p in self.module.parameters() if p.requires_grad]
        for p in params:
            p.requires_grad_(False)
        try:
            yield
        finally:
            for p in params:
                p.requires_grad_(True)

    def predict_logits(self, x: NDArray[Any]) -> NDArray[np.float32]:
        with torch.no_grad():
            out: NDArray[np.float32] = self.logits(torch.from_numpy(_as_float(x))).numpy()
        return out

    def predict_proba(self, x: NDArray[Any]) -> NDArray[np.float32]:
        return _softmax(self.predict_logits(x))

    def predict_labels(self, x: NDArray[Any]) -> NDArray[np.int64]:
        out: NDArray[np.int64] = self.predict_logits(x).argmax(axis=1).astype(np.int64)
        return out


class SklearnTarget:
    """A fitted scikit-learn classifier: probabilities when it has ``predict_proba``,
    labels only otherwise. Labels are indices into ``classes_``."""

    kind = "scikit-learn"

    def __init__(self, estimator: Any, n_features: int | None = None) -> None:
        classes = getattr(estimator, "classes_", None)
        if classes is None or not hasattr(estimator, "predict"):
            raise RobustnessError("the estimator is not a fitted scikit-learn classifier")
        self.estimator = estimator
        self.classes = np.asarray(classes)
        self.n_classes = len(self.classes)
        nf = n_features if n_features is not None else getattr(estimator, "n_features_in_", None)
        if nf is None:
            raise RobustnessError("the estimator does not say how many features it takes")
        self.input_shape: tuple[int, ...] = (int(nf),)
        self.capabilities = _SCORES if hasattr(estimator, "predict_proba") else _LABELS

    def _flat(self, x: NDArray[Any]) -> NDArray[np.float64]:
        return np.asarray(x, dtype=np.float64).reshape(len(x), -1)

    def predict_proba(self, x: NDArray[Any]) -> NDArray[np.float32]:
        if Capability.PROBABILITIES not in self.capabilities:
            raise RobustnessError("this scikit-learn target answers labels only")
        return _as_float(self.estimator.predict_proba(self._flat(x)))

    def predict_labels(self, x: NDArray[Any]) -> NDArray[np.int64]:
        pred = np.asarray(self.estimator.predict(self._flat(x)))
        return np.searchsorted(self.classes, pred).astype(np.int64)


# --- ONNX --------------------------------------------------------------------------------

_Op = Callable[[list[torch.Tensor], dict[str, Any]], torch.Tensor]


def _gemm(t: list[torch.Tensor], a: dict[str, Any]) -> torch.Tensor:
    x, w = t[0], t[1]
    if a.get("transA", 0):
        x = x.t()
    if a.get("transB", 0):
        w = w.t()
    y = float(a.get("alpha", 1.0)) * (x @ w)
    if len(t) > 2:
        y = y + float(a.get("beta", 1.0)) * t[2]
    return y


def _conv(t: list[torch.Tensor], a: dict[str, Any]) -> torch.Tensor:
    pads = list(a.get("pads", [0, 0, 0, 0]))
    if pads[:2] != pads[2:]:
        raise RobustnessError("ONNX Conv with asymmetric padding is not supported")
    return torch.nn.functional.conv2d(
        t[0],
        t[1],
        t[2] if len(t) > 2 else None,
        stride=tuple(a.get("strides", [1, 1])),
        padding=tuple(pads[:2]),
        dilation=tuple(a.get("dilations", [1, 1])),
        groups=int(a.get("group", 1)),
    )


def _flatten(t: list[torch.Tensor], a: dict[str, Any]) -> torch.Tensor:
    axis = int(a.get("axis", 1))
    return t[0].reshape(int(np.prod(t[0].shape[:axis])), -1)


def _reshape(t: list[torch.Tensor], a: dict[str, Any]) -> torch.Tensor:
    shape = [int(s) for s in t[1].tolist()]
    shape = [t[0].shape[i] if s == 0 else s for i, s in enumerate(shape)]
    return t[0].reshape(shape)


_OPS: dict[str, _Op] = {
    "Gemm": _gemm,
    "MatMul": lambda t, a: t[0] @ t[1],
    "Add": lambda t, a: t[0] + t[1],
    "Sub": lambda t, a: t[0] - t[1],
    "Mul": lambda t, a: t[0] * t[1],
    "Div": lambda t, a: t[0] / t[1],
    "Relu": lambda t, a: torch.relu(t[0]),
    "LeakyRelu": lambda t, a: torch.nn.functional.leaky_relu(t[0], float(a.get("alpha", 0.01))),
    "Sigmoid": lambda t, a: torch.sigmoid(t[0]),
    "Tanh": lambda t, a: torch.tanh(t[0]),
    "Softmax": lambda t, a: torch.softmax(t[0], dim=int(a.get("axis", -1))),
    "Identity": lambda t, a: t[0],
    "Flatten": _flatten,
    "Reshape": _reshape,
    "Conv": _conv,
    "MaxPool": lambda t, a: torch.nn.functional.max_pool2d(
        t[0], tuple(a["kernel_shape"]), stride=tuple(a.get("strides") or a["kernel_shape"])
    ),
}


@dataclass(frozen=True)
class _Node:
    op: str
    inputs: tuple[str, ...]
    output: str
    attrs: dict[str, Any]


class _OnnxGraph:
    """An ONNX graph of supported operators evaluated with torch (data only, no code)."""

    def __init__(self, model: Any) -> None:
        from onnx import helper, numpy_helper

        g = model.graph
        self.consts = {
            i.name: torch.from_numpy(np.array(numpy_helper.to_array(i), dtype=np.float32))
            if i.data_type == 1
            else torch.from_numpy(np.array(numpy_helper.to_array(i)))
            for i in g.initializer
        }
        inputs = [i.name for i in g.input if i.name not in self.consts]
        if len(inputs) != 1 or len(g.output) < 1:
            raise RobustnessError("the ONNX graph must have one data input")
        self.input = inputs[0]
        self.output = g.output[0].name
        self.nodes: list[_Node] = []
        for n in g.node:
            if n.op_type not in _OPS or n.domain not in ("", "ai.onnx") or len(n.output) != 1:
                raise RobustnessError(f"ONNX operator {n.op_type[:40]} has no gradient here")
            attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute}
            self.nodes.append(_Node(n.op_type, tuple(n.input), n.output[0], attrs))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        env: dict[str, torch.Tensor] = {**self.consts, self.input: x}
        for n in self.nodes:
            env[n.output] = _OPS[n.op]([env[i] for i in n.inputs if i], n.attrs)
        return env[self.output]


class OnnxTarget:
    """An ONNX classifier: onnxruntime answers scores; gradients when the graph's operators
    are all differentiable here. An output whose rows are probabilities is taken as such,
    any other as logits (``output_is_proba`` overrides)."""

    kind = "onnx"

    def __init__(self, data: bytes, output_is_proba: bool | None = None) -> None:
        import onnx
        import onnxruntime as ort  # type: ignore[import-untyped]

        model = onnx.load_from_string(data)
        for t in model.graph.initializer:
            if t.data_location == onnx.TensorProto.EXTERNAL:
                raise RobustnessError("ONNX models with external data are not loaded")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        self._session = ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])
        inp = self._session.get_inputs()[0]
        self._input = inp.name
        shape = [d if isinstance(d, int) else -1 for d in inp.shape[1:]]
        if any(d < 1 for d in shape):
            raise RobustnessError("the ONNX input must have a fixed shape past the batch axis")
        self.input_shape = tuple(shape)
        out = self._run(np.zeros((2, *self.input_shape), dtype=np.float32))
        if out.ndim != 2:
            raise RobustnessError(f"the ONNX output has shape {out.shape}, not (n, classes)")
        self.n_classes = int(out.shape[1]) if out.shape[1] > 1 else 2
        self._binary = out.shape[1] == 1
        self._proba = output_is_proba
        self._graph: _OnnxGraph | None = None
        try:
            graph = _OnnxGraph(model)
            # The translation must agree with onnxruntime on a probe, or it gives no gradients.
            probe = np.random.default_rng(0).random((2, *self.input_shape), dtype=np.float32)
            with torch.no_grad():
                mine = graph(torch.from_numpy(probe)).numpy()
            if mine.shape == out.shape and np.allclose(
                mine, self._run(probe), atol=1e-4, rtol=1e-3
            ):
                self._graph = graph
        except (RobustnessError, KeyError, IndexError, ValueError, TypeError, RuntimeError):
            self._graph = None
        self.capabilities = _ALL if self._graph is not None else _SCORES

    def _run(self, x: NDArray[Any]) -> NDArray[np.float32]:
        out = self._session.run(None, {self._input: _as_float(x)})[0]
        return np.asarray(out, dtype=np.float32)

    def _is_proba(self, out: NDArray[np.float32]) -> bool:
        if self._proba is not None:
            return self._proba
        return bool(
            out.shape[1] > 1 and (out >= 0).all() and np.allclose(out.sum(axis=1), 1, atol=1e-4)
        )

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        if self._graph is None:
            raise RobustnessError("this ONNX target has no gradients")
        z = self._graph(x)
        if self._binary:
            z = torch.cat([torch.zeros_like(z), z], dim=1)
        elif self._proba or (self._proba is None and self._graph.nodes[-1].op == "Softmax"):
            z = torch.log(z.clamp_min(1e-12))
        return z

    @contextmanager
    def frozen(self) -> Iterator[None]:
        yield

    def predict_proba(self, x: NDArray[Any]) -> NDArray[np.float32]:
        out = self._run(x)
        if self._binary:
            p = 1 / (1 + np.exp(-out[:, 0]))
            return np.stack([1 - p, p], axis=1).astype(np.float32)
        return out if self._is_proba(out) else _softmax(out)

    def predict_labels(self, x: NDArray[Any]) -> NDArray[np.int64]:
        out: NDArray[np.int64] = self.predict_proba(x).argmax(axis=1).astype(np.int64)
        return out


# --- the safe path from a file -----------------------------------------------------------


class _Restricted(pickle.Unpickler):
    def __init__(self, data: bytes, allowed: frozenset[str]) -> None:
        super().__init__(io.BytesIO(data))
        self._allowed = allowed

    def find_class(self, module: str, name: str) -> Any:
        full = f"{module}.{name}"
        if full not in self._allowed or not full.startswith(_PICKLE_MODULES):
            raise RobustnessError(f"the pickle names {full[:120]}, which is not loaded")
        return super().find_class(module, name)


@dataclass(frozen=True)
class LoadedModel:
    """A target loaded from a file, with the digest ``integrity.scan`` names for it."""

    target: TorchTarget | SklearnTarget | OnnxTarget
    digest: str
    format: str


def _digest(path: Path) -> str:
    from bastion.integrity import signed_manifest

    return "sha256:" + signed_manifest(path).digest


def load_target(
    path: Path, *, allow: frozenset[str] = frozenset(), output_is_proba: bool | None = None
) -> LoadedModel:
    """Load a model file as a target, only if the integrity scanner calls it safe.

    ONNX files run in onnxruntime; scikit-learn pickles are unpickled by a restricted
    unpickler (the scanned globals only). Anything else, or any other verdict, is refused
    (``RobustnessError``) without loading it. ``allow``: extra exact globals the operator
    vouches for (an allowlist as ``bastion model scan --allow`` reads it); never dangerous
    ones, and only inside scikit-learn, NumPy and SciPy."""
    from bastion.integrity import ScanVerdict, scan_bytes

    try:
        st = path.lstat()
    except OSError:
        raise RobustnessError(f"{path}: no such model file") from None
    if not path.is_file() or path.is_symlink():
        raise RobustnessError(f"{path}: the model must be a regular file (not a link or folder)")
    if st.st_size > MAX_MODEL_BYTES:
        raise RobustnessError(f"{path}: larger than {MAX_MODEL_BYTES >> 20} MiB")
    before = _digest(path)
    data = path.read_bytes()
    report = scan_bytes(data, path.name, allow=allow)
    if _digest(path) != before:
        raise RobustnessError(f"{path}: the file changed while it was read")
    if report.verdict is not ScanVerdict.SAFE:
        raise RobustnessError(
            f"{path}: the model scan says {report.verdict.value}; only a safe model is loaded "
            "(see `bastion model scan`)"
        )
    files = report.to_dict()["files"]
    fmt = str(files[0].get("format", "")) if files else ""
    if fmt == "onnx":
        return LoadedModel(OnnxTarget(data, output_is_proba), before, fmt)
    if fmt == "pickle":
        allowed = frozenset(str(g) for f in files for g in f.get("globals", ()))
        try:
            est = _Restricted(data, allowed).load()
        except RobustnessError:
            raise
        except Exception as exc:
            raise RobustnessError(
                f"{path}: the pickle does not load ({type(exc).__name__})"
            ) from None
        return LoadedModel(SklearnTarget(est), before, fmt)
    raise RobustnessError(
        f"{path}: format {fmt or 'unknown'} is not a supported target (ONNX or a "
        "scikit-learn pickle)"
    )
