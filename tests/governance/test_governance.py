"""Governance: the file, role transitions and access reviews, RACI, votes, escalation."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from bastion.access import Principal, Role
from bastion.core.errors import ConflictError, InputError, NotFoundError, PermissionDeniedError
from bastion.core.types import Severity
from bastion.core.workspace import Workspace
from bastion.governance import (
    CrStatus,
    apply_config,
    complete_access_review,
    create_change_request,
    escalation_for,
    get_board,
    get_change_request,
    get_person,
    grant_access,
    list_raci,
    load_config,
    parse_config,
    raci_for,
    set_raci,
    start_access_review,
    tally,
    transition_roles,
    vote,
)
from tests.registry._helpers import GOVERNANCE, approver


def _p(name: str, mfa: bool = True) -> Principal:
    return Principal("t" + name, name, Role.APPROVER, mfa_verified=mfa)


def test_apply_is_idempotent_and_ledgered(ws: Workspace) -> None:
    cfg = load_config(GOVERNANCE)
    s1 = apply_config(ws, cfg, actor="test")
    assert sorted(s1["people_added"]) == ["bo", "dana", "lee", "rui", "sam"]
    assert s1["escalation_version"] == 1
    s2 = apply_config(ws, cfg, actor="test")
    assert s2["people_added"] == [] and s2["escalation_version"] == 1
    assert raci_for(ws, "system", "credit-scoring")["security_champion"] == "sam"
    kinds = {e.kind for e in ws.ledger.entries(limit=200)}
    assert {
        "governance.person_added",
        "governance.raci_set",
        "governance.board_set",
        "governance.escalation_matrix_set",
        "governance.roles_set",
    } <= kinds


def test_bad_files_name_the_entry() -> None:
    text = GOVERNANCE.read_text()
    with pytest.raises(InputError, match=r"people \(id: dana\): role 'wizard'"):
        parse_config(
            text.replace("roles: [data_science], grants", "roles: [wizard], grants", 1), "g.yaml"
        )
    gap = "\n".join(ln for ln in text.splitlines() if "domain: security, notify: [ciso" not in ln)
    with pytest.raises(InputError, match="does not cover critical x security"):
        parse_config(gap, "g.yaml")
    dup = text.replace("{severity: [low], domain: legal", "x").replace(
        "{severity: [critical], domain: security", "{severity: [critical, high], domain: security"
    )
    with pytest.raises(InputError, match="both cover high x security"):
        parse_config(dup, "g.yaml")
    with pytest.raises(InputError, match="quorum 9 exceeds"):
        parse_config(text.replace("quorum: 3", "quorum: 9"), "g.yaml")
    with pytest.raises(InputError, match="Extra inputs"):
        parse_config(text.replace("kind: Governance", "kind: Governance\nsurprise: 1"), "g.yaml")


def test_role_transition_review_revokes_what_the_new_role_should_not_keep(ws: Workspace) -> None:
    apply_config(ws, load_config(GOVERNANCE), actor="test")
    grant_access(ws, "dana", "notebook:lab", actor="test")
    review = transition_roles(ws, "dana", ["operations"], actor="hr")
    flagged = {i["grant"] for i in review.to_revoke}
    assert flagged == {"dataset:applicants:read", "registry:credit-gbm:write", "notebook:lab"}
    with pytest.raises(PermissionDeniedError, match="own access review"):
        complete_access_review(ws, review.id, attested_by="dana")
    keep = next(i["grant_id"] for i in review.items if i["grant"] == "notebook:lab")
    done = complete_access_review(ws, review.id, attested_by="sam", keep=[keep])
    assert done.status == "completed"
    assert [g for _i, g in get_person(ws, "dana").grants] == ["notebook:lab"]
    with pytest.raises(ConflictError, match="already completed"):
        complete_access_review(ws, review.id, attested_by="sam")
    periodic = start_access_review(ws, "dana")
    assert periodic.trigger == "periodic" and len(periodic.to_revoke) == 1


def test_raci_set_and_unknown_person(ws: Workspace) -> None:
    apply_config(ws, load_config(GOVERNANCE), actor="test")
    set_raci(ws, "asset", "credit-scoring/credit-gbm", "owner", "dana")
    assert {
        "scope": "asset",
        "ref": "credit-scoring/credit-gbm",
        "duty": "owner",
        "letter": "A",
        "person": "dana",
    } in list_raci(ws)
    with pytest.raises(NotFoundError):
        set_raci(ws, "system", "credit-scoring", "owner", "ghost")
    with pytest.raises(InputError, match="unknown duty"):
        set_raci(ws, "system", "credit-scoring", "boss", "dana")


def test_votes_quorum_roles_and_refusals(ws: Workspace) -> None:
    apply_config(ws, load_config(GOVERNANCE), actor="test")
    cr = create_change_request(
        ws,
        title="new model",
        target="credit-gbm@2",
        board_id="cab",
        requested_by="rui",
        target_digest="sha256:x",
    )
    with pytest.raises(PermissionDeniedError, match="multi-factor"):
        vote(ws, cr.id, _p("sam", mfa=False), "approve")
    with pytest.raises(PermissionDeniedError, match="requested change"):
        vote(ws, cr.id, _p("rui"), "approve")
    with pytest.raises(PermissionDeniedError, match="not a member"):
        vote(ws, cr.id, _p("dana"), "approve")
    vote(ws, cr.id, _p("sam"), "approve", condition="monitor drift weekly")
    with pytest.raises(ConflictError, match="already voted"):
        vote(ws, cr.id, _p("sam"), "approve")
    c = vote(ws, cr.id, _p("lee"), "approve")
    assert c.status is CrStatus.OPEN  # quorum 3, business still missing
    c = vote(ws, cr.id, _p("bo"), "approve")
    assert c.status is CrStatus.APPROVED and c.conditions == ("monitor drift weekly",)
    with pytest.raises(ConflictError, match="already approved"):
        vote(ws, cr.id, _p("rui"), "approve")
    cr2 = create_change_request(ws, title="x", target="t", board_id="cab", requested_by="rui")
    c2 = vote(ws, cr2.id, _p("sam"), "abstain")
    assert c2.status is CrStatus.REJECTED  # the only security member did not approve


def test_concurrent_votes_never_double_apply(ws: Workspace) -> None:
    apply_config(ws, load_config(GOVERNANCE), actor="test")
    cr = create_change_request(ws, title="t", target="m@1", board_id="cab", requested_by="rui")
    sam = approver(ws, "sam")
    results: list[str] = []
    barrier = threading.Barrier(5)

    def worker() -> None:
        barrier.wait()
        try:
            vote(ws, cr.id, sam, "approve")
            results.append("ok")
        except ConflictError:
            results.append("conflict")

    threads = [threading.Thread(target=worker) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["conflict"] * 4 + ["ok"]
    assert len(get_change_request(ws, cr.id).votes) == 1


def test_escalation_queries(ws: Workspace) -> None:
    with pytest.raises(NotFoundError, match="no escalation matrix"):
        escalation_for(ws, "high", "security")
    apply_config(ws, load_config(GOVERNANCE), actor="test")
    r = escalation_for(ws, Severity.CRITICAL, "security")
    assert r.notify == ("ciso", "security-oncall") and r.within == timedelta(minutes=15)
    assert escalation_for(ws, "low", "public_relations").within == timedelta(days=1)
    with pytest.raises(InputError, match="domain one of"):
        escalation_for(ws, "high", "marketing")


def test_board_seat_needs_the_persons_role(ws: Workspace) -> None:
    text = GOVERNANCE.read_text()
    with pytest.raises(InputError, match=r"boards \(id: cab\): member 'rui' sits as 'legal'"):
        parse_config(
            text.replace("{person: rui, role: data_science}", "{person: rui, role: legal}")
        )
    apply_config(ws, load_config(GOVERNANCE), actor="test")
    cr = create_change_request(ws, title="t", target="m@1", board_id="cab", requested_by="dana")
    # sam moves to operations: his security seat on the board no longer matches his roles.
    transition_roles(ws, "sam", ["operations"], actor="test")
    size = ws.ledger.size()
    with pytest.raises(PermissionDeniedError, match="sits on board cab as security but now holds"):
        vote(ws, cr.id, _p("sam"), "approve")
    assert ws.ledger.size() == size and get_change_request(ws, cr.id).votes == ()
    assert vote(ws, cr.id, _p("lee"), "approve").votes[0]["voter"] == "lee"


def test_tally_without_excluded_voters(ws: Workspace) -> None:
    apply_config(ws, load_config(GOVERNANCE), actor="test")
    cr = create_change_request(ws, title="t", target="m@1", board_id="cab", requested_by="dana")
    for p in ("sam", "lee", "bo"):
        cr = vote(ws, cr.id, _p(p), "approve")
    assert cr.status is CrStatus.APPROVED
    board = get_board(ws, "cab")
    assert tally(board, cr.votes)[0] is CrStatus.APPROVED
    status, summary = tally(board, cr.votes, exclude={"bo"})
    assert status is CrStatus.REJECTED  # bo was the only business member
    assert summary.approvals == 2 and summary.missing_roles == ("business",)


def test_finding_06_roles_two_person_rule_in_the_room(ws: Workspace) -> None:
    """The room function itself (CLI, API and Python alike): nobody changes their own roles;
    a new role counts only once a third person attests; losing a role is immediate."""
    from bastion.governance import (
        apply_config,
        approve_change,
        complete_access_review,
        get_person,
        load_config,
        propose_change,
        transition_roles,
    )

    apply_config(ws, load_config(GOVERNANCE), actor="test")
    with pytest.raises(PermissionDeniedError, match="their own roles"):
        transition_roles(ws, "lee", ["legal", "security"], actor="lee")
    review = transition_roles(ws, "lee", ["security"], actor="bo")
    assert get_person(ws, "lee").roles == ()  # legal dropped now, security pending
    with pytest.raises(ConflictError, match="awaiting attestation"):
        transition_roles(ws, "lee", ["business"], actor="bo")
    with pytest.raises(PermissionDeniedError, match="two-person"):
        complete_access_review(ws, review.id, attested_by="bo")
    complete_access_review(ws, review.id, attested_by="sam")
    assert get_person(ws, "lee").roles == ("security",)
    # A proposal needs a second, privileged person with MFA.
    from bastion.registry import load_policy
    from tests.registry._helpers import POLICY

    body = load_policy(POLICY).model_dump(mode="json")
    with pytest.raises(PermissionDeniedError):
        propose_change(ws, "gate_policy", body, proposer=_p("lee", mfa=False))
    prop = propose_change(ws, "gate_policy", body, proposer=approver(ws, "lee"))
    with pytest.raises(PermissionDeniedError, match="two-person"):
        approve_change(ws, prop.id, approver=approver(ws, "lee"))
    done = approve_change(ws, prop.id, approver=approver(ws, "sam"))
    assert done.status.value == "applied" and done.result == {"version": 1, "changed": True}
