"""PGD-40 on the digits MLP and CNN: Bastion's native-tensor core vs ART's PyTorch PGD.

Claim (issue 10): at least 1.5x ART's throughput with the same robust accuracy (within 0.5
points). PGD L-inf, eps 0.3, step 0.01, 40 steps, one random start, on ``--n`` (1,000)
scikit-learn digits scaled to [0, 1]; both models are trained here in seconds (seeded).
One thread (``torch.set_num_threads(1)``), CPU-seconds per 1,000 images
(``time.process_time``), median of ``--runs``.

Contenders, on the same model object and the same inputs and labels:

| contender | what it runs |
|---|---|
| bastion, batch 1000 | ``run_attack`` with ``batch_size=1000``: input-only gradients (``torch.autograd.grad``, parameters frozen); keeps the first adversarial example found per input (one extra no-grad forward per step) |
| bastion, auto batch | the same with the automatic batch size |
| art, batch 1000 | ``ProjectedGradientDescentPyTorch`` on ``PyTorchClassifier``, ``batch_size=1000`` |
| art, batch 32 | the same at ART's default batch size |

Robust accuracy is the share of inputs the model still classifies correctly after the
attack. ``--no-peer`` runs Bastion alone; ``--eps``/``--steps``/``--step`` change the attack.

    python benchmarks/pgd.py [--n 1000] [--runs 3] [--eps 0.3] [--no-peer]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
import torch
from _common import print_table, write_results

from bastion.robustness import AttackSpec, TorchTarget, run_attack


def _data(n: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    rng = np.random.default_rng(0)
    order = rng.permutation(len(d.data))
    x = (d.data[order] / 16.0).astype(np.float32)
    return x[:n], d.target[order][:n].astype(np.int64)


def _train(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int) -> None:
    torch.manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(epochs):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    model.eval()


def models(x: np.ndarray, y: np.ndarray) -> dict[str, tuple[torch.nn.Module, tuple[int, ...]]]:
    torch.manual_seed(0)
    mlp = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
    _train(mlp, torch.from_numpy(x), torch.from_numpy(y), 200)
    torch.manual_seed(0)
    cnn = torch.nn.Sequential(
        torch.nn.Conv2d(1, 16, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(16, 32, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(32 * 2 * 2, 10),
    )
    _train(cnn, torch.from_numpy(x.reshape(-1, 1, 8, 8)), torch.from_numpy(y), 60)
    return {"mlp": (mlp, (64,)), "cnn": (cnn, (1, 8, 8))}


def _cpu(fn: Any, runs: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(runs):
        t0 = time.process_time()
        out = fn()
        times.append(time.process_time() - t0)
    return float(np.median(times)), out


def bastion(model: torch.nn.Module, shape: tuple[int, ...], x: np.ndarray, y: np.ndarray,
            a: argparse.Namespace, batch: int | None) -> tuple[float, float]:  # fmt: skip
    t = TorchTarget(model, shape)
    xs = x.reshape((-1, *shape))
    spec = AttackSpec(steps=a.steps, step_size=a.step, random_start=True, batch_size=batch)
    sec, o = _cpu(lambda: run_attack(t, xs, y, a.eps, spec), a.runs)
    acc = float((t.predict_labels(o.x_adv) == y).mean())
    return sec, acc


def art(model: torch.nn.Module, shape: tuple[int, ...], x: np.ndarray, y: np.ndarray,
        a: argparse.Namespace, batch: int) -> tuple[float, float]:  # fmt: skip
    from art.attacks.evasion import ProjectedGradientDescentPyTorch
    from art.estimators.classification import PyTorchClassifier

    clf = PyTorchClassifier(
        model=model,
        loss=torch.nn.CrossEntropyLoss(),
        input_shape=shape,
        nb_classes=10,
        clip_values=(0.0, 1.0),
        device_type="cpu",
    )
    attack = ProjectedGradientDescentPyTorch(
        clf,
        norm=np.inf,
        eps=a.eps,
        eps_step=a.step,
        max_iter=a.steps,
        num_random_init=1,
        batch_size=batch,
        verbose=False,
    )
    xs = x.reshape((-1, *shape))
    sec, adv = _cpu(lambda: attack.generate(xs, y=y), a.runs)
    acc = float((clf.predict(adv).argmax(axis=1) == y).mean())
    return sec, acc


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--eps", type=float, default=0.3)
    p.add_argument("--step", type=float, default=0.01)
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--no-peer", action="store_true")
    a = p.parse_args()
    torch.set_num_threads(1)
    x, y = _data(a.n)
    rows: list[list[object]] = []
    results: dict[str, Any] = {}
    for name, (model, shape) in models(x, y).items():
        clean = float(
            (TorchTarget(model, shape).predict_labels(x.reshape((-1, *shape))) == y).mean()
        )
        contenders: dict[str, tuple[float, float]] = {
            "bastion, batch 1000": bastion(model, shape, x, y, a, 1000),
            "bastion, auto batch": bastion(model, shape, x, y, a, None),
        }
        if not a.no_peer:
            contenders["art, batch 1000"] = art(model, shape, x, y, a, 1000)
            contenders["art, batch 32"] = art(model, shape, x, y, a, 32)
        base = contenders["bastion, batch 1000"][0]
        for who, (sec, acc) in contenders.items():
            per_k = sec * 1000 / a.n
            rows.append([name, who, f"{per_k:.3f}", f"{acc:.3f}", f"{sec / base:.2f}x"])
        results[name] = {
            "clean_accuracy": clean,
            "contenders": {
                k: {"cpu_seconds_per_1000": s * 1000 / a.n, "robust_accuracy": r}
                for k, (s, r) in contenders.items()
            },
        }
    print(
        f"PGD-{a.steps} L-inf eps {a.eps} step {a.step}, {a.n} digits, 1 thread, median of {a.runs}"
    )
    print_table(["model", "contender", "CPU-s / 1000", "robust acc", "vs bastion"], rows)
    write_results(
        "pgd",
        {
            "params": vars(a),
            "results": results,
        },
    )


if __name__ == "__main__":
    main()
