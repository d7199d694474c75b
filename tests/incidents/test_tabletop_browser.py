"""A tabletop session in a real browser (Debian's Chromium through Playwright, real
uvicorn): the detection queue links the exercise incident, a participant records a
decision through the console's form and sees the step met; a viewer gets no form.

Never skipped: without /usr/bin/chromium this fails and says how to install it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from bastion.access import create_token
from bastion.api import create_app
from bastion.core.settings import get_settings
from bastion.core.workspace import Workspace, init_workspace
from bastion.governance import apply_config, load_config
from bastion.incidents import get_scenario, start_session, tabletop_session
from tests.e2e.test_console_browser import CHROMIUM, CHROMIUM_ARGS, _free_port
from tests.registry._helpers import GOVERNANCE

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    w, _ = init_workspace(get_settings(home=Path(tmp_path_factory.mktemp("tt")) / "h"))
    apply_config(w, load_config(GOVERNANCE), actor="test")
    yield w
    w.close()


@pytest.fixture(scope="module")
def server(ws: Workspace) -> Iterator[str]:
    app = create_app(ws.settings, workspace=ws)
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, name="bastion-tabletop-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not srv.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the console's uvicorn server did not start")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def page() -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's Chromium ('apt-get install -y chromium')"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        context = b.new_context(viewport={"width": 1280, "height": 900})
        pg = context.new_page()
        pg.set_default_timeout(10_000)
        problems: list[str] = []
        pg.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        pg.on("pageerror", lambda e: problems.append(str(e)))
        try:
            yield pg
        finally:
            b.close()
        assert not problems, f"browser console errors: {problems}"


def _sign_in(page: object, base: str, token: str) -> None:
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    page.goto(f"{base}/ui/login")
    page.fill("#token", token)
    page.click("button[type=submit]:has-text('Sign in')")
    expect(page).to_have_url(f"{base}/ui/")


def test_tabletop_session_in_chromium(page: object, server: str, ws: Workspace) -> None:
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    s = start_session(ws, get_scenario("extraction-then-leak"), actor="facilitator", speed=1)
    tok = create_token(ws, name="Alice Responder", role="engineer", actor="test")
    _sign_in(page, server, tok.token)

    page.click("nav >> text=Monitor")
    expect(page).to_have_url(f"{server}/ui/monitor/detections")
    row = page.get_by_test_id("detection-row").filter(has_text="Extraction campaign")
    expect(row).to_contain_text("AML.T0024")
    expect(row).to_contain_text("exercise")
    row.get_by_test_id("detection-incident").click()
    expect(page).to_have_url(f"{server}/ui/incidents/{s.id}")

    page.goto(f"{server}/ui/tabletop")
    page.get_by_test_id("session-row").get_by_role("link").first.click()
    expect(page).to_have_url(f"{server}/ui/tabletop/{s.id}")
    expect(page.get_by_test_id("tt-step")).to_have_count(4)
    # the SVG chart was served and drawn (waits for the image to load)
    page.wait_for_function(
        "() => { const i = document.querySelector('[data-testid=tt-chart]');"
        " return i !== null && i.complete && i.naturalWidth > 100; }"
    )
    form = page.get_by_test_id("decision-form")
    form.locator("select[name=step]").select_option("contain")
    form.locator("input[name=decision]").fill("Roll back to v2 and revoke partner-7")
    form.locator("button[type=submit]").click()
    expect(page).to_have_url(f"{server}/ui/tabletop/{s.id}")
    expect(page.get_by_test_id("tt-decision")).to_contain_text("Roll back to v2")
    expect(page.get_by_test_id("tt-decision")).to_contain_text("Alice Responder")
    expect(page.get_by_test_id("tt-step-status").first).to_have_text("met")
    got = tabletop_session(ws, s.id)
    assert got.decisions[0]["decision"] == "Roll back to v2 and revoke partner-7"
    assert got.decisions[0]["step"] == "contain"

    form = page.get_by_test_id("decision-form")
    form.locator("input[name=decision]").fill("   ")
    form.locator("button[type=submit]").click()
    expect(page.get_by_test_id("tt-error")).to_contain_text("must not be empty")
    assert len(tabletop_session(ws, s.id).decisions) == 1


def test_a_viewer_sees_no_decision_form(page: object, server: str, ws: Workspace) -> None:
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    s = start_session(ws, get_scenario("weights-export"), actor="facilitator", speed=1)
    tok = create_token(ws, name="Vera Viewer", role="viewer", actor="test")
    _sign_in(page, server, tok.token)
    page.goto(f"{server}/ui/tabletop/{s.id}")
    expect(page.get_by_test_id("tt-step")).to_have_count(3)
    expect(page.get_by_test_id("decision-form")).to_have_count(0)


def test_drift_page_draws_its_chart(
    page: object, server: str, ws: Workspace, tmp_path: Path
) -> None:
    from playwright.sync_api import Page, expect

    from bastion.core.checks import run_check
    from bastion.core.types import Subject

    assert isinstance(page, Page)
    ref, cur = tmp_path / "ref.csv", tmp_path / "cur.csv"
    ref.write_text("a,b\n" + "".join(f"{i % 10},{i % 3}\n" for i in range(600)))
    cur.write_text("a,b\n" + "".join(f"{i % 10 + 7},{i % 3}\n" for i in range(600)))
    run_check(ws, "monitor.drift", Subject("dataset", str(cur)), params={"reference": str(ref)})
    tok = create_token(ws, name="Dana Drift", role="viewer", actor="test")
    _sign_in(page, server, tok.token)
    page.goto(f"{server}/ui/monitor/drift")
    expect(page.get_by_test_id("drifted")).to_contain_text("a")
    chart = page.get_by_test_id("drift-chart").locator("svg")
    expect(chart).to_be_visible()
    assert chart.bounding_box() is not None
    expect(page.get_by_test_id("feature-row")).to_have_count(2)
