"""ECS, CEF and RFC 5424 formatting, with escaping that keeps fields from being forged."""

from __future__ import annotations

import json
import re

import pytest

from bastion.core.errors import InputError
from bastion.monitor import (
    Actor,
    ApiActivity,
    DetectionFinding,
    Inference,
    InputMode,
    InputPolicy,
    ModelRef,
    Severity,
    to_cef,
    to_ecs,
    to_syslog,
)

MODEL = ModelRef("credit-gbm", "3", "sha256:" + "cd" * 32)


def _event(principal: str = "alice") -> dict[str, object]:
    return ApiActivity(
        actor=Actor(principal, client_ip="10.1.2.3"),
        operation="predict",
        inference=Inference(MODEL, inputs={"x": 1}, confidence=0.8),
        policy=InputPolicy(InputMode.RAW),
        time_ms=1_700_000_000_123,
        uid="e-1",
    ).to_ocsf()


def test_ecs_document() -> None:
    doc = to_ecs(_event())
    assert doc["@timestamp"] == "2023-11-14T22:13:20.123Z"
    assert doc["event"]["category"] == ["web", "api"] and doc["event"]["outcome"] == "success"
    assert doc["event"]["code"] == "600302" and doc["event"]["id"] == "e-1"
    assert doc["user"]["name"] == "alice" and doc["source"]["ip"] == "10.1.2.3"
    assert doc["bastion"]["ai"]["model"]["name"] == "credit-gbm"
    finding = DetectionFinding(
        "probing", "d-1", severity=Severity.HIGH, techniques=("AML.T0040",)
    ).to_ocsf()
    fd = to_ecs(finding)
    assert fd["event"]["kind"] == "alert" and fd["threat"]["technique"]["id"] == ["AML.T0040"]
    assert fd["rule"] == {"id": "d-1", "name": "probing"}


def test_cef_line() -> None:
    line = to_cef(_event())
    assert line.startswith("CEF:0|Bastion|Bastion|0.1.0|600302|predict|1|")
    assert "suser=alice" in line and "src=10.1.2.3" in line and "cs1=credit-gbm" in line
    assert "cfp1=0.8" in line and "\n" not in line


def test_cef_escaping_keeps_a_principal_from_forging_fields() -> None:
    line = to_cef(_event("eve suser=root\nCEF:0|forged|x"))
    assert "\n" not in line
    assert "suser=eve suser\\=root\\nCEF:0|forged|x" in line
    # exactly one unescaped suser= key
    assert len(re.findall(r"(?<!\\)suser=", line)) == 1
    header = DetectionFinding("a|b\\c", "d").to_ocsf()
    assert "|a\\|b\\\\c|" in to_cef(header)


def test_syslog_rfc5424() -> None:
    msg = to_syslog(_event(), hostname="gw-1", procid="42")
    # <PRI>1 TS HOST APP PROCID MSGID [SD] BOM MSG ; facility 13 * 8 + informational 6
    head, _, body = msg.partition("\ufeff")
    assert head.startswith("<110>1 2023-11-14T22:13:20.123Z gw-1 bastion 42 OCSF600302 ")
    assert '[ocsf@32473 class_uid="6003" type_uid="600302" severity_id="1"' in head
    assert json.loads(body)["class_uid"] == 6003
    crit = DetectionFinding("x", "d", severity=Severity.CRITICAL).to_ocsf()
    assert to_syslog(crit, facility=4, hostname="h").startswith("<34>1 ")  # 4*8 + crit 2


def test_syslog_structured_data_escaping() -> None:
    msg = to_syslog(_event('bob"] [evil@1 x="y'), hostname="host with space")
    head = msg.partition("\ufeff")[0]
    assert 'user="bob\\"\\] [evil@1 x=\\"y"' in head
    assert " host_with_space " in head  # header fields: printable ASCII, no spaces


def test_not_an_ocsf_event_is_refused() -> None:
    with pytest.raises(InputError, match="OCSF"):
        to_cef({"hello": "world"})
    with pytest.raises(InputError, match="facility"):
        to_syslog(_event(), facility=30)
