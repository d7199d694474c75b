"""Defenses (issue 10 section 4): each returns a new target; adversarial training raises
robust accuracy on digits (the issue's correctness rule); adaptive attacks (BPDA, EOT)
break what a naive attack says purification and randomization achieve; the comparison
recommends by use case and is recorded as evidence."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bastion.core.types import Subject, Verdict
from bastion.core.workspace import Workspace
from bastion.robustness import (
    AttackSpec,
    CompareSpec,
    DefensesCheck,
    RobustnessError,
    Target,
    TorchTarget,
    TrainSpec,
    adversarial_training,
    compare_defenses,
    distilled,
    pruned,
    purified,
    randomized,
    record_comparison,
    run_attack,
)
from tests.robustness.conftest import Digits

EPS = 0.1


def _robust(
    defended: Target, digits: Digits, attack_view: Target | None = None
) -> tuple[float, float]:
    x, y = digits.x_test[:200], digits.y_test[:200]
    clean = defended.predict_labels(x) == y
    o = run_attack(attack_view or defended, x, y, EPS, AttackSpec("pgd", steps=20))
    return float(clean.mean()), float((clean & (defended.predict_labels(o.x_adv) == y)).mean())


def test_adversarial_training_raises_robust_accuracy_on_digits(digits: Digits) -> None:
    base_clean, base_robust = _robust(TorchTarget(digits.model, (64,)), digits)
    before = [p.detach().clone() for p in digits.model.parameters()]
    trained = adversarial_training(
        digits.model, digits.x_train, digits.y_train, input_shape=(64,), eps=EPS,
        spec=TrainSpec(epochs=10),
    )  # fmt: skip
    clean, robust = _robust(trained, digits)
    assert base_robust < 0.4
    assert robust > base_robust + 0.3
    assert clean > base_clean - 0.05
    # The model given is never changed.
    assert all(torch.equal(a, b) for a, b in zip(before, digits.model.parameters(), strict=True))


def test_bpda_breaks_purification_that_naive_pgd_cannot_touch(digits: Digits) -> None:
    defended = purified(TorchTarget(digits.model, (64,)), image_shape=(8, 8))
    clean, naive = _robust(defended, digits)
    o = run_attack(defended, digits.x_test[:50], digits.y_test[:50], EPS, AttackSpec("pgd"))
    assert o.zero_gradient_share == 1.0  # the squeezer's rounding: no gradient at all
    _, bpda = _robust(defended, digits, defended.adaptive())
    assert clean > 0.9 and naive > 0.9
    assert bpda < naive - 0.5


def test_eot_attack_beats_the_naive_attack_on_randomization(digits: Digits) -> None:
    defended = randomized(TorchTarget(digits.model, (64,)), 0.1, seed=3)
    x = digits.x_test[:20]
    assert not np.array_equal(defended.predict_proba(x), defended.predict_proba(x))
    _, naive = _robust(defended, digits)
    _, eot = _robust(defended, digits, defended.adaptive(16))
    assert eot < naive - 0.1


def test_distillation_trains_a_student_at_temperature(digits: Digits) -> None:
    student = distilled(
        digits.model, digits.x_train, digits.y_train, input_shape=(64,), temperature=20,
        spec=TrainSpec(epochs=20),
    )  # fmt: skip
    x, y = digits.x_test[:200], digits.y_test[:200]
    assert (student.predict_labels(x) == y).mean() > 0.9
    view = student.adaptive()
    assert np.array_equal(view.predict_labels(x), student.predict_labels(x))
    # At temperature 1 the student's logits are spread about T times wider.
    base_spread = np.ptp(TorchTarget(digits.model, (64,)).predict_logits(x), axis=1).mean()
    assert np.ptp(student.predict_logits(x), axis=1).mean() > 3 * base_spread


def test_pruning_zeroes_the_smallest_weights_of_a_copy(digits: Digits) -> None:
    target = pruned(digits.model, input_shape=(64,), amount=0.6)
    module = target.module
    assert isinstance(module, torch.nn.Sequential)
    weights = torch.cat([m.weight.flatten() for m in module if isinstance(m, torch.nn.Linear)])
    assert float((weights == 0).float().mean()) == pytest.approx(0.6, abs=0.01)
    original = torch.cat(
        [m.weight.flatten() for m in digits.model if isinstance(m, torch.nn.Linear)]
    )
    assert float((original == 0).float().mean()) < 0.01
    assert not any(n.endswith("_orig") for n, _ in module.named_parameters())


def test_compare_recommends_adversarial_training_and_records_evidence(
    digits: Digits, sqlite_ws: Workspace
) -> None:
    spec = CompareSpec(
        eps=(0.05, EPS), attacks=("pgd", "square"), queries=40, image_shape=(8, 8),
        train=TrainSpec(epochs=10),
    )  # fmt: skip
    seen: list[str] = []
    c = compare_defenses(
        digits.model, digits.x_train, digits.y_train, digits.x_test[:150], digits.y_test[:150],
        input_shape=(64,), spec=spec, progress=seen.append,
    )  # fmt: skip
    assert seen == list(spec.defenses)
    key = "eps_0_1"
    none, at, pur = c.row("none"), c.row("adversarial_training"), c.row("purification")
    for r in c.rows:
        assert r.worst_case[key] == min(a[key] for a in r.robust.values())
        assert r.worst_case[key] <= r.worst_case["eps_0_05"] + 0.02
    assert at.worst_case[key] > none.worst_case[key] + 0.3
    assert set(pur.robust) == {"pgd", "square", "adaptive_bpda", "transfer"}
    assert pur.robust["pgd"][key] > pur.worst_case[key] + 0.5
    assert any("overstates" in n for n in pur.notes)
    assert "adaptive_eot" in c.row("randomization").robust
    assert c.recommendation["defense"] == "adversarial_training"
    assert set(c.recommendations) == {"balanced", "high_assurance", "accuracy_first", "low_latency"}
    assert at.build_cpu_seconds > 0 and c.cpu_seconds > 0
    assert c.chart_svg().startswith("<?xml")

    ws = sqlite_ws
    ev = record_comparison(ws, c, Subject("model", "digits-mlp"), min_accuracy=0.5)
    assert ev.verdict is Verdict.PASS
    data = DefensesCheck.read(ev)
    assert data.recommendation.defense == "adversarial_training"
    assert data.worst_case_by_defense["adversarial_training"][key] == at.worst_case[key]
    assert any(f.rule_id == "robustness.defenses.obfuscated_gradients" for f in ev.findings)
    failed = record_comparison(ws, c, Subject("model", "digits-mlp"), min_accuracy=0.99)
    assert failed.verdict is Verdict.FAIL


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        (CompareSpec(defenses=("none", "magic")), "unknown defense"),
        (CompareSpec(attacks=("hopskipjump",)), "compare runs"),
        (CompareSpec(eps=(2.0,)), "eps must lie"),
        (CompareSpec(use_case="cheap"), "unknown use case"),
        (CompareSpec(image_shape=(7, 7)), "image_shape"),
    ],
)
def test_compare_refuses_bad_input_before_any_work(
    digits: Digits, spec: CompareSpec, match: str
) -> None:
    seen: list[str] = []
    with pytest.raises(RobustnessError, match=match):
        compare_defenses(
            digits.model, digits.x_train, digits.y_train, digits.x_test[:20], digits.y_test[:20],
            input_shape=(64,), spec=spec, progress=seen.append,
        )  # fmt: skip
    assert seen == []
