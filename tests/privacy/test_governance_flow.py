"""The privacy governance flow end to end through the CLI: scan and mask the applicant
data, measure minimization, record lineage to a model version, refuse a poisoned training
batch, sweep retention, and write the PIA, whose answers come from that evidence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests._cli import start
from tests.privacy.test_minimize import FEATURES, _data
from tests.privacy.test_validate import CONSTRAINTS, _poisoned, _rows, _write

APPLICANTS = "name,email,zip\n" + "".join(f"P{i},p{i}@example.com,{10000 + i}\n" for i in range(40))


def test_flow(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.privacy.test_pia import ANSWERS
    from tests.privacy.test_pia import MANIFEST as M

    run = start(tmp_path, capsys)
    apps = tmp_path / "applicants.csv"
    apps.write_text(APPLICANTS)
    assert run("data", "scan", str(apps), "--record")[0] == 0
    pol = tmp_path / "masking.yaml"
    pol.write_text("columns:\n  name: {operator: redact}\n  email: {operator: hash}\n"
                   "  zip: {operator: generalize, keep: 3}\n")  # fmt: skip
    masked = tmp_path / "applicants.masked.csv"
    assert run("data", "mask", str(apps), "-p", str(pol), "-o", str(masked))[0] == 0
    model, train = _data(tmp_path, 600)
    mini = run.json("data", "minimize", "-m", str(model), "-d", str(train), "-t", "label",
                    "--features", ",".join(FEATURES), "--bootstrap", "200")  # fmt: skip
    assert mini["unused_pii"] == ["email"]
    ev = {"eventType": "COMPLETE", "eventTime": "2026-12-01T10:00:00Z",
          "producer": "https://example.com/train", "schemaURL":
          "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
          "run": {"runId": "0b6f7c2e-8a55-4a5f-9f0e-5d2c1b3a4e6f"},
          "job": {"namespace": "ml", "name": "train.credit-gbm"},
          "inputs": [{"namespace": "file", "name": str(masked.resolve())}],
          "outputs": [{"namespace": "bastion.registry", "name": "credit-gbm@3"}]}  # fmt: skip
    evf = tmp_path / "run.json"
    evf.write_text(json.dumps(ev))
    assert run("data", "lineage", "record", str(evf))[0] == 0
    assert run.json("data", "lineage", "impacted", "applicants.csv")["models"] == [
        "bastion.registry:credit-gbm@3"
    ]
    c = tmp_path / "constraints.yaml"
    c.write_text(CONSTRAINTS)
    ref = _write(tmp_path / "ref.csv", _rows(0, 3000))
    rc, _, _ = run("data", "validate", str(_poisoned(tmp_path)), "-s", str(c), "-r", str(ref))
    assert rc == 1  # the poisoned batch is refused
    assert run("data", "retention", "register", str(apps), "-c", "applicant_pii")[0] == 0
    rp = tmp_path / "retention.yaml"
    rp.write_text("policies: [{id: raw, kinds: [dataset], period: 365d, legal_basis: contract}]")
    assert run("data", "retention", "apply", "-p", str(rp))[0] == 0
    m = tmp_path / "system.yaml"
    m.write_text(M)
    q = tmp_path / "answers.yaml"
    assert run("data", "pia", "questionnaire", "-m", str(m), "-o", str(q))[0] == 0
    prefilled = yaml.safe_load(q.read_text())["answers"]
    assert prefilled["pii_scan"] == "yes" and prefilled["masking"] == "yes"
    assert prefilled["minimization"] == "no"  # the e-mail column is not used by the model
    assert prefilled["validation"] == "no" and prefilled["retention"] == "yes"
    q.write_text(ANSWERS.replace("  minimization: {answer: yes, note: \"minimized in the "
                                 "feature store\"}\n", "").replace("  validation: yes\n", ""))  # fmt: skip
    doc = run.json("data", "pia", "report", "-m", str(m), "-a", str(q), rc=0)
    risks = {r["question"] for r in doc["risks"]}
    assert {"minimization", "validation", "cross_border"} <= risks
    assert doc["attested_by"] == "Dana Meyer" and doc["level"] == "medium"
