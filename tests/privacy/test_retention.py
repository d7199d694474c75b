"""Retention: policies, legal holds, the sweep (dry run, delete, anonymize, proofs in the
ledger, privacy.retention evidence), erasure requests joined through vault tokens and
keyed hashes, the CLI and the API."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from bastion.access import Role, create_token
from bastion.api import create_app
from bastion.core.errors import ConflictError, InputError
from bastion.core.workspace import Workspace
from bastion.privacy.deid import mask_file, parse_policy
from bastion.privacy.lineage import DatasetRef, record_lineage
from bastion.privacy.retention import (
    RetentionCheck,
    apply_retention,
    erase_subject,
    list_items,
    parse_policies,
    plan_retention,
    register_item,
    set_hold,
)
from tests._cli import start
from tests._otp import mfa_headers

POLICIES = """\
default_jurisdiction: EU
policies:
  - id: applicants-raw
    kinds: [dataset]
    categories: [applicant_pii]
    period: 365d
    legal_basis: "GDPR Art. 6(1)(b): the loan contract"
    action: delete
  - id: features-anonymize
    kinds: [dataset]
    categories: [features]
    period: 180d
    legal_basis: "GDPR Art. 6(1)(f): model monitoring"
    action: anonymize
  - id: inference-logs
    kinds: [inference_log]
    period: 30d
    legal_basis: "GDPR Art. 6(1)(f): security monitoring"
  - id: california
    kinds: [dataset]
    categories: [applicant_pii]
    jurisdictions: [US-CA]
    period: 730d
    legal_basis: "CCPA 1798.100"
    regulation: CCPA
"""
ROWS = "".join(f"P{i},p{i}@example.com,{30 + i}\n" for i in range(20))
CSV = "name,email,age\n" + ROWS
OLD = datetime.now(UTC) - timedelta(days=400)


def _file(tmp: Path, name: str, text: str = CSV) -> Path:
    p = tmp / name
    p.write_text(text)
    return p


def test_policies_refuse_what_they_cannot_mean() -> None:
    with pytest.raises(InputError, match=r"policies\.0\.period"):
        parse_policies("policies: [{id: a, kinds: [dataset], legal_basis: contract}]")
    with pytest.raises(InputError, match="not a positive duration"):
        parse_policies("policies: [{id: a, kinds: [dataset], period: forever, legal_basis: x1x}]")
    with pytest.raises(InputError, match="anonymize applies to datasets only"):
        parse_policies("policies: [{id: a, kinds: [model_artifact], period: 1d, "
                       "legal_basis: abc, action: anonymize}]")  # fmt: skip
    with pytest.raises(InputError, match="used twice"):
        parse_policies("policies: [{id: a, kinds: [dataset], period: 1d, legal_basis: abc},"
                       " {id: a, kinds: [dataset], period: 2d, legal_basis: abc}]")  # fmt: skip
    p = parse_policies(POLICIES)
    assert p.match("dataset", "applicant_pii", None).id == "applicants-raw"  # type: ignore[union-attr]
    assert p.match("dataset", "applicant_pii", "US-CA").id == "california"  # type: ignore[union-attr]
    assert p.match("model_artifact", "x", None) is None


def test_sweep_deletes_anonymizes_keeps_held_and_proves_it(ws: Workspace, tmp_path: Path) -> None:
    pol = parse_policies(POLICIES)
    old = _file(tmp_path, "old.csv")
    held = _file(tmp_path, "held.csv")
    fresh_ = _file(tmp_path, "new.csv")
    feats = _file(tmp_path, "features.csv")
    log = _file(tmp_path, "infer.log", "GET /predict 200\n")
    model = _file(tmp_path, "model.bin", "weights")
    register_item(ws, "dataset", "old", category="applicant_pii", path=old, collected_at=OLD)
    register_item(ws, "dataset", "held", category="applicant_pii", path=held, collected_at=OLD)
    register_item(ws, "dataset", "new", category="applicant_pii", path=fresh_)
    register_item(ws, "dataset", "features", category="features", path=feats, collected_at=OLD)
    register_item(ws, "inference_log", "infer", category="logs", path=log, collected_at=OLD)
    register_item(ws, "model_artifact", "m", category="models", path=model, collected_at=OLD)
    with pytest.raises(ConflictError):
        register_item(ws, "dataset", "old", category="applicant_pii", path=old)
    set_hold(ws, "dataset", "held", reason="litigation 2026-17")
    due = {e.item.ref for e in plan_retention(ws, pol) if e.due}
    assert due == {"old", "features", "infer"}
    dry = apply_retention(ws, pol, dry_run=True)
    assert dry.evidence is None and old.exists() and log.exists()
    run = apply_retention(ws, pol, actor="sweeper")
    assert not old.exists() and not log.exists()
    assert held.exists() and fresh_.exists() and model.exists()
    rows = list(csv.reader(io.StringIO(feats.read_text())))
    assert rows[0] == ["name", "email", "age"] and len(rows) == 21
    assert rows[1] == ["", "", "30"]  # age kept, name and e-mail redacted in place
    proofs = {d["ref"]: d for d in run.disposed}
    assert proofs["old"]["action"] == "delete" and proofs["old"]["policy"] == "applicants-raw"
    assert proofs["old"]["digest"] == proofs["old"]["registered_digest"]
    assert set(proofs["features"]["redacted_columns"]) == {"email", "name"}
    (ev,) = ws.ledger.entries(kind="privacy.retention.deleted")[:1]
    assert ev.actor == "sweeper" and ev.data["legal_basis"].startswith("GDPR Art. 6(1)(b)")
    assert len(ws.ledger.entries(kind="privacy.retention.deleted")) == 2
    assert len(ws.ledger.entries(kind="privacy.retention.anonymized")) == 1
    assert run.evidence is not None and run.evidence.verdict.value == "warn"
    data = RetentionCheck.read(run.evidence)
    assert data.held == ("dataset:held",) and data.unmanaged == ("model_artifact:m",)
    assert {i.ref for i in list_items(ws)} == {"held", "new", "m"}
    assert {i.ref: i.state for i in list_items(ws, include_disposed=True)}["features"] == (
        "anonymized"
    )
    # A second sweep finds nothing more to do.
    assert apply_retention(ws, pol).disposed == ()


def test_erasure_joins_raw_tokens_and_keyed_hashes(ws: Workspace, tmp_path: Path) -> None:
    raw = _file(tmp_path, "applicants.csv")
    hashed = tmp_path / "hashed.csv"
    mask_file(raw, parse_policy("columns:\n  email: {operator: hash}\n  name: {operator: redact}\n"),
              hashed, ws=ws)  # fmt: skip
    tokens = tmp_path / "tokens.csv"
    mask_file(raw, parse_policy("columns:\n  email: {operator: tokenize, namespace: people}\n"
                                "  name: {operator: redact}\n"), tokens, ws=ws)  # fmt: skip
    for ref, p in (("raw", raw), ("hashed", hashed), ("tokens", tokens)):
        register_item(ws, "dataset", ref, category="applicant_pii", path=p)
    record_lineage(ws, "train", [DatasetRef("file", str(hashed.resolve()))],
                   [DatasetRef("bastion.registry", "credit-gbm@4")])  # fmt: skip
    dry = erase_subject(ws, "p3@example.com", namespaces=["people"], dry_run=True)
    assert dry.data.rows_removed == 3 and "p3@example.com" in raw.read_text()
    r = erase_subject(ws, "P3@Example.com", namespaces=["people"], actor="dpo")
    assert r.data.rows_removed == 3 and r.data.vault_entries_removed == 1
    assert {d["ref"] for d in r.data.datasets} == {"raw", "hashed", "tokens"}
    assert r.data.impacted_models == ("bastion.registry:credit-gbm@4",)
    assert r.data.forms == ("raw", "token:people", "hash:default")
    for p in (raw, hashed, tokens):
        assert len(p.read_text().splitlines()) == 20  # header + 19 rows
    assert "p3@example.com" not in raw.read_text() and "p4@example.com" in raw.read_text()
    everything = str([e.data for e in ws.ledger.entries()]) + str(r.evidence.data)
    assert "p3@example.com" not in everything.lower()
    assert r.data.subject_hash.startswith("hmac-sha256:")
    # The registered digest follows the rewritten file.
    after = {str(d["ref"]): d["digest_after"] for d in r.data.datasets}
    assert {i.ref: i.digest for i in list_items(ws)} == after
    again = erase_subject(ws, "p3@example.com", namespaces=["people"])
    assert again.data.rows_removed == 0 and again.data.vault_entries_removed == 0


def test_cli_retention(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = start(tmp_path, capsys)
    pol = _file(tmp_path, "retention.yaml", POLICIES)
    old = _file(tmp_path, "old.csv")
    log = _file(tmp_path, "infer.log", "x\n")
    assert run("data", "retention", "register", str(old), "-c", "applicant_pii",
               "--collected", OLD.date().isoformat())[0] == 0  # fmt: skip
    assert run("data", "retention", "register", str(log), "--kind", "inference_log",
               "-c", "logs", "--collected", "2020-01-01")[0] == 0  # fmt: skip
    assert run.json("data", "retention", "hold", "infer.log", "--kind", "inference_log",
                    "--reason", "incident 9")["hold"] == "incident 9"  # fmt: skip
    plan = run.json("data", "retention", "plan", "-p", str(pol))["plan"]
    assert [(e["ref"], e["due"], e["held"]) for e in plan] == [("old.csv", True, False),
                                                               ("infer.log", False, True)]  # fmt: skip
    rc, out, _ = run("data", "retention", "apply", "-p", str(pol), "--dry-run")
    assert rc == 0 and "due" in out and "HELD" in out and old.exists()
    doc = run.json("data", "retention", "apply", "-p", str(pol))
    assert [d["ref"] for d in doc["disposed"]] == ["old.csv"] and not old.exists() and log.exists()
    assert run("data", "retention", "hold", "infer.log", "--kind", "inference_log",
               "--reason", "x", "--release")[0] == 0  # fmt: skip
    raw = _file(tmp_path, "raw.csv")
    assert run("data", "retention", "register", str(raw), "-c", "applicant_pii")[0] == 0
    e = run.json("data", "retention", "erase", "p1@example.com")
    assert e["rows_removed"] == 1 and "p1@example.com" not in raw.read_text()
    bad = _file(tmp_path, "bad.yaml", "policies: [{id: a, kinds: [dataset], legal_basis: abc}]")
    rc, _, err = run("data", "retention", "plan", "-p", str(bad))
    assert rc == 2 and "period" in err


def test_api_retention(ws: Workspace, tmp_path: Path) -> None:
    client = TestClient(create_app(ws.settings, workspace=ws))
    old = _file(tmp_path, "old.csv")
    register_item(ws, "dataset", "old", category="applicant_pii", path=old, collected_at=OLD)
    viewer = {"Authorization": f"Bearer {create_token(ws, name='v', role=Role.VIEWER).token}"}
    eng = {"Authorization": f"Bearer {create_token(ws, name='e', role=Role.ENGINEER).token}"}
    assert client.get("/api/v1/data/retention/items").status_code == 401
    assert (
        client.get("/api/v1/data/retention/items", headers=viewer).json()["items"][0]["ref"]
        == "old"
    )
    r = client.post("/api/v1/data/retention/plan", json={"policy": POLICIES}, headers=viewer)
    assert r.status_code == 403  # a POST that only computes still needs write (deny by default)
    r = client.post("/api/v1/data/retention/plan", json={"policy": POLICIES}, headers=eng)
    assert r.status_code == 200 and r.json()["plan"][0]["due"] is True
    assert client.post("/api/v1/data/retention/apply", json={"policy": POLICIES},
                       headers=eng).status_code == 403  # fmt: skip
    r = client.post("/api/v1/data/retention/holds",
                    json={"ref": "old", "reason": "audit"}, headers=eng)  # fmt: skip
    assert r.status_code == 200
    admin = mfa_headers(ws, "dpo", Role.ADMIN)  # one privileged request per token (TOTP)
    r = client.post("/api/v1/data/retention/apply", json={"policy": POLICIES}, headers=admin)
    assert r.status_code == 200 and r.json()["disposed"] == [] and old.exists()
    admin = mfa_headers(ws, "dpo", Role.ADMIN)
    assert (
        client.delete("/api/v1/data/retention/holds/dataset/old", headers=admin).status_code == 200
    )
    admin = mfa_headers(ws, "dpo", Role.ADMIN)
    r = client.post("/api/v1/data/erasure", json={"identifier": "p2@example.com"}, headers=admin)
    assert r.status_code == 200 and r.json()["rows_removed"] == 1
    r = client.post("/api/v1/data/retention/plan", json={"policy": "policies: []"}, headers=eng)
    assert r.status_code == 422
