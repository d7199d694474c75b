"""The privacy console pages: the PII map, budgets, retention and PIAs overview; one
dataset's budget chart, spends, lineage and impacted models; one PIA report. All need a
session (deny by default), escape what they show and give the 404 page for unknown ids."""

from __future__ import annotations

import html
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from bastion.access import create_token
from bastion.api import create_app
from bastion.core.workspace import Workspace
from bastion.privacy import dp
from bastion.privacy.lineage import DatasetRef, lineage_run
from bastion.privacy.pia import assess
from bastion.privacy.pii import record_scan
from bastion.privacy.retention import apply_retention, parse_policies, register_item, set_hold
from tests.privacy.test_pia import ANSWERS, MANIFEST

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


def _applicants(tmp: Path) -> Path:
    p = tmp / "applicants.csv"
    rows = "".join(f"P{i},p{i}@example.com,{30 + i % 40}\n" for i in range(60))
    p.write_text("name,email,age\n" + rows)
    return p


def _populate(ws: Workspace, tmp: Path) -> dict[str, str]:
    data = _applicants(tmp)
    scan = record_scan(ws, path=data, ref="applicants<b>x</b>")
    dp.set_budget(ws, "applicants", epsilon=3, delta=1e-5)
    rng = np.random.default_rng(0)
    q = dp.make_query("count", epsilon=0.5)
    dp.release(ws, "applicants", list(range(60)), q, column="age", rng=rng, actor="ana")
    dp.release(ws, "applicants", list(range(60)), q, column="age", rng=rng, actor="ana")
    with lineage_run(ws, "train.credit-gbm", [DatasetRef("bastion.dataset", "applicants")]) as run:
        run.add_output(DatasetRef("bastion.registry", "credit-gbm@3"))
    old = datetime.now(UTC) - timedelta(days=300)
    register_item(ws, "dataset", "applicants", category="pii", path=data, collected_at=old)
    other = tmp / "logs.csv"
    other.write_text("a\n1\n")
    register_item(ws, "inference_log", "logs", category="logs", path=other)
    set_hold(ws, "inference_log", "logs", reason="litigation <i>2026-17</i>")
    apply_retention(ws, parse_policies(
        "policies: [{id: keep-year, kinds: [dataset, inference_log], period: 365d, "
        "legal_basis: contract}]"))  # fmt: skip
    m = tmp / "system.yaml"
    m.write_text(MANIFEST)
    ans = tmp / "answers.yaml"
    ans.write_text(ANSWERS.replace("Dana Meyer", "Dana <script>Meyer</script>"))
    pia = assess(ws, m, ans, actor="dpo")
    assert pia.evidence is not None
    return {"scan": scan.id, "pia": pia.evidence.id}


def test_privacy_pages_need_a_session(client: TestClient, sqlite_ws: Workspace) -> None:
    dp.set_budget(sqlite_ws, "applicants", epsilon=1, delta=1e-5)
    for path in (
        "/ui/privacy",
        "/ui/privacy/datasets/applicants",
        "/ui/privacy/datasets/applicants/budget.svg",
        "/ui/privacy/pia/whatever",
    ):
        r = client.get(path, follow_redirects=False)
        assert r.status_code in (302, 303, 401), path
        assert "<svg" not in r.text and "applicants" not in r.text


def test_overview_shows_pii_map_budgets_retention_and_pias(
    client: TestClient, sqlite_ws: Workspace, tmp_path: Path
) -> None:
    ids = _populate(sqlite_ws, tmp_path)
    _sign_in(client, sqlite_ws)
    r = client.get("/ui/privacy")
    assert r.status_code == 200 and "default-src 'self'" in r.headers["Content-Security-Policy"]
    page = r.text
    # PII map: the dataset's PII columns with entity types; the ref is escaped.
    assert page.count('data-testid="pii-row"') == 1
    assert "applicants&lt;b&gt;x&lt;/b&gt;" in page and "<b>x</b>" not in page
    assert "email: EMAIL_ADDRESS" in page and f'href="/ui/evidence/{ids["scan"]}"' in page
    # Budgets: spent / total with a link to the dataset page.
    assert page.count('data-testid="budget-row"') == 1
    assert 'href="/ui/privacy/datasets/applicants"' in page and " / 3</td>" in page
    # Retention: two items, one held (never due), the dataset expires in ~65 days.
    assert page.count('data-testid="retention-row"') == 2
    summary = html.unescape(page.split('data-testid="retention-summary"')[1].split("</p>")[0])
    assert "2 items under retention, 1 on legal hold" in summary
    assert "dataset applicants" in summary and "keep-year" in summary
    assert "&lt;i&gt;2026-17&lt;/i&gt;" in page and "HELD" in page
    # PIAs: the recorded one with its level; the attestor is escaped.
    assert page.count('data-testid="pia-row"') == 1
    assert f'href="/ui/privacy/pia/{ids["pia"]}"' in page and "sev-medium" in page
    assert "<script>Meyer" not in page and "&lt;script&gt;Meyer&lt;/script&gt;" in page
    assert 'href="/ui/privacy"' in page and 'aria-current="page">Privacy</a>' in page


def test_empty_workspace_says_what_to_do(client: TestClient, sqlite_ws: Workspace) -> None:
    _sign_in(client, sqlite_ws)
    page = client.get("/ui/privacy").text
    assert "No dataset scanned yet." in page and "bastion privacy budget set" in page
    assert "no retention sweep recorded yet" in page and "No PIA recorded" in page


def test_dataset_page_chart_spends_lineage_and_models(
    client: TestClient, sqlite_ws: Workspace, tmp_path: Path
) -> None:
    _populate(sqlite_ws, tmp_path)
    _sign_in(client, sqlite_ws)
    r = client.get("/ui/privacy/datasets/applicants")
    assert r.status_code == 200
    page = r.text
    assert page.count('data-testid="spend-row"') == 2 and "ana" in page
    assert 'src="/ui/privacy/datasets/applicants/budget.svg"' in page
    assert 'src="/ui/privacy/datasets/applicants/lineage.svg"' in page
    assert '<li data-testid="impacted-model">bastion.registry:credit-gbm@3</li>' in page
    spent = dp.budget_status(sqlite_ws, "applicants").spent_epsilon
    assert f"epsilon {spent:.4g} of 3" in page
    chart = client.get("/ui/privacy/datasets/applicants/budget.svg")
    assert chart.status_code == 200 and chart.headers["content-type"].startswith("image/svg+xml")
    assert chart.text.lstrip().startswith("<?xml") and "Privacy budget of applicants" in chart.text
    assert chart.text == dp.budget_chart_svg(sqlite_ws, "applicants")  # the room's chart
    graph = client.get("/ui/privacy/datasets/applicants/lineage.svg")
    assert graph.status_code == 200 and "credit-gbm@3" in graph.text
    assert "X-Content-Type-Options" in graph.headers


def test_dataset_with_lineage_but_no_budget(
    client: TestClient, sqlite_ws: Workspace, tmp_path: Path
) -> None:
    with lineage_run(sqlite_ws, "etl", [DatasetRef("bastion.dataset", "raw")]) as run:
        run.add_output(DatasetRef("bastion.dataset", "features"))
    _sign_in(client, sqlite_ws)
    page = client.get("/ui/privacy/datasets/raw").text
    assert "No privacy budget is set for this dataset." in page
    assert "no model version was trained on it" in page
    assert client.get("/ui/privacy/datasets/raw/budget.svg").status_code == 404


def test_pia_page_renders_the_report_escaped(
    client: TestClient, sqlite_ws: Workspace, tmp_path: Path
) -> None:
    ids = _populate(sqlite_ws, tmp_path)
    _sign_in(client, sqlite_ws)
    r = client.get(f"/ui/privacy/pia/{ids['pia']}")
    assert r.status_code == 200
    page = r.text
    text = html.unescape(page)
    assert "Privacy impact assessment: loans" in text and "MEDIUM" in text
    assert page.count('data-testid="risk-row"') == 2  # cross-border, differential privacy
    assert "Cross-border transfer" in text and "EU SCCs" in text
    assert page.count('data-testid="answer-row"') >= 10
    assert "minimized in the feature store" in text
    assert "<script>" not in page.split("<main>")[1]  # the attestor's markup is text
    assert "Dana &lt;script&gt;Meyer&lt;/script&gt; (DPO)" in page
    # Another check's evidence is not a PIA; an unknown id is a 404 page.
    assert client.get(f"/ui/privacy/pia/{ids['scan']}").status_code == 404
    missing = client.get("/ui/privacy/pia/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404 and "no such privacy impact assessment" in missing.text


def test_unknown_dataset_is_a_404_page(client: TestClient, sqlite_ws: Workspace) -> None:
    _sign_in(client, sqlite_ws)
    for path in (
        "/ui/privacy/datasets/nope",
        "/ui/privacy/datasets/nope/budget.svg",
        "/ui/privacy/datasets/nope/lineage.svg",
        "/ui/privacy/datasets/..%2F..%2Fetc",
    ):
        r = client.get(path)
        assert r.status_code == 404, path
        assert "Not found" in r.text and "Traceback" not in r.text
