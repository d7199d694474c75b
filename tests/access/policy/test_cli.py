"""`bastion policy ...` and `bastion access ...` end to end, in process."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from bastion.access.policy import bundled_policy_dir
from tests._cli import start
from tests._otp import fresh


def test_policy_validate_and_test(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    r = start(tmp_path, capsys)
    d = str(bundled_policy_dir())
    summary = r.json("policy", "validate", d)
    assert {p["id"] for p in summary["policies"]} >= {"officers-score", "no-vendor-weights"}
    assert summary["digest"].startswith("sha256:")
    junit = tmp_path / "junit.xml"
    rep = r.json("policy", "test", d, "--junit", str(junit))
    assert rep["failed"] == 0 and rep["tests"] >= 10
    suite = ET.parse(junit).getroot()
    assert suite.tag == "testsuite" and suite.get("failures") == "0"
    assert len(suite.findall("testcase")) == rep["tests"]
    rc, out, _ = r("policy", "test", d)
    assert rc == 0 and "passed" in out


def test_policy_test_fails_on_a_wrong_expectation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    r = start(tmp_path, capsys)
    d = tmp_path / "pol"
    shutil.copytree(bundled_policy_dir(), d)
    t = d / "tests.yaml"
    t.write_text(t.read_text().replace("expect: deny", "expect: allow", 1))
    junit = tmp_path / "j.xml"
    rep = r.json("policy", "test", str(d), "--junit", str(junit), rc=1)
    assert rep["failed"] == 1
    bad = [x for x in rep["results"] if not x["passed"]]
    assert bad[0]["problems"] == ["expected allow, got deny"]
    failure = ET.parse(junit).getroot().find("testcase/failure")
    assert failure is not None and "expected allow, got deny" in (failure.get("message") or "")
    # A syntax error: exit 2, one line naming the file.
    (d / "policies.cedar").write_text("permit (principal action, resource);")
    rc, _, err = r("policy", "validate", str(d))
    assert rc == 2 and "policies.cedar" in err


def test_policy_decide_one_off(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    r = start(tmp_path, capsys)
    args = ["policy", "decide", "--principal", "vendor:broker-one", "--role", "broker-partner"]
    ok = r.json(*args, "--action", "invoke", "--resource", "endpoint:scoring-api")
    assert ok["allowed"] and ok["policies"] == ["partners-score-coarse"]
    assert ok["obligations"]["coarsen_scores"] is True
    no = r.json(
        *args, "--action", "download-weights", "--resource", "model_version:credit-gbm", rc=1
    )
    assert not no["allowed"] and no["policies"] == ["no-vendor-weights"]
    rc, _, err = r(*args, "--action", "fly", "--resource", "endpoint:scoring-api")
    assert rc == 2 and "action" in err


def test_access_request_approve_grants_review(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    r = start(tmp_path, capsys)
    g = r.json(
        "access",
        "request",
        "--principal",
        "vendor:acme",
        "--action",
        "read-logs",
        "--resource",
        "endpoint:scoring-api",
        "--reason",
        "ticket INC-7 needs the logs",
        "--duration",
        "1h",
        "--role",
        "vendor-support",
        "--actor",
        "alice",
    )
    assert g["state"] == "pending"
    tok = r.json("token", "create", "--role", "approver", "--name", "bob")
    rc, _, err = r("access", "approve", g["id"], "--token", tok["token"], "--otp", "000000")
    assert rc != 0 and "one-time code" in err
    ok = r.json(
        "access", "approve", g["id"], "--token", tok["token"], "--otp", fresh(tok["totp_secret"])
    )
    assert ok["state"] == "active" and ok["decided_by"].endswith(":bob")
    d = r.json(
        "policy",
        "decide",
        "--principal",
        "vendor:acme",
        "--action",
        "read-logs",
        "--resource",
        "endpoint:scoring-api",
    )
    assert d["allowed"] and d["grant_id"] == g["id"]
    listed = r.json("access", "grants", "--state", "active")
    assert [x["id"] for x in listed] == [g["id"]] and listed[0]["use_count"] == 1
    rep = r.json("access", "review", "--days", "30")
    assert rep["unused_grants"] == [] and rep["beyond_baseline"] == []
    rc, out, _ = r("access", "review")
    assert rc == 0 and "least privilege" in out
    gone = r.json(
        "access", "revoke", g["id"], "--token", tok["token"], "--otp", fresh(tok["totp_secret"])
    )
    assert gone["state"] == "revoked"
    d2 = r.json(
        "policy",
        "decide",
        "--principal",
        "vendor:acme",
        "--action",
        "read-logs",
        "--resource",
        "endpoint:scoring-api",
        rc=1,
    )
    assert not d2["allowed"]
