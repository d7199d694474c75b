"""The registry pages in a real browser (Debian's Chromium through Playwright, real uvicorn):
registry -> version page (gate, approvals, change request, refusal) -> approvals queue."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bastion.access import create_token
from bastion.core.settings import get_settings
from bastion.core.workspace import init_workspace
from bastion.governance import create_change_request, vote
from bastion.registry import approve, promote, register_model
from tests.e2e import Demo
from tests.e2e.test_console_browser import _serve, _sign_in, browser, page  # noqa: F401
from tests.registry._helpers import approver, good_evidence, model_dir, setup

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def registry_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    root = tmp_path_factory.mktemp("registry-browser")
    ws, _ = init_workspace(get_settings(home=root / "h"))
    setup(ws)
    v = register_model(
        ws,
        "credit-gbm",
        model_dir(root),
        system="credit-scoring",
        asset="credit-gbm",
        authors=["dana"],
        actor="dana",
    )
    ids = good_evidence(ws, v)
    assert not promote(ws, "credit-gbm", "1", "production", actor="dana").promoted
    sam = approver(ws, "sam")
    approve(ws, "credit-gbm", "1", sam)
    cr = create_change_request(
        ws,
        title="Promote credit-gbm@1",
        target=v.ref,
        target_digest=v.digest,
        board_id="cab",
        requested_by="dana",
    )
    for person in ("lee", "bo"):
        vote(ws, cr.id, approver(ws, person), "approve")
    vote(ws, cr.id, sam, "approve")
    viewer = create_token(ws, name="Vera Viewer", role="viewer", actor="test")
    yield Demo(ws, viewer.token, ws.evidence.get(ids[0]))
    ws.close()


@pytest.fixture(scope="module")
def registry_server(registry_demo: Demo) -> Iterator[str]:
    yield from _serve(registry_demo)


def test_registry_version_and_approvals_flow(
    page: object,  # noqa: F811
    registry_server: str,
    registry_demo: Demo,
) -> None:
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    base = registry_server
    _sign_in(page, base, registry_demo.viewer_token)

    # Registry, from the top navigation.
    page.click("nav >> text=Registry")
    expect(page).to_have_url(f"{base}/ui/registry")
    expect(page.locator("nav a.active")).to_have_text("Registry")
    expect(page.get_by_test_id("version-row")).to_have_count(1)
    page.click("[data-testid=version-row] >> a:text-is('1')")

    # The version page: the production gate is satisfied requirement by requirement, with
    # the evidence, the approval and the change request behind each; the past refusal.
    expect(page).to_have_url(f"{base}/ui/registry/credit-gbm/1")
    expect(page.get_by_test_id("stage")).to_have_text("development")
    gate = page.get_by_test_id("gate-production")
    expect(gate).to_contain_text("satisfied")
    expect(gate.locator(f"a[href='/ui/evidence/{registry_demo.evidence.id}']")).to_be_visible()
    expect(gate.get_by_test_id("req-approval")).to_contain_text("security_signoff by sam")
    expect(gate.get_by_test_id("req-approval")).to_contain_text("counted")
    expect(gate.get_by_test_id("req-cr")).to_contain_text("approved, 3 votes")
    refusal = page.get_by_test_id("refusal-row")
    expect(refusal).to_have_count(1)
    expect(refusal).to_contain_text("approval:cab")
    page.screenshot(path="/tmp/bastion-registry-version.png", full_page=True)

    # The change request link lands on its row of the CAB page.
    gate.get_by_test_id("req-cr").click()
    page.wait_for_url(f"{base}/ui/governance/cab#cr-*")
    expect(page.locator("nav a.active")).to_have_text("CAB")
    cr_id = page.url.split("#cr-")[1]
    expect(page.locator(f"#cr-{cr_id}")).to_contain_text("sam (security): approve")

    # The approvals queue: the requested promotion is ready; its link leads back.
    page.click("nav >> text=Approvals")
    expect(page).to_have_url(f"{base}/ui/approvals")
    row = page.get_by_test_id("pending-row")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("credit-gbm@1")
    expect(row).to_contain_text("ready")
    row.locator("a").click()
    expect(page).to_have_url(f"{base}/ui/registry/credit-gbm/1")

    # RACI from the navigation.
    page.click("nav >> text=RACI")
    expect(page.locator("body")).to_contain_text("security_champion")
    shot = Path("/tmp/bastion-registry.png")
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
