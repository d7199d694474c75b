"""Defenses and the detector on the digits MLP: Bastion against ART, same model and data.

1. **PGD adversarial training** (Madry et al.): Bastion's ``adversarial_training`` against
   ART's ``AdversarialTrainerMadryPGD`` (``PyTorchClassifier``), both fine-tuning a copy of
   the same trained 64-64-10 MLP for ``--epochs`` epochs at eps ``--eps`` with PGD-7
   (step 2.5 eps / 7, one random start, batch 128), one thread; CPU-seconds to train,
   clean accuracy and robust accuracy under the same PGD-20 (Bastion's ``run_attack``) on
   the 397 held-out digits.
2. **Feature-squeezing score per request**: Bastion's ``FeatureSqueezingDetector.score``
   on one input at a time (3-bit depth) against the same computation with ART's
   ``FeatureSqueezing`` preprocessor (bit depth 3) and ``PyTorchClassifier.predict`` (ART
   has no feature-squeezing detector; this is what one builds from its parts), in
   microseconds per input, median of ``--runs``; the scores must agree.

    python benchmarks/defenses.py [--epochs 10] [--eps 0.1] [--runs 3] [--no-peer]
"""

from __future__ import annotations

import argparse
import copy
import time
from typing import Any

import numpy as np
import torch
from _common import print_table, write_results

from bastion.robustness import (
    AttackSpec,
    BitDepth,
    FeatureSqueezingDetector,
    TorchTarget,
    TrainSpec,
    adversarial_training,
    run_attack,
)


def _data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    rng = np.random.default_rng(0)
    order = rng.permutation(len(d.data))
    x = (d.data[order] / 16.0).astype(np.float32)
    y = d.target[order].astype(np.int64)
    return x[:1400], y[:1400], x[1400:], y[1400:]


def _baseline(x: np.ndarray, y: np.ndarray) -> torch.nn.Sequential:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    for _ in range(150):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(xt), yt).backward()
        opt.step()
    return model.eval()


def _robust(
    model: torch.nn.Module, x: np.ndarray, y: np.ndarray, eps: float
) -> tuple[float, float]:
    t = TorchTarget(model.eval(), (64,))
    o = run_attack(t, x, y, eps, AttackSpec("pgd", steps=20, seed=0))
    clean = t.predict_labels(x) == y
    return float(clean.mean()), float((clean & (t.predict_labels(o.x_adv) == y)).mean())


def _art_classifier(model: torch.nn.Module) -> Any:
    from art.estimators.classification import PyTorchClassifier

    return PyTorchClassifier(
        model=model,
        loss=torch.nn.CrossEntropyLoss(),
        optimizer=torch.optim.Adam(model.parameters(), lr=1e-2),
        input_shape=(64,),
        nb_classes=10,
        clip_values=(0.0, 1.0),
        device_type="cpu",
    )


def training(a: argparse.Namespace, base: torch.nn.Module, data: Any) -> dict[str, Any]:
    xtr, ytr, xte, yte = data
    out: dict[str, Any] = {
        "undefended": dict(zip(("clean", "robust"), _robust(base, xte, yte, a.eps), strict=True))
    }
    t0 = time.process_time()
    at = adversarial_training(
        base, xtr, ytr, input_shape=(64,), eps=a.eps, steps=7,
        spec=TrainSpec(epochs=a.epochs, batch_size=128),
    )  # fmt: skip
    sec = time.process_time() - t0
    clean, robust = _robust(at.module, xte, yte, a.eps)
    out["bastion"] = {"cpu_seconds": sec, "clean": clean, "robust": robust}
    if not a.no_peer:
        from art.defences.trainer import AdversarialTrainerMadryPGD

        model = copy.deepcopy(base).train()
        clf = _art_classifier(model)
        trainer = AdversarialTrainerMadryPGD(
            clf, nb_epochs=a.epochs, batch_size=128, eps=a.eps, eps_step=2.5 * a.eps / 7,
            max_iter=7, num_random_init=1,
        )  # fmt: skip
        t0 = time.process_time()
        trainer.fit(xtr, ytr)
        sec = time.process_time() - t0
        clean, robust = _robust(model, xte, yte, a.eps)
        out["art"] = {"cpu_seconds": sec, "clean": clean, "robust": robust}
    return out


def _median_us(fn: Any, n: int, runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.process_time()
        for i in range(n):
            fn(i)
        times.append((time.process_time() - t0) / n * 1e6)
    return float(np.median(times))


def detection(a: argparse.Namespace, base: torch.nn.Module, data: Any) -> dict[str, Any]:
    _xtr, _ytr, xte, _yte = data
    det = FeatureSqueezingDetector(TorchTarget(base, (64,)), [BitDepth(3)])
    n = len(xte)
    ours = _median_us(lambda i: det.score(xte[i]), n, a.runs)
    out: dict[str, Any] = {"bastion_us_per_input": ours}
    if not a.no_peer:
        from art.defences.preprocessor import FeatureSqueezing

        clf = _art_classifier(base)
        squeeze = FeatureSqueezing(clip_values=(0.0, 1.0), bit_depth=3)

        def art_score(i: int) -> float:
            x = xte[i : i + 1]
            p0 = torch.softmax(torch.from_numpy(clf.predict(x)), 1).numpy()
            p1 = torch.softmax(torch.from_numpy(clf.predict(squeeze(x)[0].astype(np.float32))), 1)
            p1 = p1.numpy()
            return float(np.abs(p0 - p1).sum())

        out["art_us_per_input"] = _median_us(art_score, n, a.runs)
        diff = max(abs(art_score(i) - float(det.score(xte[i])[0])) for i in range(50))
        out["max_score_difference"] = diff
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--eps", type=float, default=0.1)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--no-peer", action="store_true")
    a = p.parse_args()
    torch.set_num_threads(1)
    data = _data()
    base = _baseline(data[0], data[1])
    tr = training(a, base, data)
    rows = [
        [who, f"{r.get('cpu_seconds', 0):.2f}", f"{r['clean']:.3f}", f"{r['robust']:.3f}"]
        for who, r in tr.items()
    ]
    print(f"PGD adversarial training, {a.epochs} epochs, eps {a.eps}, PGD-7; eval PGD-20, 1 thread")
    print_table(["contender", "train CPU-s", "clean acc", "robust acc"], rows)
    de = detection(a, base, data)
    print("Feature-squeezing score, one input per call (3-bit depth)")
    print_table(
        ["contender", "us / input"],
        [
            [k.removesuffix("_us_per_input"), f"{v:.1f}"]
            for k, v in de.items()
            if k.endswith("_us_per_input")
        ],
    )
    if "max_score_difference" in de:
        print(f"max score difference over 50 inputs: {de['max_score_difference']:.2e}")
    write_results("defenses", {"params": vars(a), "training": tr, "detection": de})


if __name__ == "__main__":
    main()
