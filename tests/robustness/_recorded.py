"""Robustness evidence recorded through the real checks, for the API and console tests:
an evaluation with randomized-smoothing certification of the digits MLP, and a
membership inference against an overfit tree, on a model whose name needs escaping."""

from __future__ import annotations

from dataclasses import dataclass

from sklearn.tree import DecisionTreeClassifier

from bastion.core.checks import run_check
from bastion.core.types import Evidence, Subject
from bastion.core.workspace import Workspace
from bastion.robustness import MembershipCheck, RobustnessCheck
from bastion.robustness._evaluate import evaluate
from bastion.robustness._membership import membership_inference
from bastion.robustness._targets import SklearnTarget, TorchTarget
from bastion.robustness.interface import AttackSpec, CertifySpec
from tests.robustness.conftest import Digits

MODEL = "digits/<b>mlp</b>"


@dataclass(frozen=True)
class Recorded:
    evaluation: Evidence
    membership: Evidence


def record_samples(ws: Workspace, digits: Digits) -> Recorded:
    t = TorchTarget(digits.model, (64,))
    report = evaluate(
        t,
        digits.x_test[:40],
        digits.y_test[:40],
        eps=(0.05, 0.1, 0.2),
        spec=AttackSpec(steps=5),
        certify_spec=CertifySpec(sigma=0.25, n0=10, n=60),
        cross_check=0,
    )
    ev = run_check(
        ws, RobustnessCheck((report, None, None)), Subject("model", MODEL), actor="test",
        params={"eps": "0.05,0.1,0.2"},
    )  # fmt: skip
    tree = DecisionTreeClassifier(random_state=0).fit(digits.x_train[:100], digits.y_train[:100])
    mi = membership_inference(
        SklearnTarget(tree),
        (digits.x_train[:100], digits.y_train[:100]),
        (digits.x_test[:100], digits.y_test[:100]),
        seed=0,
    )
    mev = run_check(
        ws, MembershipCheck((mi, None, {})), Subject("model", MODEL), actor="test", params={}
    )
    return Recorded(ev, mev)
