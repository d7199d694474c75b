"""The incidents console pages: the list with its status filter, one incident with its
links, playbook steps and ledgered timeline; both need a session (deny by default)."""

from __future__ import annotations

import html
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from bastion.access import create_token
from bastion.api import create_app
from bastion.core.workspace import Workspace
from bastion.incidents import add_note, close_incident, open_incident, parse_playbook, run_playbook

BASE = "http://testserver"


@pytest.fixture
def client(sqlite_ws: Workspace) -> Iterator[TestClient]:
    with TestClient(create_app(sqlite_ws.settings, workspace=sqlite_ws), base_url=BASE) as c:
        yield c


def _sign_in(client: TestClient, ws: Workspace) -> None:
    tok = create_token(ws, name="viewer", role="viewer", actor="admin")
    r = client.post(
        "/ui/login", data={"token": tok.token}, headers={"Origin": BASE}, follow_redirects=False
    )
    assert r.status_code == 303, r.text


def test_incident_pages_need_a_session(client: TestClient, sqlite_ws: Workspace) -> None:
    inc = open_incident(sqlite_ws, "t", kind="manual", severity="low", owner="o", actor="a")
    for path in ("/ui/incidents", f"/ui/incidents/{inc.id}"):
        r = client.get(path, follow_redirects=False)
        assert r.status_code in (302, 303, 401) and "t</a>" not in r.text


def test_incident_list_filter_and_detail(client: TestClient, sqlite_ws: Workspace) -> None:
    ws = sqlite_ws
    leak = open_incident(ws, "Weights copied to <b>a bucket</b>", kind="weight_export",
                         severity="high", owner="sam", actor="monitor",
                         links=[("evidence", "ev-1"), ("event", "e-7")])  # fmt: skip
    add_note(ws, leak.id, "checking with the data owner", actor="sam")
    done = open_incident(ws, "Probe burst", kind="extraction", severity="medium", owner="lee",
                         actor="monitor")  # fmt: skip
    close_incident(ws, done.id, resolution="benign load test", actor="lee")
    _sign_in(client, ws)

    page = client.get("/ui/incidents").text
    assert page.count('data-testid="incident-row"') == 2
    assert "&lt;b&gt;a bucket&lt;/b&gt;" in page and "<b>a bucket</b>" not in page  # escaped
    assert 'class="badge sev-high"' in page
    only_open = client.get("/ui/incidents?status=open").text
    assert only_open.count('data-testid="incident-row"') == 1 and leak.id in only_open
    assert done.id not in only_open
    # an unknown status is ignored, not an error
    assert client.get("/ui/incidents?status=bogus").text.count('data-testid="incident-row"') == 2

    detail = client.get(f"/ui/incidents/{leak.id}")
    assert detail.status_code == 200
    text = html.unescape(detail.text)
    assert 'href="/ui/evidence/ev-1"' in detail.text and "e-7" in text
    assert text.count('data-testid="timeline-row"') == 2  # opened, note
    assert "no playbook run yet" in text
    assert client.get("/ui/incidents/no-such-incident").status_code == 404


def test_playbook_steps_show_owner_and_status(client: TestClient, sqlite_ws: Workspace) -> None:
    ws = sqlite_ws
    book = parse_playbook("""
id: page-test
title: t
triggers: [manual]
steps:
  - id: contain
    title: contain the token
    owner: sam
    manual: true
""")
    inc = open_incident(ws, "t", kind="manual", severity="low", owner="sam", actor="t")
    run_playbook(ws, inc.id, book, actor="sam")
    _sign_in(client, ws)
    page = client.get(f"/ui/incidents/{inc.id}").text
    assert page.count('data-testid="step-row"') == 1
    assert "contain the token" in page and "sam" in page
