"""``bastion serve`` and ``bastion demo`` as a user runs them: real processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

BASTION = str(Path(sys.executable).with_name("bastion"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BASTION, *args], capture_output=True, text=True, env=env, check=False, timeout=120
    )


def test_serve_answers_with_auth_only(tmp_path: Path) -> None:
    env = os.environ | {"BASTION_HOME": str(tmp_path / "h")}
    assert _run(env, "init").returncode == 0
    token = _run(env, "token", "create", "--role", "viewer", "--format", "json")
    import json

    secret = json.loads(token.stdout)["token"]
    port = _free_port()
    proc = subprocess.Popen(
        [BASTION, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).text == "ok":
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            pytest.fail("bastion serve did not start")
        assert httpx.get(f"{base}/api/v1/whoami").status_code == 401
        me = httpx.get(f"{base}/api/v1/whoami", headers={"Authorization": f"Bearer {secret}"})
        assert me.status_code == 200 and me.json()["role"] == "viewer"
        assert httpx.get(f"{base}/openapi.json").json()["info"]["title"] == "Bastion"
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    assert secret not in out  # tokens are never logged


@pytest.mark.slow
def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    keep = tmp_path / "demo-home"
    r = _run(dict(os.environ), "demo", "--keep", str(keep), "--rows", "1000")
    assert r.returncode == 0, r.stdout + r.stderr
    for expected in (
        "Generate the example's data and train its models",
        "Import it into the inventory",
        "inventory hygiene check",
        "Threat-model the system",
        "Price the risk",
        "signature pass, scan pass",
        "Re-run the threat model with the new evidence",
        "registered credit-gbm@1; registered credit-mlp@1",
        "v1 refused because:",
        "security sign-off: 0 of 1 valid approval(s)",
        "change advisory board decision: no approved change request",
        "v1 promoted",
        "retrained v2 refused (stale evidence)",
        "stale: integrity.signature evidence",
        "rolled back to v1",
        "Red-team campaign on the digits model: pass",
        "Membership inference on the digits model",
        "33 of 33 probes found a weakness",
        "detector:prompt_injection",
        "Guard the production model and replay traffic with drift and an extraction",
        "Correlate the log: detections and Sigma matches",
        "run the model-compromise playbook",
        "Freeze the evidence under custody and verify the report offline",
        "Export for the SOC: OCSF events, Sigma alerts, converted rules",
        "Scan the applicant data for PII, mask a copy, make a DP release",
        "Train a DP logistic model on the features (DP-SGD)",
        "privacy.synthetic pass",
        "data.validation fail: refused",
        "Lineage from the applicant data (OpenLineage)",
        "Write the privacy impact assessment",
        "signed checkpoints intact",
        "Latest signed checkpoint",
    ):
        assert expected in r.stdout or expected in " ".join(r.stdout.split())  # rich wraps
    assert (keep / "example" / "models" / "credit-gbm" / "model.pkl").is_file()
    env = os.environ | {"BASTION_HOME": str(keep)}
    v = _run(env, "ledger", "verify", "--format", "json")
    assert v.returncode == 0, v.stdout
    kinds = [
        e["kind"]
        for e in __import__("json").loads(
            _run(env, "ledger", "list", "--limit", "10000", "--format", "json").stdout
        )
    ]
    assert {
        "example.artifacts_generated",
        "inventory.imported",
        "evidence.recorded",
        "access.token_created",
        "registry.promote",
        "registry.rollback",
        "governance.vote_cast",
    } <= set(kinds)
    # Every open threat is registered as a risk and priced: the register shows its P90.
    risks = __import__("json").loads(
        _run(env, "risk", "register", "list", "--format", "json").stdout
    )
    assert risks and all(r["summary"] and r["summary"]["p90"] >= 0 for r in risks)
    assert f"{len(risks)} risks registered, {len(risks)} priced" in " ".join(r.stdout.split())
    # Every model-scope check named the digest the registry stores for the version.
    models = __import__("json").loads(_run(env, "model", "list", "--format", "json").stdout)
    digests = {v["digest"] for m in models for v in m["versions"]}
    assert {m["name"] for m in models} == {"credit-gbm", "credit-mlp"}
    # The promotion went through the tier-1 gate: every requirement, the CAB included.
    promoted = [
        e
        for e in __import__("json").loads(
            _run(env, "ledger", "list", "--limit", "10000", "--format", "json").stdout
        )
        if e["kind"] == "registry.promote"
    ]
    assert promoted and all(e["data"]["tier"] == 1 for e in promoted)
    assert all(any(a.startswith("cr:") for a in e["data"]["approval_ids"]) for e in promoted)
    ev = __import__("json").loads(
        _run(env, "evidence", "list", "--check", "integrity.signature", "--format", "json").stdout
    )
    assert digests <= {e["subject"]["digest"] for e in ev}
    # The demo attests too: SLSA provenance, scan verdict and AI-BOM over the same digests.
    assert "provenance pass (SLSA v1; scan and AI-BOM attested)" in r.stdout
    att = __import__("json").loads(
        _run(env, "evidence", "list", "--check", "integrity.provenance", "--format", "json").stdout
    )
    types = {(e["subject"]["digest"], e["data"]["predicate_type"]) for e in att}
    for d in digests:
        for t in (
            "https://slsa.dev/provenance/v1",
            "https://bastion.dev/attestations/model-scan/v1",
            "https://cyclonedx.org/bom",
        ):
            assert (d, t) in types
