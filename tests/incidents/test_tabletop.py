"""Tabletop exercises (issue 12, section 6): a scenario's injects arrive on the session
clock, decisions are ledgered and timed against the playbook's deadlines, nothing is
executed, and the after-action report is recorded as ``incidents.tabletop`` evidence."""

from __future__ import annotations

from pathlib import Path

import pytest

from bastion.access import create_token, list_tokens
from bastion.core.errors import InputError, NotFoundError
from bastion.core.types import Verdict
from bastion.core.workspace import Workspace
from bastion.governance import apply_config, load_config
from bastion.incidents import (
    advance,
    after_action,
    decide,
    get_scenario,
    parse_scenario,
    shipped_scenarios,
    start_session,
    tabletop_session,
    tabletop_svg,
)
from tests.registry._helpers import GOVERNANCE

PLAYBOOK = """
id: drill
title: Drill
triggers: [extraction]
severity: high
steps:
  - {id: contain, title: Cut the attacker off, owner: soc, deadline: 30m,
     actions: [{action: revoke_token, with: {token_id: "{token_id}"}}]}
  - {id: legal, title: Legal review, owner: counsel, deadline: 2h, manual: true}
  - {id: lessons, title: Lessons learned, owner: ciso, deadline: 1d, manual: true}
parameters: [token_id]
"""


def _scenario(tmp_path: Path, token_id: str = "tok-x") -> str:
    pb = tmp_path / "drill.yaml"
    pb.write_text(PLAYBOOK)
    sc = tmp_path / "scenario.yaml"
    sc.write_text(f"""
id: drill-run
title: Drill run
playbook: {pb}
speed: 1
params: {{token_id: {token_id}}}
injects:
  - {{at: 0s, kind: extraction, title: Extraction from mallory, principal: mallory,
     techniques: [AML.T0024]}}
  - {{at: 40m, kind: report, title: Weights on a paste site, message: a researcher wrote}}
""")
    return str(sc)


def test_shipped_scenarios_validate_and_name_shipped_playbooks() -> None:
    from bastion.incidents import get_playbook

    got = shipped_scenarios()
    assert {s.id for s in got} >= {"extraction-then-leak", "weights-export"}
    for s in got:
        assert get_playbook(s.playbook).id == s.playbook


@pytest.mark.parametrize(
    ("doc", "needle"),
    [
        ("id: x\ntitle: t\nplaybook: p\ninjects: []\n", "injects"),
        ("id: x\ntitle: t\nplaybook: p\ninjects: [{at: 5m, kind: extraction, title: a}]\n",
         "first inject"),
        ("id: x\ntitle: t\nplaybook: p\ninjects: [{at: 0s, kind: teleport, title: a}]\n",
         "unknown inject kind"),
        ("id: x\ntitle: t\nplaybook: p\ninjects: [{at: 0s, kind: extraction, title: a},"
         " {at: 1h, kind: report, title: b}, {at: 5m, kind: report, title: c}]\n", "decrease"),
        ("id: x\ntitle: t\nplaybook: p\nspeed: 0\ninjects: [{at: 0s, kind: probing, title: a}]\n",
         "speed"),
        ("id: x\ntitle: t\nplaybook: p\nextra: 1\ninjects: [{at: 0s, kind: probing, title: a}]\n",
         "extra"),
    ],
)  # fmt: skip
def test_bad_scenarios_are_refused_with_the_field(doc: str, needle: str) -> None:
    with pytest.raises(InputError) as exc:
        parse_scenario(doc)
    assert needle in exc.value.message


def test_exercise_times_decisions_against_deadlines(sqlite_ws: Workspace, tmp_path: Path) -> None:
    ws = sqlite_ws
    tok = create_token(ws, name="mallory", role="engineer", actor="admin")
    sc = get_scenario(_scenario(tmp_path, tok.info.id))
    s = start_session(ws, sc, actor="facilitator")
    assert s.incident.params["exercise"] is True
    assert s.incident.title.startswith("[exercise] ")
    assert [st.step for st in s.steps] == ["contain", "legal", "lessons"]
    assert [st.deadline_s for st in s.steps] == [1800, 7200, 86400]
    assert [i["index"] for i in s.injects] == [0] and s.pending_injects == 1
    # nothing executed: the token the playbook would revoke is still live
    assert not next(t for t in list_tokens(ws) if t.id == tok.info.id).revoked
    # the injected detection is in the queue, marked as an exercise
    det = ws.ledger.entries(kind="monitor.detection", newest_first=True, limit=5)
    assert det[0].data["exercise"] is True and det[0].data["source"] == f"tabletop:{s.id}"

    s = decide(ws, s.id, "revoke partner token, roll back", actor="alice", step="contain")
    assert s.steps[0].status == "met" and s.steps[0].decided_s is not None
    s = advance(ws, s.id, "45m", actor="facilitator")
    assert s.clock_s >= 2700
    assert [i["kind"] for i in s.injects] == ["extraction", "report"] and s.pending_injects == 0
    injects = ws.ledger.entries(kind="incidents.tabletop_inject", limit=10)
    assert [e.actor for e in injects] == ["facilitator", "scenario:drill-run"]
    tabletop_session(ws, s.id)  # reading again delivers nothing twice
    assert len(ws.ledger.entries(kind="incidents.tabletop_inject", limit=10)) == 2
    s = advance(ws, s.id, "2h", actor="facilitator")  # past legal's deadline: missed
    assert s.steps[1].status == "missed" and s.steps[2].status == "open"
    s = decide(ws, s.id, "call outside counsel", actor="bob", step="legal")
    assert s.steps[1].status == "late"
    s = decide(ws, s.id, "brief the board", actor="carol")
    assert [(d["actor"], d["step"]) for d in s.decisions] == [
        ("alice", "contain"),
        ("bob", "legal"),
        ("carol", None),
    ]
    decisions = ws.ledger.entries(kind="incidents.tabletop_decision", limit=10)
    assert [e.actor for e in decisions] == ["alice", "bob", "carol"]
    assert decisions[1].data["on_time"] is False and decisions[0].data["on_time"] is True

    rep = after_action(ws, s.id, actor="facilitator")
    assert rep.counts == {"met": 1, "late": 1, "missed": 0, "open": 1}
    assert rep.evidence is not None and rep.evidence.verdict is Verdict.WARN
    assert rep.evidence.check_id == "incidents.tabletop"
    ev = ws.evidence.get(rep.evidence.id)
    assert ev.data["late"] == 1 and ev.data["session"] == s.id
    assert any("legal" in g and "after its deadline" in g for g in rep.gaps)
    assert any("not tied to a playbook step" in g for g in rep.gaps)
    md = rep.markdown()
    assert "| contain: Cut the attacker off | soc | T+30m |" in md
    assert "inject (report): Weights on a paste site" in md
    page = rep.html()
    assert "<td>late</td>" in page and "<svg" in page and "<?xml" not in page
    svg = tabletop_svg(rep.session)
    assert svg.lstrip().startswith("<?xml") and "contain (soc)" in svg and "legal (counsel)" in svg


def test_a_missed_step_fails_the_exercise(sqlite_ws: Workspace, tmp_path: Path) -> None:
    ws = sqlite_ws
    s = start_session(ws, get_scenario(_scenario(tmp_path)), actor="f")
    advance(ws, s.id, "2d", actor="f")
    rep = after_action(ws, s.id, actor="f")
    assert rep.counts["missed"] == 3 and rep.evidence is not None
    assert rep.evidence.verdict is Verdict.FAIL


def test_decisions_are_checked(sqlite_ws: Workspace, tmp_path: Path) -> None:
    ws = sqlite_ws
    s = start_session(ws, get_scenario(_scenario(tmp_path)), actor="f")
    with pytest.raises(InputError, match="not in playbook"):
        decide(ws, s.id, "x", actor="a", step="teleport")
    with pytest.raises(InputError, match="empty"):
        decide(ws, s.id, "  ", actor="a")
    with pytest.raises(InputError):
        advance(ws, s.id, "-5m", actor="f")
    with pytest.raises(NotFoundError):
        tabletop_session(ws, "no-such-session")
    assert tabletop_session(ws, s.id).decisions == ()


def test_shipped_scenario_takes_deadlines_from_the_escalation_matrix(
    sqlite_ws: Workspace,
) -> None:
    ws = sqlite_ws
    apply_config(ws, load_config(GOVERNANCE), actor="test")
    s = start_session(ws, get_scenario("extraction-then-leak"), actor="f", speed=1)
    assert s.playbook == "model-compromise" and s.speed == 1
    assert [st.step for st in s.steps] == ["contain", "preserve", "assess", "legal"]
    assert all(st.owners for st in s.steps) and s.steps[1].deadline_s == 4 * 3600
