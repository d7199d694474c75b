"""Targets: what each declares, the ONNX translation, and the safe path from a file."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC

from bastion.robustness import (
    AttackSpec,
    Capability,
    OnnxTarget,
    RobustnessError,
    SklearnTarget,
    TorchTarget,
    evaluate,
    load_target,
)
from tests.robustness.conftest import Credit, Digits, mlp_to_onnx


def test_each_target_declares_what_it_supports(digits: Digits) -> None:
    torch_t = TorchTarget(digits.model, (64,))
    assert torch_t.capabilities == frozenset(Capability)
    proba = SklearnTarget(LogisticRegression(max_iter=200).fit(digits.x_train, digits.y_train))
    assert proba.capabilities == {Capability.PROBABILITIES, Capability.LABELS}
    labels = SklearnTarget(LinearSVC().fit(digits.x_train[:300], digits.y_train[:300]))
    assert labels.capabilities == {Capability.LABELS}
    with pytest.raises(RobustnessError, match="labels only"):
        labels.predict_proba(digits.x_test[:2])


def test_onnx_target_matches_torch_and_its_gradients(digits: Digits) -> None:
    t = TorchTarget(digits.model, (64,))
    o = OnnxTarget(mlp_to_onnx(digits.model, 64))
    assert o.input_shape == (64,) and o.n_classes == 10
    assert Capability.GRADIENTS in o.capabilities
    x = digits.x_test[:50]
    np.testing.assert_allclose(o.predict_proba(x), t.predict_proba(x), atol=1e-5)
    # The translated graph gives the same input gradients as the module itself.
    xt = torch.from_numpy(x).requires_grad_(True)
    y = torch.from_numpy(digits.y_test[:50])
    (g_onnx,) = torch.autograd.grad(
        torch.nn.functional.cross_entropy(o.logits(xt), y, reduction="sum"), xt
    )
    (g_torch,) = torch.autograd.grad(
        torch.nn.functional.cross_entropy(t.logits(xt), y, reduction="sum"), xt
    )
    torch.testing.assert_close(g_onnx, g_torch, atol=1e-5, rtol=1e-4)


def test_onnx_graph_with_an_undifferentiable_operator_gives_scores_only(digits: Digits) -> None:
    o = OnnxTarget(mlp_to_onnx(digits.model, 64, extra_op="Floor"))
    assert o.capabilities == {Capability.PROBABILITIES, Capability.LABELS}
    with pytest.raises(RobustnessError, match="needs gradients"):
        evaluate(o, digits.x_test[:20], digits.y_test[:20], eps=[0.1])


def test_gradient_attack_on_a_label_only_target_is_refused_before_work(digits: Digits) -> None:
    labels = SklearnTarget(LinearSVC().fit(digits.x_train[:300], digits.y_train[:300]))
    for attack in ("pgd", "fgsm", "square"):
        with pytest.raises(RobustnessError, match=f"attack {attack} needs"):
            evaluate(labels, digits.x_test, digits.y_test, eps=[0.1], spec=AttackSpec(attack))


def test_binary_single_logit_module_is_two_classes(credit: Credit) -> None:
    t = TorchTarget(credit.mlp, (len(credit.features),))
    assert t.n_classes == 2
    p = t.predict_proba(credit.x[:10])
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-6)


def test_load_target_loads_a_scanned_safe_sklearn_pickle(credit: Credit) -> None:
    loaded = load_target(credit.gbm_path)
    assert loaded.format == "pickle" and loaded.target.kind == "scikit-learn"
    gbm = credit.train.load_gbm(credit.gbm_path.parent)  # the example's own loader
    np.testing.assert_array_equal(
        loaded.target.predict_labels(credit.x[:50]), gbm.predict(credit.x[:50].astype(float))
    )
    from bastion.integrity import signed_manifest

    assert loaded.digest == "sha256:" + signed_manifest(credit.gbm_path).digest


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        import os

        return (os.system, (f"touch {self.marker}",))


def test_load_target_refuses_a_dangerous_pickle_without_running_it(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(_Evil(marker)))
    with pytest.raises(RobustnessError, match="scan says dangerous"):
        load_target(path)
    assert not marker.exists()


def test_load_target_refuses_links_folders_and_unknown_formats(
    tmp_path: Path, digits_files: dict[str, Path]
) -> None:
    link = tmp_path / "link.onnx"
    link.symlink_to(digits_files["onnx"])
    with pytest.raises(RobustnessError, match="regular file"):
        load_target(link)
    with pytest.raises(RobustnessError, match="regular file"):
        load_target(tmp_path)
    with pytest.raises(RobustnessError, match="no such model file"):
        load_target(tmp_path / "absent.onnx")
    text = tmp_path / "model.txt"
    text.write_text("hello\n")
    with pytest.raises(RobustnessError, match=r"not a supported target|scan says"):
        load_target(text)


def test_load_target_loads_onnx_with_gradients(digits_files: dict[str, Path]) -> None:
    loaded = load_target(digits_files["onnx"])
    assert loaded.format == "onnx" and Capability.GRADIENTS in loaded.target.capabilities


def _cnn_onnx(cnn: torch.nn.Sequential) -> bytes:
    from onnx import TensorProto, helper, numpy_helper

    conv, lin = cnn[0], cnn[4]
    inits = [
        numpy_helper.from_array(conv.weight.detach().numpy(), "cw"),
        numpy_helper.from_array(conv.bias.detach().numpy(), "cb"),
        numpy_helper.from_array(lin.weight.detach().numpy(), "lw"),
        numpy_helper.from_array(lin.bias.detach().numpy(), "lb"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "cw", "cb"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node("Gemm", ["f", "lw", "lb"], ["z"], transB=1),
    ]
    graph = helper.make_graph(
        nodes,
        "cnn",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 1, 8, 8])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["n", 10])],
        initializer=inits,
    )
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return bytes(m.SerializeToString())


def test_onnx_cnn_translation_matches_torch_and_attacks_images(digits: Digits) -> None:
    torch.manual_seed(0)
    cnn = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(4 * 4 * 4, 10),
    ).eval()
    o = OnnxTarget(_cnn_onnx(cnn))
    t = TorchTarget(cnn, (1, 8, 8))
    assert o.input_shape == (1, 8, 8) and Capability.GRADIENTS in o.capabilities
    x = digits.x_test[:30].reshape(-1, 1, 8, 8)
    np.testing.assert_allclose(o.predict_proba(x), t.predict_proba(x), atol=1e-5)
    xt = torch.from_numpy(x).requires_grad_(True)
    y = torch.from_numpy(t.predict_labels(x))
    (g1,) = torch.autograd.grad(torch.nn.functional.cross_entropy(o.logits(xt), y), xt)
    (g2,) = torch.autograd.grad(torch.nn.functional.cross_entropy(t.logits(xt), y), xt)
    torch.testing.assert_close(g1, g2, atol=1e-5, rtol=1e-4)
    # Flat rows of 64 pixels are reshaped to the model's (1, 8, 8); labels = its own answers.
    r = evaluate(o, digits.x_test[:30], y.numpy(), eps=[0.1, 0.3], spec=AttackSpec(steps=5))
    assert r.clean_accuracy == 1.0 and r.curve[-1].accuracy < 1.0
