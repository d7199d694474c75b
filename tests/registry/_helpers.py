"""Shared builders for registry tests: a tiny model directory, evidence, approvers."""

from __future__ import annotations

from pathlib import Path

import pyotp

from bastion.access import Principal, Role, authenticate, create_token
from bastion.core.types import Finding, Severity, Subject, Verdict
from bastion.core.workspace import Workspace
from bastion.governance import apply_config, load_config
from bastion.inventory import import_manifest
from bastion.manifest import load_manifest
from bastion.registry import VersionInfo, load_policy, set_policy
from tests.conftest import EXAMPLE_MANIFEST

EXAMPLES = EXAMPLE_MANIFEST.parent
POLICY = EXAMPLES / "gate-policy.yaml"
GOVERNANCE = EXAMPLES / "governance.yaml"


def model_dir(root: Path, content: bytes = b"weights-v1") -> Path:
    d = root / f"model-{content.hex()[:12]}"
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


def good_evidence(ws: Workspace, v: VersionInfo, signers: list[str] | None = None) -> list[str]:
    subj = Subject("model", v.ref, digest=v.digest)
    ids = [
        ws.evidence.record(
            check_id="integrity.signature",
            subject=subj,
            verdict=Verdict.PASS,
            data={"signers": signers or ["release@bank.example"], "manifest_digest": v.digest},
        ).id,
        ws.evidence.record(check_id="integrity.scan", subject=subj, verdict=Verdict.PASS).id,
        ws.evidence.record(
            check_id="integrity.dependencies",
            subject=subj,
            verdict=Verdict.WARN,
            findings=[Finding("GHSA-x", "old numpy", Severity.HIGH, "upgrade")],
        ).id,
    ]
    from bastion.inventory import get_system

    sysd = get_system(ws, "credit-scoring").digest
    ids.append(
        ws.evidence.record(
            check_id="threats.model",
            subject=Subject("system", "credit-scoring", digest=sysd),
            verdict=Verdict.WARN,
            findings=[Finding("T1", "prompt injection", Severity.MEDIUM, "mitigate")],
            data={"unmitigated": {"medium": 1}},
        ).id
    )
    return ids
