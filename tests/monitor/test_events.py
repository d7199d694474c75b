"""OCSF events: class and type ids, the bastion_ai extension, input policies."""

from __future__ import annotations

import json

import pytest

from bastion.core.errors import InputError
from bastion.core.workspace import Workspace
from bastion.monitor import (
    EXTENSION,
    Actor,
    ApiActivity,
    Authentication,
    DetectionFinding,
    Inference,
    InputMode,
    InputPolicy,
    ModelRef,
    Severity,
    input_hash_key,
)

KEY = b"k" * 32
MODEL = ModelRef("credit-gbm", "3", "sha256:" + "ab" * 32)


def _inference(**kw: object) -> ApiActivity:
    return ApiActivity(
        actor=Actor("alice", token_id="tok1", client_ip="10.0.0.7"),
        operation="predict",
        inference=Inference(
            MODEL,
            inputs={"income": 52000, "name": "Alice Smith"},
            output="approve",
            confidence=0.91,
            latency_ms=3.2,
            obligations=("explain",),
        ),
        policy=InputPolicy(InputMode.HASH, key=KEY),
        time_ms=1_700_000_000_000,
        **kw,  # type: ignore[arg-type]
    )


def test_api_activity_is_ocsf_6003_with_the_ai_extension() -> None:
    ev = _inference().to_ocsf()
    assert ev["class_uid"] == 6003 and ev["category_uid"] == 6
    assert ev["type_uid"] == 600302 and ev["activity_id"] == 2
    assert ev["metadata"]["version"] == "1.3.0"
    assert ev["metadata"]["extensions"] == [dict(EXTENSION)]
    assert ev["api"]["operation"] == "predict"
    assert ev["actor"]["user"] == {"name": "alice", "uid": "tok1"}
    assert ev["src_endpoint"]["ip"] == "10.0.0.7"
    assert ev["status_id"] == 1 and ev["time"] == 1_700_000_000_000
    ai = ev["ai"]
    assert ai["model"]["digest"] == MODEL.digest and ai["confidence"] == 0.91
    assert ai["latency_ms"] == 3.2 and ai["obligations"] == ["explain"]
    json.dumps(ev)  # serializable as is


def test_authentication_and_detection_finding_classes() -> None:
    auth = Authentication(Actor("bob"), ok=False, status_detail="bad token").to_ocsf()
    assert (auth["class_uid"], auth["type_uid"], auth["status_id"]) == (3002, 300201, 2)
    assert auth["user"]["name"] == "bob"
    f = DetectionFinding(
        "model extraction suspected", "det-1", severity=Severity.HIGH,
        techniques=("AML.T0024.002",), actor=Actor("mallory"), model=MODEL,
    ).to_ocsf()  # fmt: skip
    assert (f["class_uid"], f["category_uid"], f["type_uid"]) == (2004, 2, 200401)
    assert f["finding_info"]["attacks"][0]["technique"] == {
        "uid": "AML.T0024.002",
        "name": "Extract AI Model",
    }
    assert f["severity_id"] == 4


def test_unknown_atlas_technique_is_refused() -> None:
    with pytest.raises(InputError, match="ATLAS"):
        DetectionFinding("x", "d", techniques=("T9999",)).to_ocsf()


def test_hash_mode_keeps_no_raw_input_and_is_keyed() -> None:
    ev = _inference().to_ocsf()
    text = json.dumps(ev)
    assert "Alice Smith" not in text and "52000" not in text
    inp = ev["ai"]["input"]
    assert inp["mode"] == "hash" and inp["digest"].startswith("hmac-sha256:")
    other = ApiActivity(
        actor=Actor("alice"), operation="predict",
        inference=Inference(MODEL, inputs={"income": 52000, "name": "Alice Smith"}),
        policy=InputPolicy(InputMode.HASH, key=b"z" * 32),
    ).to_ocsf()  # fmt: skip
    assert other["ai"]["input"]["digest"] != inp["digest"]  # another key, another hash
    again = _inference().to_ocsf()["ai"]["input"]
    assert again["digest"] == inp["digest"]  # deterministic within a key


def test_raw_and_mask_modes() -> None:
    raw = ApiActivity(
        actor=Actor("a"), operation="predict",
        inference=Inference(MODEL, inputs={"name": "Alice"}), policy=InputPolicy(InputMode.RAW),
    ).to_ocsf()  # fmt: skip
    assert raw["ai"]["input"] == {"mode": "raw", "features": {"name": "Alice"}}
    masked = ApiActivity(
        actor=Actor("a"), operation="predict",
        inference=Inference(MODEL, inputs={"name": "Alice", "age": 41}),
        policy=InputPolicy(InputMode.MASK, masker=lambda s: "*" * len(s)),
    ).to_ocsf()  # fmt: skip
    assert masked["ai"]["input"] == {"mode": "mask", "features": {"name": "*****", "age": 41}}


def test_policies_need_their_key_or_masker() -> None:
    with pytest.raises(InputError, match="key"):
        InputPolicy(InputMode.HASH)
    with pytest.raises(InputError, match="masker"):
        InputPolicy(InputMode.MASK)
    with pytest.raises(InputError, match="input policy"):
        ApiActivity(actor=Actor("a"), operation="predict", inference=Inference(MODEL)).to_ocsf()


def test_fields_are_validated() -> None:
    with pytest.raises(InputError, match="confidence"):
        ApiActivity(
            actor=Actor("a"), operation="predict",
            inference=Inference(MODEL, confidence=1.5), policy=InputPolicy(InputMode.RAW),
        ).to_ocsf()  # fmt: skip
    with pytest.raises(InputError, match="longer"):
        ApiActivity(actor=Actor("a" * 5000), operation="predict").to_ocsf()


def test_input_hash_key_comes_from_the_workspace_keyring(sqlite_ws: Workspace) -> None:
    k = input_hash_key(sqlite_ws)
    assert len(k) == 32 and k != sqlite_ws.keyring.secret()
    assert input_hash_key(sqlite_ws) == k


def test_mask_mode_takes_the_privacy_rooms_operators() -> None:
    from bastion.privacy.deid import HashOp, MaskOp

    policy = InputPolicy.masking(
        MaskOp(keep_last=2), per_feature={"email": HashOp(b"q" * 32, length=16)}
    )
    ev = ApiActivity(
        actor=Actor("a"), operation="predict", policy=policy,
        inference=Inference(MODEL, inputs={"name": "Alice", "email": "a@x.org", "n": 3}),
    ).to_ocsf()  # fmt: skip
    feats = ev["ai"]["input"]["features"]
    assert feats["name"] == "***ce" and feats["n"] == 3
    assert len(feats["email"]) == 16 and "a@x.org" not in json.dumps(ev)


def test_mask_mode_without_a_masker_for_a_feature_redacts_it() -> None:
    policy = InputPolicy.masking(per_feature={"name": lambda s: s[0] + "***"})
    ev = ApiActivity(
        actor=Actor("a"), operation="predict", policy=policy,
        inference=Inference(MODEL, inputs={"name": "Alice", "ssn": "078-05-1120"}),
    ).to_ocsf()  # fmt: skip
    assert ev["ai"]["input"]["features"] == {"name": "A***", "ssn": "[redacted]"}


def test_hashed_policy_from_the_workspace(sqlite_ws: Workspace) -> None:
    p = InputPolicy.hashed(sqlite_ws)
    assert p.mode is InputMode.HASH and p.key == input_hash_key(sqlite_ws)
