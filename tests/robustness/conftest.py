"""Fixtures of the robustness tests: a digits MLP trained here in about a second, its
ONNX form (written with onnx.helper from the trained weights), and the credit-scoring
example's models built by the example's own train.py. Nothing is downloaded."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
import torch
from numpy.typing import NDArray

from tests.conftest import ROOT


@dataclass(frozen=True)
class Digits:
    model: torch.nn.Sequential
    x_train: NDArray[np.float32]
    y_train: NDArray[np.int64]
    x_test: NDArray[np.float32]
    y_test: NDArray[np.int64]


def train_digits_mlp(seed: int = 0, hidden: int = 64, epochs: int = 150) -> Digits:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.data / 16.0).astype(np.float32)
    y = d.target.astype(np.int64)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x))
    x, y = x[order], y[order]
    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(seed)
        model = torch.nn.Sequential(
            torch.nn.Linear(64, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 10)
        )
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        xt, yt = torch.from_numpy(x[:1400]), torch.from_numpy(y[:1400])
        for _ in range(epochs):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(xt), yt).backward()
            opt.step()
    finally:
        torch.set_num_threads(prev)
    model.eval()
    return Digits(model, x[:1400], y[:1400], x[1400:], y[1400:])


@pytest.fixture(scope="session")
def digits() -> Digits:
    return train_digits_mlp()


def mlp_to_onnx(model: torch.nn.Sequential, n_inputs: int, extra_op: str | None = None) -> bytes:
    """An ONNX graph (Gemm/Relu) with the MLP's trained weights; ``extra_op`` appends a
    unary operator this room cannot differentiate (onnxruntime still runs it)."""
    from onnx import TensorProto, helper, numpy_helper

    nodes: list[Any] = []
    inits: list[Any] = []
    cur = "x"
    for i, layer in enumerate(model):
        out = f"h{i}"
        if isinstance(layer, torch.nn.Linear):
            w = numpy_helper.from_array(layer.weight.detach().numpy(), f"w{i}")
            b = numpy_helper.from_array(layer.bias.detach().numpy(), f"b{i}")
            inits += [w, b]
            nodes.append(helper.make_node("Gemm", [cur, f"w{i}", f"b{i}"], [out], transB=1))
        elif isinstance(layer, torch.nn.ReLU):
            nodes.append(helper.make_node("Relu", [cur], [out]))
        else:  # pragma: no cover - the fixtures build only these
            raise AssertionError(layer)
        cur = out
    if extra_op is not None:
        nodes.append(helper.make_node(extra_op, [cur], ["extra"]))
        cur = "extra"
    n_out = model[-1].out_features
    graph = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", n_inputs])],
        [helper.make_tensor_value_info(cur, TensorProto.FLOAT, ["n", n_out])],
        initializer=inits,
    )
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return bytes(m.SerializeToString())


@pytest.fixture(scope="session")
def digits_files(digits: Digits, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The digits MLP as an ONNX file and 200 test digits as NPZ and CSV."""
    out = tmp_path_factory.mktemp("digits")
    onnx_path = out / "digits.onnx"
    onnx_path.write_bytes(mlp_to_onnx(digits.model, 64))
    npz = out / "digits.npz"
    np.savez(npz, x=digits.x_test[:200], y=digits.y_test[:200])
    csv = out / "digits.csv"
    header = ",".join([f"p{i}" for i in range(64)] + ["label"])
    rows = [
        ",".join([*(f"{v:.6f}" for v in r), str(int(lbl))])
        for r, lbl in zip(digits.x_test[:200], digits.y_test[:200], strict=True)
    ]
    csv.write_text(header + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return {"onnx": onnx_path, "npz": npz, "csv": csv, "dir": out}


def _train_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "robustness_credit_train", ROOT / "examples" / "credit-scoring" / "train.py"
    )
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@dataclass(frozen=True)
class Credit:
    out: Path
    gbm_path: Path
    mlp: torch.nn.Module  # standardisation + the example's MLP: raw features in, one logit out
    x: NDArray[np.float32]
    y: NDArray[np.int64]
    features: tuple[str, ...]
    train: ModuleType


class _Standardise(torch.nn.Module):
    def __init__(self, means: NDArray[Any], stds: NDArray[Any]) -> None:
        super().__init__()
        self.register_buffer("means", torch.tensor(means, dtype=torch.float32))
        self.register_buffer("stds", torch.tensor(stds, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.means) / self.stds


@pytest.fixture(scope="session")
def credit(tmp_path_factory: pytest.TempPathFactory) -> Credit:
    """The credit-scoring example's models, built once by its own train.py (small)."""
    mod = _train_module()
    out = tmp_path_factory.mktemp("credit")
    mod.build(out, 400, 7)
    model, means, stds = mod.load_mlp(out / "models" / "credit-mlp")
    x, y, names = mod.load_features(out / "features.csv")
    mlp = torch.nn.Sequential(_Standardise(means, stds), model).eval()
    return Credit(
        out,
        out / "models" / "credit-gbm" / "model.pkl",
        mlp,
        x.astype(np.float32),
        y.astype(np.int64),
        tuple(names),
        mod,
    )
