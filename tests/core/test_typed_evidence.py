"""Issue 13 section 1: evidence has a typed contract (data models validated when evidence
is recorded, ``Check.read`` returning the typed model, one typed recorder for evidence
written outside a check's run, one JSON form of evidence)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from pydantic import Field

from bastion.api.evidence import evidence_dict
from bastion.cli.main import main
from bastion.core.checks import (
    CheckContext,
    CheckResult,
    EvidenceData,
    RecordedCheck,
    TypedCheck,
    get_check,
    record_evidence,
    run_check,
)
from bastion.core.errors import CheckError
from bastion.core.types import Subject, Verdict
from bastion.core.workspace import Workspace

SRC = Path(__file__).resolve().parents[2] / "src" / "bastion"


class _ScoreData(EvidenceData):
    score: float = Field(ge=0, le=1)
    label: str


class _ScoreCheck(TypedCheck[_ScoreData]):
    id = "test.typed-score"
    title = "A test check with typed data"
    remote = False

    def run(self, subject: Subject, ctx: CheckContext) -> CheckResult:
        return CheckResult(Verdict.PASS, data=dict(ctx.params["data"]))


class _Recorded(RecordedCheck[_ScoreData]):
    id = "test.recorded-score"
    title = "A recorded test transformation"
    subject_kinds = ("system",)
    recorded_by = "the test"


def test_finding_01_data_model_is_taken_from_the_type_parameter() -> None:
    assert _ScoreCheck.data_model is _ScoreData
    assert get_check("test.typed-score") is _ScoreCheck
    meta = _ScoreCheck.metadata()
    assert meta["data_model"] == "_ScoreData" and meta["recorded"] is False
    assert _Recorded.metadata()["recorded"] is True and _Recorded.remote is False


def test_finding_01_mismatched_data_is_recorded_as_error_naming_the_field(
    ws: Workspace,
) -> None:
    secret = "sk-live-DO-NOT-ECHO"
    ev = run_check(
        ws, _ScoreCheck, Subject("system", "s1"), params={"data": {"score": 7, "label": secret}}
    )
    assert ev.verdict is Verdict.ERROR
    msg = ev.data["error"]
    assert "data.score" in msg and "_ScoreData" in msg and "bug in the check" in msg
    assert "7" not in msg.replace("_ScoreData", "") and secret not in json.dumps(ev.data)
    with pytest.raises(CheckError, match="records an error"):
        _ScoreCheck.read(ev)


def test_finding_01_read_returns_the_typed_model_and_refuses_other_checks(
    ws: Workspace,
) -> None:
    ev = run_check(
        ws, _ScoreCheck, Subject("system", "s1"), params={"data": {"score": 0.5, "label": "x"}}
    )
    data = _ScoreCheck.read(ev)
    assert isinstance(data, _ScoreData) and data.score == 0.5 and data.label == "x"
    with pytest.raises(Exception, match="frozen"):
        data.score = 1  # type: ignore[misc]
    with pytest.raises(
        CheckError, match=r"is test\.typed-score evidence, not test\.recorded-score"
    ):
        _Recorded.read(ev)


def test_finding_01_the_typed_recorder_validates_and_needs_a_registered_check(
    ws: Workspace,
) -> None:
    subject = Subject("system", "s1", "sha256:" + "0" * 64)
    with pytest.raises(CheckError, match=r"data\.score"):
        record_evidence(ws, _Recorded, subject, verdict=Verdict.PASS, data={"label": "x"})
    assert ws.evidence.list() == []  # nothing recorded
    with pytest.raises(CheckError, match="is about system, not model"):
        record_evidence(
            ws,
            _Recorded,
            Subject("model", "m"),
            verdict=Verdict.PASS,
            data=_ScoreData(score=1, label="x"),
        )
    ev = record_evidence(
        ws, _Recorded, subject, verdict=Verdict.PASS, data=_ScoreData(score=1, label="y")
    )
    assert ev.check_id == "test.recorded-score" and _Recorded.read(ev).label == "y"
    assert ws.evidence.verify_digest(ev)

    class _Unregistered(_ScoreCheck):
        abstract = True

    with pytest.raises(CheckError, match="not the registered check"):
        record_evidence(ws, _Unregistered, subject, verdict=Verdict.PASS, data={})


def test_finding_01_a_recorded_check_is_not_run(ws: Workspace) -> None:
    ev = run_check(ws, _Recorded, Subject("system", "s1"))
    assert ev.verdict is Verdict.ERROR
    assert "recorded by the test, not by running a check" in ev.data["error"]


def test_finding_01_evidence_has_one_json_form_for_cli_and_api(
    sqlite_ws: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    ws = sqlite_ws
    ev = run_check(
        ws, _ScoreCheck, Subject("system", "s1"), params={"data": {"score": 0.2, "label": "z"}}
    )
    assert evidence_dict(ev) == ev.to_dict()
    assert ev.to_dict()["subject"] == {"kind": "system", "ref": "s1", "digest": None}
    capsys.readouterr()
    rc = main(["--home", str(ws.settings.home), "evidence", "show", ev.id, "--format", "json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out == ev.to_dict() | {"intact": True}


def test_finding_01_other_rooms_name_no_check_id_strings() -> None:
    """The gate and the console import check classes; an id string appears once, in its
    check's class (``SIMULATION_CHECK`` was defined twice, the console copied ids)."""
    ids = ("risk.simulation", "risk.tier", "integrity.signature", "integrity.scan")
    for path in (
        SRC / "api" / "console_security.py",
        *sorted((SRC / "registry").glob("_gate*.py")),
    ):
        text = path.read_text(encoding="utf-8")
        for cid in ids:
            assert f'"{cid}"' not in text, (path.name, cid)
    hits = [
        p
        for p in SRC.rglob("*.py")
        if re.search(r"""["']risk\.simulation["']""", p.read_text(encoding="utf-8"))
    ]
    assert [p.relative_to(SRC).as_posix() for p in hits] == ["risk/_checks.py"]
