"""The console pages of the threats, risk and integrity rooms, through TestClient.

The workspace holds the credit-scoring example: its threats recorded, its risks registered
from them, the example's scenarios simulated with --record, and the example's trained model
registered, signed, verified and scanned.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from bastion.core.types import Evidence
from bastion.manifest import load_manifest
from tests.e2e import EXAMPLE, SYSTEM, Demo, build_demo

SCENARIOS = EXAMPLE.parent / "scenarios.yaml"
TRAIN = EXAMPLE.parent / "train.py"
BASE = "http://testserver"
SAME_ORIGIN = {"Origin": BASE}


@dataclass(frozen=True)
class SecurityDemo:
    """The console demo plus the evidence the security pages show."""

    demo: Demo
    simulation: Evidence
    sign: Evidence
    verify: Evidence
    scan: Evidence
    risk_id: str
    model: str
    version: str


def _write_key(dir_: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    priv, pub = dir_ / "signer.key", dir_ / "signer.pub"
    priv.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    os.chmod(priv, 0o600)
    pub.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return priv, pub


def _train(out: Path) -> Path:
    spec = importlib.util.spec_from_file_location("credit_scoring_train", TRAIN)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    try:
        spec.loader.exec_module(mod)
        mod.build(out, n_applicants=300, seed=7)
    finally:
        sys.modules.pop(spec.name, None)
    return out / "models" / "credit-gbm"


def build_security_demo(home: Path) -> SecurityDemo:
    from bastion.integrity import record_scan, record_sign, record_verify, scan_path
    from bastion.registry import register_model
    from bastion.risk import load_scenarios, record_simulation, register_from_threats, simulate
    from bastion.threats import record_model, system_threats

    demo = build_demo(home / "ws")
    ws = demo.ws
    model = system_threats(ws, SYSTEM)
    record_model(ws, model, actor="test")
    manifest = load_manifest(EXAMPLE)
    risks = register_from_threats(ws, manifest, [f.to_dict() for f in model.findings], actor="t")
    res = simulate(load_scenarios(SCENARIOS), iterations=4000, seed=7)
    record_simulation(ws, res, actor="test")
    (simulation,) = ws.evidence.list(_query("risk.simulation"))
    model_dir = _train(home / "train")
    v = register_model(ws, "credit-gbm", model_dir, system=SYSTEM, asset="credit-gbm", actor="t")
    priv, pub = _write_key(home)
    sig = home / "credit-gbm.sig"
    _, sign = record_sign(ws, model_dir, priv, name="credit-gbm", signature_path=sig, actor="t")
    _, verify = record_verify(ws, model_dir, [sig], name="credit-gbm", public_keys=[pub], actor="t")
    scan = record_scan(ws, scan_path(model_dir), name="credit-gbm", actor="t")
    return SecurityDemo(demo, simulation, sign, verify, scan, risks[0].id, v.model, v.version)


def _query(check_id: str) -> object:
    from bastion.core.evidence import EvidenceQuery

    return EvidenceQuery(check_id=check_id, limit=10)
