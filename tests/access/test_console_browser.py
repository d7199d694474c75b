"""The access pages and the step-up in Debian's Chromium (Playwright), over real uvicorn:
an admin signs in with a TOTP code, opens the admin page; a session whose last code is
older than the step-up window is sent to the step-up form, and a fresh code brings the
admin back to the page. No console errors (the CSP allows no inline script)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import uvicorn

from bastion.access import (
    STEP_UP_AFTER,
    Role,
    create_token,
    issue_session,
    principal_for_token_id,
)
from bastion.api import create_app
from bastion.api.console import SESSION_COOKIE
from bastion.core.workspace import Workspace
from tests._otp import fresh
from tests.e2e.test_console_browser import _free_port, browser, page  # noqa: F401

pytestmark = pytest.mark.browser


@pytest.fixture
def server(sqlite_ws: Workspace) -> Iterator[str]:
    app = create_app(sqlite_ws.settings, workspace=sqlite_ws)
    port = _free_port()
    cfg = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    srv = uvicorn.Server(cfg)
    thread = threading.Thread(target=srv.run, name="bastion-access-console", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not srv.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the console's uvicorn server did not start")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


def test_admin_step_up_in_chromium(
    page: object,  # noqa: F811
    server: str,
    sqlite_ws: Workspace,
) -> None:
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    t = create_token(sqlite_ws, name="ada", role=Role.ADMIN, actor="test")
    assert t.totp_secret
    page.goto(f"{server}/ui/login")
    page.fill("#token", t.token)
    page.fill("#otp", fresh(t.totp_secret))
    page.click("button[type=submit]:has-text('Sign in')")
    expect(page).to_have_url(f"{server}/ui/")
    page.click("nav[aria-label=Main] >> text=Access")
    expect(page).to_have_url(f"{server}/ui/access/grants")
    page.click("text=Tokens (admin)")
    expect(page).to_have_url(f"{server}/ui/access/tokens")
    expect(page.locator("[data-testid=token-row]")).to_have_count(1)
    for tab, heading in (("Decisions", "Authorization decisions"), ("Least privilege", "Least")):
        page.click(f"nav[aria-label=Access] >> text={tab}")
        expect(page.locator("h1")).to_contain_text(heading)

    # The same admin, signed in longer ago than the step-up window allows.
    ada = principal_for_token_id(sqlite_ws, t.info.id, mfa_verified=True)
    then = datetime.now(UTC) - STEP_UP_AFTER - timedelta(minutes=1)
    page.context.clear_cookies()
    page.context.add_cookies(
        [
            {
                "name": SESSION_COOKIE,
                "value": issue_session(sqlite_ws, ada, now=then),
                "url": f"{server}/ui/",
                "httpOnly": True,
                "sameSite": "Strict",
            }
        ]
    )
    page.goto(f"{server}/ui/access/tokens")
    expect(page).to_have_url(f"{server}/ui/access/step-up?next=/ui/access/tokens")
    page.fill("#otp", "000000")
    page.click("button[type=submit]:has-text('Continue')")
    expect(page.locator("[data-testid=step-up-error]")).to_be_visible()
    page.fill("#otp", fresh(t.totp_secret))
    page.click("button[type=submit]:has-text('Continue')")
    expect(page).to_have_url(f"{server}/ui/access/tokens")
    expect(page.locator("[data-testid=token-row]")).to_have_count(1)
