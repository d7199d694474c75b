"""The console in a real browser: Debian's Chromium, driven by Playwright, over real uvicorn.

Never skipped: without /usr/bin/chromium these tests fail and say how to install it
(``make test`` does).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from bastion.api import create_app
from tests.e2e import SYSTEM, Demo, build_demo
from tests.e2e.test_console_security import SecurityDemo, build_security_demo

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT = Path("/tmp/bastion-ledger.png")
THREATS_SCREENSHOT = Path("/tmp/bastion-threats.png")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def security(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecurityDemo]:
    """The console demo with threats, risks, a recorded simulation and a signed model."""
    d = build_security_demo(tmp_path_factory.mktemp("browser"))
    yield d
    d.demo.ws.close()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    d = build_demo(tmp_path_factory.mktemp("browser") / "h")
    yield d
    d.ws.close()


def _serve(d: Demo) -> Iterator[str]:
    """A real uvicorn server on 127.0.0.1, in a background thread."""
    app = create_app(d.ws.settings, workspace=d.ws)
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, name="bastion-console-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not srv.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the console's uvicorn server did not start")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def server(demo: Demo) -> Iterator[str]:
    yield from _serve(demo)


@pytest.fixture(scope="module")
def security_server(security: SecurityDemo) -> Iterator[str]:
    yield from _serve(security.demo)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's Chromium with "
            "'apt-get install -y chromium' (make test does this); browser tests never skip"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: object) -> Iterator[object]:
    from playwright.sync_api import Browser

    assert isinstance(browser, Browser)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(10_000)
    problems: list[str] = []
    # A CSP violation (an inline script or style, anything from elsewhere) shows up here.
    pg.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: problems.append(str(e)))
    yield pg
    context.close()
    # A refused sign-in is an HTTP 401 on purpose; Chromium logs every 4xx load as an error.
    problems = [m for m in problems if "status of 401" not in m]
    assert not problems, f"browser console errors: {problems}"


def _sign_in(page: object, base: str, token: str) -> None:
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    page.goto(f"{base}/ui/")
    expect(page).to_have_url(f"{base}/ui/login")
    page.fill("#token", token)
    page.click("button[type=submit]:has-text('Sign in')")
    expect(page).to_have_url(f"{base}/ui/")
    expect(page.locator("h1")).to_have_text("Overview")


def test_console_flow(page: object, server: str, demo: Demo) -> None:
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    _sign_in(page, server, demo.viewer_token)
    expect(page.get_by_test_id("who")).to_have_text("Vera Viewer")
    expect(page.get_by_test_id("count-assets")).to_have_text("14")

    # Inventory: filter by kind through the HTMX form; the table is swapped in place.
    page.click("nav >> text=Inventory")
    expect(page).to_have_url(f"{server}/ui/inventory")
    rows = page.locator("#asset-table tbody tr")
    expect(rows).to_have_count(14)
    page.evaluate("window.__noFullLoad = 'still here'")
    with page.expect_response(lambda r: "/ui/inventory/table" in r.url) as resp:
        page.select_option("select[name=kind]", "model")
    assert resp.value.status == 200
    expect(rows).to_have_count(2)
    kinds = page.locator("#asset-table tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.kind)"
    )
    assert kinds == ["model", "model"]
    assert page.evaluate("window.__noFullLoad") == "still here"  # no page load happened
    expect(page).to_have_url(f"{server}/ui/inventory?kind=model")  # the address bar follows

    # Through to an asset page.
    page.click("#asset-table >> text=credit-gbm")
    expect(page).to_have_url(f"{server}/ui/assets/{SYSTEM}/credit-gbm")
    expect(page.locator("h1")).to_contain_text("Credit default model (gradient boosting)")
    expect(page.locator("text=Version history")).to_be_visible()

    # Evidence list and detail.
    page.click("nav >> text=Evidence")
    expect(page.locator("h1")).to_have_text("Evidence")
    page.click("table.evidence-table >> text=details")
    expect(page).to_have_url(f"{server}/ui/evidence/{demo.evidence.id}")
    expect(page.get_by_test_id("verdict")).to_have_text("pass")
    expect(page.get_by_test_id("integrity")).to_contain_text("Matches the ledger")

    # Ledger: the live verification loads by itself.
    page.click("nav >> text=Ledger")
    expect(page.get_by_test_id("verify-result")).to_contain_text("Ledger OK")
    note = demo.ws.ledger.latest_checkpoint()
    assert note is not None
    assert page.get_by_test_id("checkpoint").inner_text().strip() == note.strip()
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert SCREENSHOT.stat().st_size > 10_000

    # Sign out.
    page.click("text=Sign out")
    expect(page).to_have_url(f"{server}/ui/login")
    page.goto(f"{server}/ui/ledger")
    expect(page).to_have_url(f"{server}/ui/login")


def test_bad_token_shows_one_message(page: object, server: str) -> None:
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    page.goto(f"{server}/ui/login")
    page.fill("#token", "bst_aaaaaaaaaaaa_" + "A" * 43)
    with page.expect_response(lambda r: r.url.endswith("/ui/login")) as resp:
        page.click("button[type=submit]:has-text('Sign in')")
    assert resp.value.status == 401
    expect(page.get_by_test_id("login-error")).to_have_text(
        "Sign-in failed: the token or the one-time code is not valid."
    )
    # The session cookie is HttpOnly: page scripts cannot read it.
    assert "bastion_session" not in page.evaluate("document.cookie")


def _loaded(page: object, selector: str) -> bool:
    from playwright.sync_api import Page

    assert isinstance(page, Page)
    page.wait_for_function(
        "s => { const i = document.querySelector(s); return i && i.complete; }",
        arg=selector,
        timeout=60_000,  # a chart renders server-side (a FAIR re-run): slow on a loaded box
    )
    return bool(page.eval_on_selector(selector, "i => i.naturalWidth > 0"))


def test_security_pages_flow(page: object, security_server: str, security: SecurityDemo) -> None:
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    _sign_in(page, security_server, security.demo.viewer_token)

    # Threats: the system's page, its diagram image, then open high findings through HTMX.
    page.click("nav >> text=Threats")
    page.click(f"[data-testid=threat-systems] >> text={SYSTEM}")
    expect(page).to_have_url(f"{security_server}/ui/systems/{SYSTEM}/threats")
    assert _loaded(page, "img[data-testid=diagram]")
    page.evaluate("window.__noFullLoad = 'still here'")
    with page.expect_response(lambda r: "/threats/table" in r.url):
        page.select_option("select[name=status]", "open")
    with page.expect_response(lambda r: "severity=high" in r.url):
        page.select_option("select[name=severity]", "high")
    rows = page.locator("#threat-table tbody tr")
    expect(page).to_have_url(
        f"{security_server}/ui/systems/{SYSTEM}/threats?status=open&severity=high"
    )
    assert rows.count() > 0
    pairs = rows.evaluate_all("rs => rs.map(r => r.dataset.status + '/' + r.dataset.severity)")
    assert set(pairs) == {"open/high"}
    assert page.evaluate("window.__noFullLoad") == "still here"
    rows.first.locator("summary").click()
    expect(rows.first.locator("text=Why it applies")).to_be_visible()
    page.screenshot(path=str(THREATS_SCREENSHOT), full_page=True)
    assert THREATS_SCREENSHOT.stat().st_size > 10_000

    # Risk register, then a recorded simulation with its two charts.
    page.click("nav >> text=Risk")
    expect(page.locator("h1")).to_have_text("Risk register")
    expect(page.locator("[data-testid=risk-table] tbody tr").first).to_be_visible()
    page.click("text=Recorded simulations")
    page.click(f"a[href='/ui/risk/simulations/{security.simulation.id}']")
    expect(page).to_have_url(f"{security_server}/ui/risk/simulations/{security.simulation.id}")
    assert _loaded(page, "img[data-testid=lec]")
    assert _loaded(page, "img[data-testid=tornado]")
    expect(page.locator("[data-scenario=portfolio]")).to_be_visible()
