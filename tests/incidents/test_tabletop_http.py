"""Tabletop exercises over HTTP with real tokens (deny by default, write to change) and
the monitoring console pages: the detection queue, drift with its SVG chart, and a
tabletop session whose decision form passes the console's same-origin check."""

from __future__ import annotations

import html
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from bastion.access import Role, create_token
from bastion.api import create_app
from bastion.core.workspace import Workspace
from bastion.governance import apply_config, load_config
from bastion.incidents import get_scenario, start_session
from tests.registry._helpers import GOVERNANCE

BASE = "http://testserver"


@pytest.fixture
def client(sqlite_ws: Workspace) -> Iterator[TestClient]:
    apply_config(sqlite_ws, load_config(GOVERNANCE), actor="test")
    with TestClient(create_app(sqlite_ws.settings, workspace=sqlite_ws), base_url=BASE) as c:
        yield c


def _h(ws: Workspace, role: Role) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_token(ws, name=f't-{role.value}', role=role).token}"}


def _sign_in(client: TestClient, ws: Workspace, role: Role) -> None:
    tok = create_token(ws, name=f"console-{role.value}", role=role, actor="admin")
    r = client.post(
        "/ui/login", data={"token": tok.token}, headers={"Origin": BASE}, follow_redirects=False
    )
    assert r.status_code == 303, r.text


def test_every_tabletop_route_denies_by_default(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    paths = [p for p in spec["paths"] if p.startswith("/api/v1/tabletop")]
    assert len(paths) == 6
    for path in paths:
        for method in spec["paths"][path]:
            r = client.request(method, path.replace("{session_id}", "x"))
            assert r.status_code == 401, (method, path)


def test_exercise_over_http(client: TestClient, sqlite_ws: Workspace) -> None:
    ws = sqlite_ws
    viewer, sec = _h(ws, Role.VIEWER), _h(ws, Role.SECURITY)
    got = client.get("/api/v1/tabletop/scenarios", headers=viewer).json()
    assert "extraction-then-leak" in {s["id"] for s in got}
    body = {"scenario": "extraction-then-leak", "speed": 1}
    assert client.post("/api/v1/tabletop/sessions", json=body, headers=viewer).status_code == 403
    r = client.post("/api/v1/tabletop/sessions", json=body, headers=sec)
    assert r.status_code == 200, r.text
    s = r.json()
    sid = s["id"]
    assert s["playbook"] == "model-compromise" and s["pending_injects"] == 2
    url = f"/api/v1/tabletop/sessions/{sid}"
    d = {"decision": "roll back and revoke", "step": "contain"}
    assert client.post(url + "/decisions", json=d, headers=viewer).status_code == 403
    r = client.post(url + "/decisions", json=d, headers=sec)
    assert r.status_code == 200, r.text
    assert r.json()["decisions"][0]["actor"].endswith("t-security")
    bad = client.post(url + "/decisions", json={"decision": "x", "step": "nope"}, headers=sec)
    assert bad.status_code == 422 and "not in playbook" in bad.text
    r = client.post(url + "/advance", json={"by": "1h"}, headers=sec)
    assert r.json()["pending_injects"] == 0
    assert client.get(url, headers=viewer).json()["steps"][0]["status"] == "met"
    md = client.post(url + "/report?format=md", headers=sec)
    assert md.status_code == 200 and "# After-action report" in md.text
    rep = client.post(url + "/report", headers=sec).json()
    assert rep["met"] == 1 and rep["evidence"]
    # a scenario document must name a shipped playbook: the API reads no server path
    doc = "id: x\ntitle: t\nplaybook: /etc/passwd.yaml\ninjects: [{at: 0s, kind: probing, title: a}]\n"
    r = client.post("/api/v1/tabletop/sessions", json={"document": doc}, headers=sec)
    assert r.status_code == 422 and "shipped playbook" in r.text


def test_monitor_pages(client: TestClient, sqlite_ws: Workspace, tmp_path: Path) -> None:
    ws = sqlite_ws
    for path in ("/ui/monitor/detections", "/ui/monitor/drift", "/ui/tabletop"):
        assert client.get(path, follow_redirects=False).status_code in (302, 303, 401)
    s = start_session(ws, get_scenario("extraction-then-leak"), actor="f", speed=1)
    ref, cur = tmp_path / "ref.csv", tmp_path / "cur.csv"
    ref.write_text("a,b\n" + "".join(f"{i % 10},{i % 3}\n" for i in range(600)))
    cur.write_text("a,b\n" + "".join(f"{i % 10 + 7},{i % 3}\n" for i in range(600)))
    from bastion.core.checks import run_check
    from bastion.core.types import Subject

    run_check(ws, "monitor.drift", Subject("dataset", str(cur)), params={"reference": str(ref)})
    _sign_in(client, ws, Role.VIEWER)
    page = html.unescape(client.get("/ui/monitor/detections").text)
    assert "Extraction campaign on fraud-scorer" in page and "AML.T0024" in page
    assert f"/ui/incidents/{s.id}" in page and "exercise" in page
    drift = client.get("/ui/monitor/drift").text
    assert "<svg" in drift and 'aria-label="PSI per column"' in drift
    assert 'data-testid="drifted">a' in drift
    assert "extraction-then-leak" in client.get("/ui/tabletop").text
    tt = client.get(f"/ui/tabletop/{s.id}").text
    assert "Roll back to the last verified version" in tt
    assert "decision-form" not in tt  # a viewer cannot write
    chart = client.get(f"/ui/tabletop/{s.id}/chart.svg")
    assert chart.headers["content-type"].startswith("image/svg+xml") and "<svg" in chart.text
    assert client.get("/ui/tabletop/nope/chart.svg").status_code == 404
    r = client.post(f"/ui/tabletop/{s.id}/decisions", data={"decision": "x"},
                    headers={"Origin": BASE}, follow_redirects=False)  # fmt: skip
    assert r.status_code == 403
    assert client.get("/ui/tabletop/nope").status_code == 404


def test_tabletop_decision_form_needs_same_origin(client: TestClient, sqlite_ws: Workspace) -> None:
    ws = sqlite_ws
    s = start_session(ws, get_scenario("extraction-then-leak"), actor="f", speed=1)
    _sign_in(client, ws, Role.SECURITY)
    assert "decision-form" in client.get(f"/ui/tabletop/{s.id}").text
    url = f"/ui/tabletop/{s.id}/decisions"
    form = {"decision": "revoke the partner token", "step": "contain"}
    for headers in ({}, {"Origin": "http://evil.example"}, {"Origin": "null"}):
        r = client.post(url, data=form, headers=headers, follow_redirects=False)
        assert r.status_code == 403, headers
    r = client.post(url, data=form, headers={"Origin": BASE}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/ui/tabletop/{s.id}"
    page = client.get(f"/ui/tabletop/{s.id}").text
    assert "revoke the partner token" in page and ">met<" in page
    r = client.post(url, data={"decision": "x", "step": "teleport"}, headers={"Origin": BASE},
                    follow_redirects=False)  # fmt: skip
    assert r.status_code == 303 and "error=" in r.headers["location"]
    assert "not in playbook" in html.unescape(client.get(r.headers["location"]).text)
