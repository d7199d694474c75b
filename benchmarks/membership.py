"""Membership inference on the same overfit model: Bastion's loss-threshold and LiRA
offline attacks against ART's ``MembershipInferenceBlackBox`` (an attack model trained on
known members and non-members) and its rule-based attack.

A random forest (``--trees`` trees) is trained on 600 digits (the members); 600 other
digits are non-members, 597 more are the population LiRA's shadow models train on. ART's
attack model is fitted on half the members and half the non-members (what it needs and
Bastion's attacks do not); every contender is scored on the other halves (300 + 300).
AUC and TPR at 1% FPR by scikit-learn's ``roc_curve`` for all, so the metric code is not
Bastion's own; CPU-seconds of each attack (fit + infer), one thread.

    python benchmarks/membership.py [--trees 30] [--shadows 8] [--no-peer]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
import torch
from _common import print_table, write_results

from bastion.robustness import SklearnTarget, lira_offline_scores, loss_scores, sklearn_trainer


def _metrics(pos: np.ndarray, neg: np.ndarray) -> tuple[float, float]:
    from sklearn.metrics import roc_auc_score, roc_curve

    y = np.r_[np.ones(len(pos)), np.zeros(len(neg))]
    s = np.r_[pos, neg]
    fpr, tpr, _ = roc_curve(y, s)
    return float(roc_auc_score(y, s)), float(tpr[fpr <= 0.01].max())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trees", type=int, default=30)
    p.add_argument("--shadows", type=int, default=8)
    p.add_argument("--no-peer", action="store_true")
    a = p.parse_args()
    torch.set_num_threads(1)
    from sklearn.datasets import load_digits
    from sklearn.ensemble import RandomForestClassifier

    d = load_digits()
    order = np.random.default_rng(0).permutation(len(d.data))
    x = (d.data[order] / 16.0).astype(np.float32)
    y = d.target[order].astype(np.int64)
    xm, ym, xn, yn, xp, yp = x[:600], y[:600], x[600:1200], y[600:1200], x[1200:], y[1200:]
    rf = RandomForestClassifier(n_estimators=a.trees, random_state=0).fit(xm, ym)
    target = SklearnTarget(rf)
    fit_m, ev_m, fit_n, ev_n = slice(0, 300), slice(300, 600), slice(0, 300), slice(300, 600)
    rows: dict[str, dict[str, Any]] = {}

    t0 = time.process_time()
    pos, neg = loss_scores(target, xm[ev_m], ym[ev_m]), loss_scores(target, xn[ev_n], yn[ev_n])
    rows["bastion loss threshold"] = {"cpu": time.process_time() - t0, "m": _metrics(pos, neg)}

    t0 = time.process_time()
    train = sklearn_trainer(rf)
    shadows = []
    for i in range(a.shadows):
        idx = np.random.default_rng(i + 1).permutation(len(xp))[: len(xp) // 2]
        shadows.append(train(xp[idx], yp[idx], i + 1))
    xe = np.concatenate([xm[ev_m], xn[ev_n]])
    ye = np.concatenate([ym[ev_m], yn[ev_n]])
    s = lira_offline_scores(target, xe, ye, shadows)
    rows[f"bastion LiRA offline ({a.shadows} shadows)"] = {
        "cpu": time.process_time() - t0,
        "m": _metrics(s[:300], s[300:]),
    }

    if not a.no_peer:
        from art.attacks.inference.membership_inference import (
            MembershipInferenceBlackBox,
            MembershipInferenceBlackBoxRuleBased,
        )
        from art.estimators.classification import SklearnClassifier

        clf = SklearnClassifier(model=rf, clip_values=(0.0, 1.0))
        onehot = np.eye(10)
        for kind in ("rf", "nn"):
            t0 = time.process_time()
            attack = MembershipInferenceBlackBox(clf, attack_model_type=kind)
            attack.fit(xm[fit_m], onehot[ym[fit_m]], xn[fit_n], onehot[yn[fit_n]])
            pos = attack.infer(xm[ev_m], onehot[ym[ev_m]], probabilities=True).reshape(-1)
            neg = attack.infer(xn[ev_n], onehot[yn[ev_n]], probabilities=True).reshape(-1)
            rows[f"art black-box ({kind} attack model)"] = {
                "cpu": time.process_time() - t0,
                "m": _metrics(pos, neg),
            }
        t0 = time.process_time()
        rule = MembershipInferenceBlackBoxRuleBased(clf)
        pos = rule.infer(xm[ev_m], onehot[ym[ev_m]]).reshape(-1).astype(float)
        neg = rule.infer(xn[ev_n], onehot[yn[ev_n]]).reshape(-1).astype(float)
        rows["art rule-based"] = {"cpu": time.process_time() - t0, "m": _metrics(pos, neg)}

    print(f"Membership inference, {a.trees}-tree forest on 600 digits; 300 + 300 scored, 1 thread")
    print_table(
        ["contender", "AUC", "TPR at 1% FPR", "CPU-s"],
        [[k, f"{v['m'][0]:.3f}", f"{v['m'][1]:.3f}", f"{v['cpu']:.2f}"] for k, v in rows.items()],
    )
    write_results(
        "membership",
        {
            "params": vars(a),
            "results": {
                k: {"auc": v["m"][0], "tpr_at_1pct_fpr": v["m"][1], "cpu_seconds": v["cpu"]}
                for k, v in rows.items()
            },
        },
    )


if __name__ == "__main__":
    main()
