"""Incidents and playbooks (issue 12, section 4): real tokens revoked, a real model rolled
back to its last verified version, e-mail through a real local SMTP server, webhooks to a
real local HTTP server, every step and action in the timeline and the ledger."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from bastion.access import Principal, authenticate, create_token, list_tokens
from bastion.core.errors import AuthError, ConflictError, InputError, NotFoundError
from bastion.core.types import Severity
from bastion.core.workspace import Workspace
from bastion.governance import apply_config, create_change_request, load_config, vote
from bastion.incidents import (
    IncidentStatus,
    PlaybookError,
    RunOptions,
    add_note,
    assign,
    close_incident,
    complete_step,
    get_incident,
    get_playbook,
    is_quarantined,
    list_incidents,
    open_from_detection,
    open_incident,
    parse_playbook,
    playbooks_for,
    release_quarantine,
    run_playbook,
    shipped_playbooks,
    timeline_svg,
)
from bastion.monitor import DetectionEngine
from bastion.registry import VersionInfo, approve, get_version, promote, register_model
from tests.monitor.test_detections import T0, call
from tests.registry._helpers import GOVERNANCE, approver, good_evidence, model_dir, setup


def _register(ws: Workspace, tmp_path: Path, content: bytes = b"weights-v1") -> VersionInfo:
    return register_model(ws, "credit-gbm", model_dir(tmp_path, content), system="credit-scoring",
                          asset="credit-gbm", authors=["dana"], actor="dana")  # fmt: skip


def _clear(ws: Workspace, v: VersionInfo, sec: Principal, voters: dict[str, Principal]) -> None:
    """Everything the tier-1 production gate asks for: evidence, sign-off, the board."""
    good_evidence(ws, v)
    approve(ws, "credit-gbm", v.version, sec)
    cr = create_change_request(ws, title="promote", target=v.ref, target_digest=v.digest,
                               board_id="cab", requested_by="dana")  # fmt: skip
    for p in ("lee", "bo"):
        vote(ws, cr.id, voters[p], "approve")
    vote(ws, cr.id, sec, "approve")


class _Mail:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[_Mail, int]]:
    handler = _Mail()
    with socket.socket() as probe:  # a free port (the controller's ready check needs one)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    ctl = Controller(handler, hostname="127.0.0.1", port=port)
    ctl.start()
    try:
        yield handler, port
    finally:
        ctl.stop()


@pytest.fixture
def webhook() -> Iterator[tuple[list[dict[str, Any]], str, list[int]]]:
    got: list[dict[str, Any]] = []
    status = [204]

    class H(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            n = int(self.headers["Content-Length"])
            got.append(json.loads(self.rfile.read(n)))
            self.send_response(status[0])
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *a: Any) -> None:
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield got, f"http://127.0.0.1:{srv.server_address[1]}/hook", status
    finally:
        srv.shutdown()
        srv.server_close()


def test_shipped_playbooks_validate_and_cover_the_issue() -> None:
    ids = {p.id for p in shipped_playbooks()}
    assert {"model-compromise", "training-data-leakage", "adversarial-manipulation",
            "unauthorized-export", "decision-failure"} <= ids  # fmt: skip
    assert [p.id for p in playbooks_for("extraction")] == ["model-compromise"]
    assert [p.id for p in playbooks_for("weight_export")] == ["unauthorized-export"]
    assert [p.id for p in playbooks_for("drift_new_client")] == ["adversarial-manipulation"]
    for p in shipped_playbooks():
        assert p.steps and p.triggers


def test_incident_lifecycle_is_ledgered(ws: Workspace) -> None:
    inc = open_incident(ws, "Suspicious exports", kind="weight_export", severity="high",
                        owner="sam", actor="tester", params={"principal": "eve"},
                        links=[("event", "e-1"), ("evidence", "ev-9")])  # fmt: skip
    assert inc.status is IncidentStatus.OPEN and inc.links == (
        ("event", "e-1"),
        ("evidence", "ev-9"),
    )
    add_note(ws, inc.id, "eve is a contractor", actor="sam")
    assign(ws, inc.id, "lee", actor="sam")
    done = close_incident(ws, inc.id, resolution="export was authorised", actor="lee")
    assert done.status is IncidentStatus.CLOSED and done.resolution == "export was authorised"
    assert [t.kind for t in done.timeline] == ["opened", "note", "assigned", "closed"]
    seqs = [t.ledger_seq for t in done.timeline]
    kinds = [ws.ledger.verified_entry(s).kind for s in seqs if s is not None]  # type: ignore[union-attr]
    assert kinds == ["incidents.opened", "incidents.note", "incidents.assigned", "incidents.closed"]
    with pytest.raises(ConflictError, match="already closed"):
        close_incident(ws, inc.id, resolution="again", actor="lee")
    assert [i.id for i in list_incidents(ws, status="closed")] == [inc.id]
    assert list_incidents(ws, status="open") == []


def test_open_from_odd_detections(sqlite_ws: Workspace) -> None:
    ws = sqlite_ws
    (det,) = DetectionEngine(only=["denial-burst"]).run(
        [call("eve smith", T0 + i, ok=False) for i in range(5)]
    )
    inc = open_from_detection(ws, det.to_ocsf(), owner="sam", actor="m")
    assert inc.params["principal"] == "eve smith" and inc.kind == "denial_burst"
    assert ("detection", det.uid) in inc.links
    junk = {"class_uid": 2004, "finding_info": "not a mapping", "ai": [1, 2], "severity_id": "x"}
    with pytest.raises(InputError, match="names no kind"):
        open_from_detection(ws, junk, owner="sam", actor="m")
    with pytest.raises(InputError, match="printable"):
        open_incident(ws, "t", kind="manual", severity="low", owner="o", actor="a",
                      links=[("event", "a\nb")])  # fmt: skip


def test_bad_incident_input_is_refused(sqlite_ws: Workspace) -> None:
    ws = sqlite_ws
    with pytest.raises(InputError, match="severity must be one of"):
        open_incident(ws, "t", kind="manual", severity="urgent", owner="o", actor="a")
    with pytest.raises(InputError, match="kind"):
        open_incident(ws, "t", kind="Bad Kind", severity="low", owner="o", actor="a")
    with pytest.raises(InputError, match="link kind"):
        open_incident(ws, "t", kind="manual", severity="low", owner="o", actor="a",
                      links=[("bogus", "x")])  # fmt: skip
    with pytest.raises(NotFoundError):
        get_incident(ws, "nope")
    assert list_incidents(ws) == []  # nothing half-written


BAD = """
id: broken
title: t
triggers: [extraction]
steps:
  - id: a
    title: a
    owner: sam
    actions:
      - action: {action}
        with: {args}
"""


@pytest.mark.parametrize(
    ("action", "args", "message"),
    [
        ("launch_missiles", "{}", r"steps\.0\(a\)\.actions\.0.*unknown action 'launch_missiles'"),
        ("revoke_token", "{}", "missing argument"),
        ("revoke_token", "{token_id: x, colour: red}", "unknown argument"),
        ("revoke_token", '{token_id: "{attacker}"}', "placeholder.*attacker.*not declared"),
    ],
)
def test_bad_playbooks_are_refused(action: str, args: str, message: str) -> None:
    with pytest.raises(PlaybookError, match=message):
        parse_playbook(BAD.replace("{action}", action).replace("{args}", args))


def test_bad_playbook_triggers_and_deadlines() -> None:
    base = BAD.replace("{action}", "revoke_token").replace("{args}", "{token_id: x}")
    with pytest.raises(PlaybookError, match="unknown trigger"):
        parse_playbook(base.replace("[extraction]", "[sunspots]"))
    with pytest.raises(PlaybookError, match="positive duration"):
        parse_playbook(base.replace("owner: sam", "owner: sam\n    deadline: soon"))
    with pytest.raises(PlaybookError, match="escalation"):
        parse_playbook(base.replace("owner: sam", "owner: {escalation: marketing}"))
    with pytest.raises(PlaybookError, match="not valid YAML"):
        parse_playbook("id: [")
    with pytest.raises(PlaybookError, match="no playbook"):
        get_playbook("nonexistent")


def test_denial_burst_playbook_revokes_the_real_token(
    ws: Workspace, smtp: tuple[_Mail, int], webhook: tuple[list[dict[str, Any]], str, list[int]]
) -> None:
    apply_config(ws, load_config(GOVERNANCE), actor="test")
    mallory = create_token(ws, name="mallory", role="engineer", actor="admin")
    # the detection engine finds the burst; the incident is opened from it
    (det,) = DetectionEngine(only=["denial-burst"]).run(
        [call("mallory", T0 + i * 100, ok=False) for i in range(5)]
    )
    inc = open_from_detection(ws, det.to_dict(), owner="sam", actor="monitor",
                              params={"token_id": mallory.info.id})  # fmt: skip
    assert inc.kind == "denial_burst" and inc.severity == "medium"
    assert inc.params["principal"] == "mallory"
    assert sum(1 for k, _ in inc.links if k == "event") == 5
    mail, port = smtp
    hooks, url, _ = webhook
    book = parse_playbook(
        get_playbook("denial-burst").model_dump_json(by_alias=True).replace(
            '"manual":true', '"manual":false,"actions":['
            f'{{"action":"notify_email","with":{{"to":"soc@bank.example"}}}},'
            f'{{"action":"notify_webhook","with":{{"url":"{url}"}}}}]', 1
        ).replace('"actions":[],"manual":false', '"manual":false')
    )  # fmt: skip
    run = run_playbook(ws, inc.id, book, actor="sam",
                       options=RunOptions(smtp_host="127.0.0.1", smtp_port=port))  # fmt: skip
    assert run.ok, run.to_dict()
    assert [r.action for r in run.results] == ["revoke_token", "notify_email", "notify_webhook"]
    with pytest.raises(AuthError):
        authenticate(ws, mallory.token)
    assert next(t for t in list_tokens(ws) if t.id == mallory.info.id).revoked
    (msg,) = mail.messages
    assert msg["To"] == "soc@bank.example" and "[medium]" in msg["Subject"]
    assert json.loads(msg.get_payload(decode=True))["incident"] == inc.id
    assert hooks[0]["incident"] == inc.id and hooks[0]["step"] == "confirm"
    after = get_incident(ws, inc.id)
    assert after.status is IncidentStatus.CONTAINED
    steps = {s.step: s for s in after.steps}
    # owners and deadlines from the escalation matrix: medium x security -> security-team, 2d
    assert steps["contain"].owners == ("security-team",)
    assert steps["contain"].deadline is not None
    delta = steps["contain"].deadline - after.created_at
    assert timedelta(days=2) - timedelta(minutes=1) < delta <= timedelta(days=2, minutes=1)
    kinds = [e.kind for e in ws.ledger.entries(start=0, limit=10_000)]
    assert "access.token_revoked" in kinds
    assert kinds.count("incidents.action") == 3 and "incidents.playbook_finished" in kinds


def test_failed_actions_are_recorded_not_hidden(
    sqlite_ws: Workspace, webhook: tuple[list[dict[str, Any]], str, list[int]]
) -> None:
    ws = sqlite_ws
    apply_config(ws, load_config(GOVERNANCE), actor="test")
    _, url, status = webhook
    status[0] = 500
    book = parse_playbook(f"""
id: probe
title: t
triggers: [manual]
parameters: [token_id]
steps:
  - id: a
    title: contain
    owner: sam
    actions:
      - action: revoke_token
        with: {{token_id: "{{token_id}}"}}
      - action: notify_email
        with: {{to: soc@bank.example}}
      - action: notify_webhook
        with: {{url: "{url}"}}
      - action: notify_webhook
        with: {{url: "http://example.org/hook"}}
      - action: suspend_grant
        with: {{grant_id: g-1}}
""")
    inc = open_incident(ws, "t", kind="manual", severity="low", owner="sam", actor="t",
                        params={"token_id": "tok-does-not-exist"})  # fmt: skip
    run = run_playbook(ws, inc.id, book, actor="sam")
    assert not run.ok
    why = {r.action + str(i): r.detail for i, r in enumerate(run.results)}
    assert "not found" in why["revoke_token0"]
    assert "no SMTP relay configured" in why["notify_email1"]
    assert "answered HTTP 500" in why["notify_webhook2"]
    assert "plain http only to a loopback" in why["notify_webhook3"]
    assert "no grant 'g-1'" in why["suspend_grant4"]
    after = get_incident(ws, inc.id)
    assert after.status is IncidentStatus.OPEN  # nothing was contained
    assert [s.status for s in after.steps] == ["failed"]
    with pytest.raises(InputError, match="needs incident parameter"):
        run_playbook(ws, open_incident(ws, "u", kind="manual", severity="low", owner="o",
                                       actor="t").id, book, actor="sam")  # fmt: skip


def test_escalation_matrix_is_required_before_any_step(sqlite_ws: Workspace) -> None:
    inc = open_incident(sqlite_ws, "t", kind="denial_burst", severity="low", owner="o",
                        actor="a", params={"token_id": "x"})  # fmt: skip
    size = sqlite_ws.ledger.size()
    with pytest.raises(ConflictError, match="no escalation matrix"):
        run_playbook(sqlite_ws, inc.id, get_playbook("denial-burst"), actor="sam")
    assert sqlite_ws.ledger.size() == size


def test_manual_steps_complete_with_a_note(sqlite_ws: Workspace) -> None:
    ws = sqlite_ws
    apply_config(ws, load_config(GOVERNANCE), actor="test")
    tok = create_token(ws, name="x", role="viewer", actor="admin")
    inc = open_incident(ws, "t", kind="denial_burst", severity=Severity.CRITICAL, owner="o",
                        actor="a", params={"token_id": tok.info.id})  # fmt: skip
    run_playbook(ws, inc.id, get_playbook("denial-burst"), actor="sam")
    pending = [s for s in get_incident(ws, inc.id).steps if s.status == "pending"]
    assert [s.step for s in pending] == ["confirm"]
    assert pending[0].owners == ("ciso", "security-oncall")  # critical x security
    with pytest.raises(InputError, match="note"):
        complete_step(ws, inc.id, "confirm", actor="sam", note=" ")
    done = complete_step(ws, inc.id, "confirm", actor="sam", note="owner confirmed theft")
    assert [s.status for s in done.steps] == ["done", "done"]
    assert done.timeline[-1].kind == "step_completed" and done.timeline[-1].data["late"] is False
    with pytest.raises(NotFoundError):
        complete_step(ws, inc.id, "confirm", actor="sam", note="again")
    svg = timeline_svg(get_incident(ws, inc.id))
    assert svg.startswith("<?xml") and "confirm (ciso, security-oncall)" in svg
    assert "#2e7d32" in svg  # completed on time: green
    assert svg == timeline_svg(get_incident(ws, inc.id))  # reproducible


def test_model_compromise_rolls_back_quarantines_revokes_and_freezes(
    sqlite_ws: Workspace, tmp_path: Path
) -> None:
    ws = sqlite_ws
    setup(ws)  # the example system, governance file (escalation matrix) and gate policy
    sec = approver(ws, "sam")
    voters = {p: approver(ws, p) for p in ("lee", "bo")}
    v1 = _register(ws, tmp_path)
    _clear(ws, v1, sec, voters)
    assert promote(ws, "credit-gbm", "1", "production", actor="dana").promoted
    v2 = _register(ws, tmp_path, b"retrained")
    _clear(ws, v2, sec, voters)
    assert promote(ws, "credit-gbm", "2", "production", actor="dana").promoted
    attacker = create_token(ws, name="scraper", role="viewer", actor="admin")
    log = tmp_path / "events.jsonl"
    log.write_text('{"class_uid": 6003}\n')
    inc = open_incident(ws, "Extraction of credit-gbm", kind="extraction", severity="critical",
                        owner="sam", actor="monitor",
                        params={"model": "credit-gbm", "version": "2",
                                "token_id": attacker.info.id, "event_log": str(log)})  # fmt: skip
    run = run_playbook(ws, inc.id, get_playbook("model-compromise"), actor="sam")
    assert run.ok, run.to_dict()
    assert get_version(ws, "credit-gbm", "1").stage.value == "production"
    assert get_version(ws, "credit-gbm", "2").stage.value == "archived"
    assert is_quarantined(ws, "credit-gbm", "2") and not is_quarantined(ws, "credit-gbm", "1")
    with pytest.raises(AuthError):
        authenticate(ws, attacker.token)
    after = get_incident(ws, inc.id)
    (artifact,) = [r for k, r in after.links if k == "artifact"]
    steps = {s.step: s for s in after.steps}
    assert steps["contain"].owners == ("ciso", "security-oncall")
    assert steps["legal"].owners == ("general-counsel",) and steps["legal"].status == "pending"
    freeze = next(r for r in run.results if r.action == "freeze_evidence")
    assert freeze.data["artifacts"][0]["artifact"] == artifact
    release_quarantine(ws, "credit-gbm", "2", actor="sam", reason="cleared after review")
    assert not is_quarantined(ws, "credit-gbm", "2")
    assert ws.ledger.verify().ok


def test_suspend_grant_revokes_the_vendor_grant(sqlite_ws: Workspace) -> None:
    """The access room's just-in-time grant, suspended by a playbook action (wired)."""
    from bastion.access.policy import approve_grant, get_grant, request_grant
    from tests._otp import fresh

    ws = sqlite_ws
    g = request_grant(ws, "vendor:acme", "read-logs", "endpoint:scoring-api",
                      "investigate ticket INC-4411 latency", "2h", actor="alice")  # fmt: skip
    t = create_token(ws, name="bob", role="approver", actor="test")
    approve_grant(ws, g.id, authenticate(ws, t.token, fresh(t.totp_secret)))
    assert get_grant(ws, g.id).state() == "active"
    book = parse_playbook("""
id: cut-vendor
title: t
triggers: [manual]
parameters: [grant_id]
steps:
  - id: a
    title: suspend the vendor's access
    owner: sam
    actions:
      - action: suspend_grant
        with: {grant_id: "{grant_id}", reason: "vendor credential leaked"}
""")
    inc = open_incident(ws, "vendor leak", kind="manual", severity="high", owner="sam",
                        actor="sam", params={"grant_id": g.id})  # fmt: skip
    run = run_playbook(ws, inc.id, book, actor="sam")
    assert run.ok, run.to_dict()
    after = get_grant(ws, g.id)
    assert after.status == "revoked" and after.revoked_by is not None and "sam" in after.revoked_by
    again = run_playbook(ws, inc.id, book, actor="sam")
    assert not again.ok and "nothing to revoke" in again.results[0].detail


def test_an_unwired_hook_fails_closed(
    sqlite_ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bastion.incidents import _run

    monkeypatch.delitem(_run._HOOKS, "suspend_grant")
    book = parse_playbook("""
id: x
title: t
triggers: [manual]
steps:
  - id: a
    title: a
    owner: sam
    actions:
      - action: suspend_grant
        with: {grant_id: g-1}
""")
    inc = open_incident(sqlite_ws, "t", kind="manual", severity="low", owner="o", actor="a")
    (res,) = run_playbook(sqlite_ws, inc.id, book, actor="sam").results
    assert not res.ok and "no room offers suspend_grant" in res.detail
