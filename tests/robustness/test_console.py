"""The robustness console pages: per model the latest verdicts and robust accuracy; one
evidence with its robustness curve, certified-radius histogram and membership ROC as
SVG. A session is required (deny by default), names are escaped, unknown ids are 404."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from bastion.access import create_token
from bastion.api import create_app
from bastion.core.workspace import Workspace
from tests.robustness._recorded import record_samples
from tests.robustness.conftest import Digits

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


def test_robustness_pages(client: TestClient, sqlite_ws: Workspace, digits: Digits) -> None:
    rec = record_samples(sqlite_ws, digits)
    ev, mi = rec.evaluation, rec.membership
    paths = ("/ui/robustness", f"/ui/robustness/{ev.id}", f"/ui/robustness/{ev.id}/curve.svg")
    for path in paths:
        r = client.get(path, follow_redirects=False)
        assert r.status_code in (302, 303, 401) and "<svg" not in r.text and "pgd" not in r.text
    _sign_in(client, sqlite_ws)

    page = client.get("/ui/robustness")
    assert page.status_code == 200
    assert page.text.count('data-testid="robustness-row"') == 1
    assert "digits/&lt;b&gt;mlp&lt;/b&gt;" in page.text and "<b>mlp</b>" not in page.text
    assert f'href="/ui/robustness/{ev.id}"' in page.text
    assert f'href="/ui/robustness/{mi.id}"' in page.text
    robust = ev.data["robust_accuracy"]
    assert f"{robust * 100:.1f}%" in page.text and "at eps 0.2" in page.text
    assert f"{mi.data['auc']:.3f}" in page.text
    assert 'href="/ui/robustness" class="active"' in page.text  # the nav link

    detail = client.get(f"/ui/robustness/{ev.id}")
    assert detail.status_code == 200
    assert detail.text.count('data-testid="validity"') == len(ev.data["validity"])
    assert 'data-testid="chart-curve"' in detail.text and 'data-testid="chart-radii"' in detail.text
    assert 'data-testid="chart-roc"' not in detail.text
    curve = client.get(f"/ui/robustness/{ev.id}/curve.svg")
    assert curve.headers["content-type"].startswith("image/svg+xml")
    assert "<svg" in curve.text and "PGD (linf) on digits/&lt;b&gt;mlp&lt;/b&gt;" in curve.text
    radii = client.get(f"/ui/robustness/{ev.id}/radii.svg")
    assert "certified L2 radius" in radii.text

    mdetail = client.get(f"/ui/robustness/{mi.id}")
    assert 'data-testid="chart-roc"' in mdetail.text and 'data-testid="membership"' in mdetail.text
    roc = client.get(f"/ui/robustness/{mi.id}/roc.svg")
    assert roc.status_code == 200 and "false positive rate" in roc.text.lower()

    assert client.get("/ui/robustness/no-such-evidence").status_code == 404
    assert client.get(f"/ui/robustness/{mi.id}/curve.svg").status_code == 404
    assert client.get(f"/ui/robustness/{ev.id}/bogus.svg").status_code == 404


def test_the_empty_page_says_how_to_start(client: TestClient, sqlite_ws: Workspace) -> None:
    _sign_in(client, sqlite_ws)
    page = client.get("/ui/robustness").text
    assert "No robustness evidence yet" in page and "bastion redteam evaluate" in page
