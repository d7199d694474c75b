"""Red-team campaigns (issue 10 sections 5 and 8): a campaign file checked before any work
starts, its tasks run through the Executor (local processes; a real local Ray cluster gives
the same numbers), thresholds judged, evidence a gate condition can read, a re-run
compared with the last one, and the HTML report."""

from __future__ import annotations

import json
import pickle
from collections.abc import Iterator
from pathlib import Path

import pytest

from bastion.compliance import Condition
from bastion.core.errors import InputError
from bastion.core.executor import LocalExecutor, RayExecutor
from bastion.core.types import Verdict
from bastion.core.workspace import Workspace
from bastion.robustness.campaign import (
    CampaignCheck,
    campaign_report_html,
    load_campaign,
    parse_campaign,
    record_campaign,
    run_campaign,
)
from bastion.robustness.interface import RobustnessError
from tests._cli import Run, start


def _campaign(files: dict[str, Path], *, min_pgd: float = 0.0, extra: str = "") -> str:
    return f"""
kind: RedTeamCampaign
name: digits-q4
description: quarterly evasion exercise
seed: 3
targets:
  - id: mlp
    model: {files["onnx"]}
    data: {files["npz"]}
    samples: 24
    name: digits/mlp
attacks:
  - id: fgsm
    attack: fgsm
    eps: [0.05, 0.2]
  - id: pgd
    attack: pgd
    eps: [0.1, 0.3]
    steps: 5
thresholds:
  - metric: pgd.robust_accuracy_at_eps_0_1
    min: {min_pgd}
  - metric: fgsm.attack_success_rate
    max: 1.0
{extra}
"""


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("attack: fgsm", "attack: deepfool"), "unknown attack 'deepfool'"),
        (("eps: [0.05, 0.2]", "eps: [0.2, 0.05]"), "strictly increasing"),
        (
            ("metric: fgsm.attack_success_rate", "metric: cw.attack_success_rate"),
            "no attack with id 'cw'",
        ),
        (("metric: fgsm.attack_success_rate", "metric: fgsm.accuracy"), "is not ATTACK_ID.METRIC"),
        (("kind: RedTeamCampaign", "kind: Campaign"), "kind"),
        (("steps: 5", "steps: 5\n    bogus: 1"), "bogus"),
    ],
)
def test_bad_campaigns_are_refused_with_the_reason(
    digits_files: dict[str, Path], change: tuple[str, str], message: str
) -> None:
    text = _campaign(digits_files).replace(*change, 1)
    with pytest.raises(InputError, match=message):
        parse_campaign(text)


def test_budget_and_preflight_refuse_before_any_work(
    digits_files: dict[str, Path], digits: object, tmp_path: Path
) -> None:
    with pytest.raises(InputError, match="max_attack_steps"):
        parse_campaign(_campaign(digits_files, extra="budget:\n  max_attack_steps: 100"))
    missing = parse_campaign(_campaign(digits_files).replace(str(digits_files["npz"]), "nope.npz"))
    with pytest.raises(RobustnessError, match=r"data file .*nope.npz not found"):
        run_campaign(missing, executor=LocalExecutor(1))
    far = parse_campaign(_campaign(digits_files).replace("eps: [0.1, 0.3]", "eps: [0.1, 3.0]"))
    with pytest.raises(RobustnessError, match="exceeds the input range"):
        run_campaign(far, executor=LocalExecutor(1))
    # a label-only target cannot take a gradient attack: refused up front
    from sklearn.svm import LinearSVC

    d = digits
    svc = LinearSVC().fit(d.x_train[:300], d.y_train[:300])  # type: ignore[attr-defined]
    (tmp_path / "svc.pkl").write_bytes(pickle.dumps(svc, protocol=4))
    (tmp_path / "allow.yaml").write_text("globals: [sklearn.svm._classes.LinearSVC]\n")
    text = _campaign(digits_files).replace(
        f"model: {digits_files['onnx']}", f"model: {tmp_path / 'svc.pkl'}\n    allow: allow.yaml"
    )
    (tmp_path / "c.yaml").write_text(text)
    with pytest.raises(RobustnessError, match="needs gradients that target mlp does not give"):
        run_campaign(load_campaign(tmp_path / "c.yaml"), executor=LocalExecutor(1))


def test_campaign_runs_records_and_compares(
    sqlite_ws: Workspace, digits_files: dict[str, Path]
) -> None:
    ws = sqlite_ws
    seen: list[int] = []
    c = parse_campaign(_campaign(digits_files, min_pgd=0.0))
    res = run_campaign(c, executor=LocalExecutor(2), on_progress=lambda _r, d, _t: seen.append(d))
    assert seen == [1, 2] and res.executor == "local" and res.passed
    (t,) = res.targets
    pgd = t.metrics["pgd"]
    assert pgd["valid"] is True and t.model_digest and t.model_digest.startswith("sha256:")
    clean = float(pgd["clean_accuracy"])  # type: ignore[arg-type]
    at01 = float(pgd["robust_accuracy_at_eps_0_1"])  # type: ignore[arg-type]
    at03 = float(pgd["robust_accuracy_at_eps_0_3"])  # type: ignore[arg-type]
    assert clean > 0.8 and at03 <= at01 <= clean  # accuracy falls as eps grows
    assert t.thresholds[0].value == at01 and all(th.passed for th in t.thresholds)
    (ev,) = record_campaign(ws, res, actor="test")
    assert ev.verdict is Verdict.PASS and ev.subject.ref == "digits/mlp"
    data = CampaignCheck.read(ev)
    assert data.metrics["pgd"]["robust_accuracy_at_eps_0_1"] == at01
    assert data.previous_evidence is None and data.executor == "local"
    # the gate's condition language reads the evidence by the path
    cond = Condition.parse(f"metrics.pgd.robust_accuracy_at_eps_0_1 >= {at01}")
    assert cond.holds(ev.data)[0]
    assert not Condition.parse(f"metrics.pgd.robust_accuracy_at_eps_0_1 >= {at01 + 0.01}").holds(
        ev.data
    )[0]

    # Same campaign, stricter threshold: fails, and is compared with the last run.
    strict = parse_campaign(_campaign(digits_files, min_pgd=min(1.0, at01 + 0.2)))
    again = run_campaign(strict, executor=LocalExecutor(1))
    assert not again.passed
    assert again.targets[0].metrics == t.metrics  # same seed, same numbers, other pool size
    (ev2,) = record_campaign(ws, again, actor="test")
    d2 = CampaignCheck.read(ev2)
    assert ev2.verdict is Verdict.FAIL and d2.previous_evidence == ev.id
    assert d2.changes["pgd"]["robust_accuracy_at_eps_0_1"] == 0.0
    assert any(f.rule_id == "campaign.threshold" for f in ev2.findings)
    page = campaign_report_html(again)
    assert 'data-testid="verdict">FAIL' in page and "<svg" in page
    assert page.count('data-testid="attack-row"') == 2
    assert "does not hold" in page and "Change since last run" in page
    assert "+0.0 points" in page and "<script" not in page


def test_redteam_run_cli_end_to_end(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], digits_files: dict[str, Path]
) -> None:
    run: Run = start(tmp_path, capsys)
    camp = tmp_path / "campaign.yaml"
    camp.write_text(_campaign(digits_files))
    report = tmp_path / "report.html"
    got = run.json("redteam", "run", str(camp), "--report", str(report), "--executor", "local:2")
    assert got["passed"] is True and got["executor"] == "local"
    (t,) = got["targets"]
    assert t["evidence"] and set(t["metrics"]) == {"fgsm", "pgd"} and t["previous"] is None
    html = report.read_text()
    assert "Red-team campaign <code>digits-q4</code>" in html and "<svg" in html
    rc, out, err = run("evidence", "show", t["evidence"], "--format", "json")
    assert rc == 0, err
    assert json.loads(out)["check_id"] == "robustness.campaign"
    camp.write_text(_campaign(digits_files, min_pgd=1.0))
    rc, out, err = run("redteam", "run", str(camp), "--no-record")
    assert rc == 1 and "threshold FAIL mlp pgd.robust_accuracy_at_eps_0_1" in out
    camp.write_text(_campaign(digits_files).replace("attack: fgsm", "attack: nope"))
    rc, out, err = run("redteam", "run", str(camp))
    assert rc == 2 and "unknown attack 'nope'" in err
    rc, out, err = run("redteam", "run", str(camp), "--executor", "celery")
    assert rc == 2


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[None]:
    import ray  # the ray extra: make test installs it; never skipped

    ray.init(
        num_cpus=2,
        object_store_memory=80 * 1024 * 1024,
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
    )
    try:
        yield
    finally:
        ray.shutdown()


def test_ray_executor_gives_the_same_campaign_numbers(
    ray_cluster: None, digits_files: dict[str, Path]
) -> None:
    c = parse_campaign(_campaign(digits_files))
    local = run_campaign(c, executor=LocalExecutor(2))
    remote = run_campaign(c, executor=RayExecutor())
    assert remote.executor == "ray"
    assert remote.targets[0].metrics == local.targets[0].metrics
    assert remote.targets[0].failures == {}
