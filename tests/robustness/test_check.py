"""The ``robustness.evaluation`` check: evidence, its digest, its typed data, gates, and
what an API caller may and may not ask for."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from bastion.core.checks import run_check
from bastion.core.errors import BastionError
from bastion.core.evidence import EvidenceQuery
from bastion.core.settings import get_settings
from bastion.core.types import Subject, Verdict
from bastion.core.workspace import Workspace, init_workspace
from bastion.integrity import ScanCheck
from bastion.robustness import RobustnessCheck, TorchTarget
from tests.robustness.conftest import Digits

PARAMS = {"eps": "0.05,0.1", "steps": 10, "samples": 80}


def test_evidence_is_bound_to_the_digest_integrity_scan_names(
    ws: Workspace, digits_files: dict[str, Path]
) -> None:
    model = digits_files["onnx"]
    params = {**PARAMS, "path": str(model), "data": str(digits_files["npz"])}
    ev = run_check(ws, RobustnessCheck, Subject("model", "digits"), params=params, actor="t")
    scan = run_check(ws, ScanCheck, Subject("model", str(model)), actor="t")
    assert ev.subject.digest is not None and ev.subject.digest == scan.subject.digest
    assert ev.verdict is Verdict.PASS
    data = RobustnessCheck.read(ev)
    assert data.attack == "pgd" and data.eps == (0.05, 0.1) and data.samples == 80
    assert data.valid and data.robust_accuracy == data.curve[-1].accuracy
    assert data.robust_accuracy_at["eps_0_1"] == data.robust_accuracy
    assert data.data_digest is not None and data.data_digest.startswith("sha256:")
    svg = ws.blobs.get(ev.data["attachments"]["robustness-curve.svg"])
    assert svg.startswith(b"<?xml") and b"<svg" in svg
    # A caller's subject digest that is not the file's is refused, nothing recorded.
    before = len(ws.evidence.list(EvidenceQuery(limit=100)))
    with pytest.raises(BastionError, match="not the digest"):
        run_check(
            ws, RobustnessCheck, Subject("model", "digits", "sha256:" + "0" * 64), params=params
        )
    assert len(ws.evidence.list(EvidenceQuery(limit=100))) == before


def test_min_accuracy_fails_the_verdict(
    sqlite_ws: Workspace, digits_files: dict[str, Path]
) -> None:
    params = {
        **PARAMS,
        "path": str(digits_files["onnx"]),
        "data": str(digits_files["csv"]),
        "min_accuracy": 0.99,
    }
    ev = run_check(sqlite_ws, RobustnessCheck, Subject("model", "digits"), params=params)
    assert ev.verdict is Verdict.FAIL
    assert [f.rule_id for f in ev.findings] == ["robustness.below_threshold"]


def test_invalid_evaluation_is_a_warning_with_a_finding_per_failed_check(
    sqlite_ws: Workspace, digits: Digits
) -> None:
    params = {
        "target": TorchTarget(digits.model, (64,)),
        "x": digits.x_test[:60],
        "y": digits.y_test[:60],
        "eps": "0.1",
        "steps": 2,
        "step_size": 1e-4,
        "random_start": False,
    }
    ev = run_check(sqlite_ws, RobustnessCheck, Subject("model", "digits"), params=params)
    assert ev.verdict is Verdict.WARN
    assert [f.rule_id for f in ev.findings] == [
        "robustness.validity.budget_reached",
        "robustness.validity.black_box_vs_white_box",
    ]
    data = RobustnessCheck.read(ev)
    assert data.robust_accuracy is None and data.robust_accuracy_at == {} and not data.valid


def test_a_control_on_robust_accuracy_reads_the_evidence(
    sqlite_ws: Workspace, digits_files: dict[str, Path]
) -> None:
    from bastion.compliance import Control, ControlSubject, evaluate_control

    params = {**PARAMS, "path": str(digits_files["onnx"]), "data": str(digits_files["npz"])}
    ev = run_check(sqlite_ws, RobustnessCheck, Subject("model", "digits@1"), params=params)
    acc = RobustnessCheck.read(ev).robust_accuracy_at["eps_0_05"]
    subject = ControlSubject(ref="digits@1", digest=ev.subject.digest, model="digits")
    ok = Control(
        id="t.robust",
        check="robustness.evaluation",
        where=(f"robust_accuracy_at.eps_0_05 >= {acc - 0.01}",),
    )
    too_high = ok.model_copy(update={"where": (f"robust_accuracy_at.eps_0_05 >= {acc + 0.01}",)})
    met = evaluate_control(sqlite_ws, ok, subject)
    assert met.satisfied, met.reason
    assert met.evidence_ids == (ev.id,)
    assert not evaluate_control(sqlite_ws, too_high, subject).satisfied


def test_gate_policies_know_the_kind_and_it_is_no_longer_pending() -> None:
    from bastion.compliance import pending_evidence_kinds
    from bastion.registry import known_evidence_kinds

    assert "robustness.evaluation" in known_evidence_kinds()
    assert "robustness.evaluation" not in pending_evidence_kinds()


@pytest.fixture
def remote_ws(tmp_path: Path, digits_files: dict[str, Path]) -> Iterator[Workspace]:
    roots = tmp_path / "roots"
    roots.mkdir()
    for name in ("onnx", "npz"):
        shutil.copy(digits_files[name], roots / digits_files[name].name)
    ws, _ = init_workspace(get_settings(home=tmp_path / "home", check_roots=[roots]))
    try:
        yield ws
    finally:
        ws.close()


def test_remote_runs_take_only_declared_confined_and_bounded_params(
    remote_ws: Workspace, digits_files: dict[str, Path], digits: Digits
) -> None:
    subj = Subject("model", "digits.onnx")
    ok = run_check(
        remote_ws,
        "robustness.evaluation",
        subj,
        params={**PARAMS, "data": "digits.npz"},
        remote=True,
    )
    assert ok.verdict is Verdict.PASS and ok.subject.digest is not None
    # Files outside the check roots, a ready target, unbounded work: refused by name.
    with pytest.raises(BastionError, match="not under a configured check root"):
        run_check(
            remote_ws, "robustness.evaluation", subj,
            params={"data": str(digits_files["npz"])}, remote=True,
        )  # fmt: skip
    with pytest.raises(BastionError, match="does not accept this parameter"):
        run_check(
            remote_ws, "robustness.evaluation", subj,
            params={"target": "x", "data": "digits.npz"}, remote=True,
        )  # fmt: skip
    ev = run_check(
        remote_ws, "robustness.evaluation", subj,
        params={"data": "digits.npz", "samples": 10_000, "steps": 1000, "eps": "0.1,0.2,0.3"},
        remote=True,
    )  # fmt: skip
    assert ev.verdict is Verdict.ERROR and "an API caller may ask for" in ev.data["error"]
    square = {"data": "digits.npz", "attack": "square", "queries": 10_000, "samples": 10_000}
    ev = run_check(remote_ws, "robustness.evaluation", subj, params=square, remote=True)
    assert ev.verdict is Verdict.ERROR and "steps (or queries)" in ev.data["error"]
