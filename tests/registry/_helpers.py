"""Shared builders for registry tests: a tiny model directory, approvers, and REAL evidence.

The evidence comes from the real checks, as the demo and a user produce it: the integrity
room signs the model with a certificate from its PKI and verifies it (integrity.signature),
scans its files (integrity.scan) and audits its environment (integrity.dependencies); the
threats room models the example system (threats.model) with time-limited acceptances of
the high threats no evidence here can mitigate. Nothing is hand-built.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from pathlib import Path

import pyotp
import yaml

from bastion.access import Principal, Role, authenticate, create_token
from bastion.core.types import Evidence
from bastion.core.workspace import Workspace
from bastion.governance import apply_config, load_config
from bastion.inventory import import_manifest
from bastion.manifest import load_manifest
from bastion.registry import VersionInfo, load_policy, set_policy
from tests.conftest import EXAMPLE_MANIFEST

EXAMPLES = EXAMPLE_MANIFEST.parent
POLICY = EXAMPLES / "gate-policy.yaml"
GOVERNANCE = EXAMPLES / "governance.yaml"
SIGNER = "release@bank.example"


def model_dir(root: Path, content: bytes = b"weights-v1") -> Path:
    d = root / f"model-{hashlib.sha256(content).hexdigest()[:12]}"
    d.mkdir(parents=True, exist_ok=True)
    (d / "model.bin").write_bytes(content)
    (d / "metadata.json").write_text('{"name": "credit-gbm"}')
    return d


def setup(ws: Workspace) -> None:
    import_manifest(ws, load_manifest(EXAMPLE_MANIFEST), source="test", actor="test")
    apply_config(ws, load_config(GOVERNANCE), actor="test")
    set_policy(ws, load_policy(POLICY), actor="test")


def approver(ws: Workspace, person: str, role: Role = Role.APPROVER) -> Principal:
    new = create_token(ws, name=person, role=role, actor="test")
    otp = pyotp.TOTP(new.totp_secret).now() if new.totp_secret else None
    return authenticate(ws, new.token, otp)


def ref_of(v: VersionInfo) -> str:
    """The subject name real checks use for a model: SYSTEM/MODEL (as the demo names it)."""
    return f"{v.system_id or 'credit-scoring'}/{v.model}"


def _pki_dir(ws: Workspace) -> Path:
    return ws.settings.home / "test-pki"


def sign_and_verify(
    ws: Workspace,
    path: Path,
    name: str,
    identity: str = SIGNER,
    allowed: str | None = None,
    hours: float = 1,
) -> Evidence:
    """Sign ``path`` with a certificate for ``identity`` from the workspace PKI, then verify
    it under a policy allowing ``allowed`` (default the signer); returns integrity.signature."""
    from bastion.integrity import (
        VerificationPolicy,
        record_pki_init,
        record_pki_issue,
        record_sign,
        record_verify,
    )

    record_pki_init(ws, organization="Test Bank", actor="test")
    cert = record_pki_issue(
        ws, identity, hours=hours, out_dir=_pki_dir(ws) / uuid.uuid4().hex, actor="test"
    )
    record_sign(
        ws,
        path,
        cert.key_path,
        name=name,
        actor="test",
        certificate=cert.cert_path,
        chain=[cert.chain_path],
    )
    policy = VerificationPolicy(
        allowed_identities=[allowed or identity], trust_roots=[str(cert.root_path)]
    )
    _res, ev = record_verify(ws, path, name=name, policy=policy, actor="test")
    return ev


def threat_model(ws: Workspace, *, accept_high: bool = True) -> Evidence:
    """A real threats.model run on the example; with ``accept_high`` its open high and
    critical threats are accepted for 30 days (suppressed, not mitigated)."""
    from bastion.threats import load_suppressions, model_threats, record_model

    manifest = load_manifest(EXAMPLE_MANIFEST)
    model = model_threats(manifest, workspace=ws)
    if accept_high:
        until = (dt.date.today() + dt.timedelta(days=30)).isoformat()
        entries = [
            {
                "rule": f["rule_id"],
                "element": f["element_id"] if f["flow_id"] is None else f["flow_id"],
                "justification": "Accepted by the risk owner until the control is in place.",
                "owner": "risk-office@bank.example",
                "expires": until,
            }
            for f in (x.to_dict() for x in model.findings)
            if f["status"] == "open" and f["severity"] in ("high", "critical")
        ]
        path = ws.settings.home / "accepted-threats.yaml"
        doc = {"apiVersion": "bastion/v1", "kind": "ThreatSuppressions", "suppressions": entries}
        path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        model = model_threats(
            manifest, workspace=ws, suppressions=load_suppressions(path, manifest)
        )
    return record_model(ws, model, manifest, actor="test")


def good_evidence(ws: Workspace, v: VersionInfo, identity: str = SIGNER) -> list[str]:
    """Every piece of evidence the tier-1 production gate asks for, from the real checks."""
    from bastion.integrity import record_scan, scan_dependencies, scan_path

    path = Path(str(v.source))
    name = ref_of(v)
    reqs = ws.settings.home / "requirements.txt"
    reqs.write_text("numpy==2.2.0\n", encoding="utf-8")
    return [
        sign_and_verify(ws, path, name, identity).id,
        record_scan(ws, scan_path(path), name=name, actor="test").id,
        scan_dependencies(ws, requirements=reqs, model=path, name=name, actor="test").id,
        threat_model(ws).id,
    ]


def critical_dependency_evidence(ws: Workspace, v: VersionInfo) -> Evidence:
    """integrity.dependencies about ``v`` from a real OSV match: a local OSV database with
    one critical advisory (CVSS 9.8) against a pinned requirement."""
    import json

    from bastion.integrity import scan_dependencies

    db = ws.settings.home / "osv-critical"
    db.mkdir(exist_ok=True)
    advisory = {
        "schema_version": "1.4.0",
        "id": "GHSA-test-crit-0001",
        "modified": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "summary": "Remote code execution when loading a model",
        "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": "modelloader"},
                "ranges": [
                    {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.0"}]}
                ],
            }
        ],
        "database_specific": {"severity": "CRITICAL"},
    }
    (db / "GHSA-test-crit-0001.json").write_text(json.dumps(advisory), encoding="utf-8")
    reqs = ws.settings.home / "requirements-vulnerable.txt"
    reqs.write_text("modelloader==1.0\n", encoding="utf-8")
    path = Path(str(v.source))
    return scan_dependencies(
        ws, osv_db=db, requirements=reqs, model=path, name=ref_of(v), actor="test"
    )
