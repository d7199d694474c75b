"""The web console through TestClient: sign-in, sessions, every page, CSRF and headers."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyotp
import pytest
from fastapi.testclient import TestClient

from bastion.access import Principal, Role, create_token, issue_session, revoke_token
from bastion.api import create_app
from bastion.api.console import SESSION_COOKIE
from bastion.core.settings import get_settings
from bastion.core.workspace import init_workspace
from bastion.inventory import import_manifest
from bastion.manifest import parse_manifest
from tests.e2e import EXAMPLE, SYSTEM, Demo, build_demo

BASE = "http://testserver"
SAME_ORIGIN = {"Origin": BASE}
FOREIGN_ORIGIN = {"Origin": "https://evil.example"}

PAGES = [
    "/ui/",
    "/ui/inventory",
    "/ui/inventory/table?kind=model",
    f"/ui/assets/{SYSTEM}/credit-gbm",
    "/ui/evidence",
    "/ui/evidence/{evidence}",
    "/ui/ledger",
    "/ui/ledger/verify",
    "/ui/no-such-page",
]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    d = build_demo(tmp_path_factory.mktemp("console") / "h")
    yield d
    d.ws.close()


@pytest.fixture
def client(demo: Demo) -> Iterator[TestClient]:
    with TestClient(create_app(demo.ws.settings, workspace=demo.ws), base_url=BASE) as c:
        yield c


def _login(client: TestClient, token: str, otp: str = "", **headers: str) -> object:
    return client.post(
        "/ui/login",
        data={"token": token, "otp": otp},
        headers=headers or SAME_ORIGIN,
        follow_redirects=False,
    )


@pytest.fixture
def viewer(client: TestClient, demo: Demo) -> TestClient:
    r = client.post(
        "/ui/login", data={"token": demo.viewer_token}, headers=SAME_ORIGIN, follow_redirects=False
    )
    assert r.status_code == 303, r.text
    return client


def _page(demo: Demo, path: str) -> str:
    return path.replace("{evidence}", demo.evidence.id)


# -- deny by default ----------------------------------------------------------------------


@pytest.mark.parametrize("path", PAGES)
def test_every_page_needs_a_session(client: TestClient, demo: Demo, path: str) -> None:
    r = client.get(_page(demo, path), follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/ui/login"


def test_htmx_request_without_session_is_sent_to_sign_in(client: TestClient) -> None:
    r = client.get("/ui/ledger/verify", headers={"HX-Request": "true"}, follow_redirects=False)
    assert r.status_code == 401
    assert r.headers["hx-redirect"] == "/ui/login"
    assert "Ledger OK" not in r.text


@pytest.mark.parametrize(
    "cookie",
    [
        "not-a-jwt",
        "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ4In0.",  # alg=none
    ],
)
def test_forged_session_is_refused(client: TestClient, cookie: str) -> None:
    client.cookies.set(SESSION_COOKIE, cookie, path="/ui")
    r = client.get("/ui/", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/ui/login?ended=1"
    assert f"{SESSION_COOKIE}=" in r.headers["set-cookie"]  # cleared


def test_session_signed_with_another_key_is_refused(
    client: TestClient, demo: Demo, tmp_path: Path
) -> None:
    other, _ = init_workspace(get_settings(home=tmp_path / "other"))
    try:
        principal = Principal(demo.viewer_token.split("_")[1], "x", Role.VIEWER)
        client.cookies.set(SESSION_COOKIE, issue_session(other, principal), path="/ui")
    finally:
        other.close()
    assert client.get("/ui/", follow_redirects=False).status_code == 303


def test_expired_session_is_refused(client: TestClient, demo: Demo) -> None:
    principal = Principal(demo.viewer_token.split("_")[1], "Vera Viewer", Role.VIEWER)
    old = datetime.now(UTC) - timedelta(hours=9)
    client.cookies.set(SESSION_COOKIE, issue_session(demo.ws, principal, now=old), path="/ui")
    r = client.get("/ui/", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/ui/login?ended=1"
    page = client.get("/ui/login?ended=1")
    assert "Your session has ended" in page.text


# -- sign-in ------------------------------------------------------------------------------


def test_login_form(client: TestClient) -> None:
    r = client.get("/ui/login")
    assert r.status_code == 200
    assert 'name="token"' in r.text
    assert 'name="otp"' in r.text
    assert 'action="/ui/login"' in r.text
    assert "Sign out" not in r.text  # no nav before sign-in


@pytest.mark.parametrize(
    "token",
    ["", "nonsense", "bst_aaaaaaaaaaaa_" + "A" * 43],
)
def test_bad_token_is_refused_with_one_message(client: TestClient, token: str) -> None:
    r = _login(client, token)
    assert r.status_code == 401
    assert r.text.count('role="alert"') == 1
    assert "Sign-in failed: the token or the one-time code is not valid." in r.text
    assert 'name="token"' in r.text  # the form again
    assert SESSION_COOKIE not in r.headers.get("set-cookie", "")


def test_viewer_signs_in_and_gets_a_strict_session_cookie(client: TestClient, demo: Demo) -> None:
    r = _login(client, demo.viewer_token)
    assert r.status_code == 303
    assert r.headers["location"] == "/ui/"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
    assert "Path=/ui" in cookie
    assert "Secure" not in cookie  # plain http
    assert "Max-Age=28800" in cookie
    home = client.get("/ui/")
    assert home.status_code == 200
    assert "Vera Viewer" in home.text
    assert ">viewer<" in home.text
    # Signed in already: the form sends you home.
    again = client.get("/ui/login", follow_redirects=False)
    assert again.status_code == 303
    assert again.headers["location"] == "/ui/"


def test_session_cookie_is_secure_over_https(demo: Demo) -> None:
    app = create_app(demo.ws.settings, workspace=demo.ws)
    with TestClient(app, base_url="https://testserver") as c:
        r = c.post(
            "/ui/login",
            data={"token": demo.viewer_token},
            headers={"Origin": "https://testserver"},
            follow_redirects=False,
        )
    assert r.status_code == 303
    assert "Secure" in r.headers["set-cookie"]


def test_session_holds_token_id_mfa_and_times(client: TestClient, demo: Demo) -> None:
    import jwt

    _login(client, demo.viewer_token)
    value = client.cookies.get(SESSION_COOKIE)
    assert value is not None
    header = jwt.get_unverified_header(value)
    claims = jwt.decode(value, options={"verify_signature": False})
    assert header["alg"] == "HS256"
    assert claims["sub"] == demo.viewer_token.split("_")[1]
    assert claims["mfa"] is False
    assert claims["exp"] - claims["iat"] == 8 * 3600
    assert demo.viewer_token.split("_")[2] not in value  # the secret never travels in it


@pytest.mark.parametrize("role", ["admin", "approver"])
def test_privileged_role_needs_a_totp_code(client: TestClient, demo: Demo, role: str) -> None:
    new = create_token(demo.ws, name=f"Ada {role}", role=role, actor="test")
    assert new.totp_secret is not None
    without = _login(client, new.token)
    assert without.status_code == 401
    assert "needs multi-factor authentication" in without.text
    assert client.get("/ui/", follow_redirects=False).status_code == 303
    wrong = _login(
        client, new.token, "000000" if pyotp.TOTP(new.totp_secret).now() != "000000" else "111111"
    )
    assert wrong.status_code == 401
    assert "Sign-in failed" in wrong.text
    malformed = _login(client, new.token, "12ab56")
    assert malformed.status_code == 401
    ok = _login(client, new.token, pyotp.TOTP(new.totp_secret).now())
    assert ok.status_code == 303
    home = client.get("/ui/")
    assert home.status_code == 200
    assert f"Ada {role}" in home.text
    assert ">MFA<" in home.text


def test_revoking_the_token_ends_the_session_at_once(client: TestClient, demo: Demo) -> None:
    new = create_token(demo.ws, name="Short Lived", role="engineer", actor="test")
    assert _login(client, new.token).status_code == 303
    assert client.get("/ui/").status_code == 200
    revoke_token(demo.ws, new.info.id, actor="test")
    r = client.get("/ui/inventory", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/ui/login?ended=1"
    assert client.cookies.get(SESSION_COOKIE) is None
    # And the old cookie value, replayed, is refused too.
    again = _login(client, new.token)
    assert again.status_code == 401


def test_logout_clears_the_session(viewer: TestClient) -> None:
    assert viewer.get("/ui/").status_code == 200
    r = viewer.post("/ui/logout", headers=SAME_ORIGIN, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/ui/login"
    assert (
        f'{SESSION_COOKIE}=""' in r.headers["set-cookie"] or "Max-Age=0" in r.headers["set-cookie"]
    )
    assert viewer.cookies.get(SESSION_COOKIE) is None
    assert viewer.get("/ui/", follow_redirects=False).status_code == 303


# -- CSRF ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        FOREIGN_ORIGIN,
        {"Origin": "null"},
        {"Referer": "https://evil.example/ui/"},
        {"Origin": "http://testserver.evil.example"},
        {"Origin": BASE, "Sec-Fetch-Site": "cross-site"},
        {},  # neither Origin nor Referer
    ],
)
def test_cross_site_logout_is_refused(viewer: TestClient, headers: dict[str, str]) -> None:
    r = viewer.post("/ui/logout", headers=headers, follow_redirects=False)
    assert r.status_code == 403
    assert "Cross-site request refused" in r.text
    assert "set-cookie" not in r.headers
    assert viewer.get("/ui/").status_code == 200  # still signed in


def test_cross_site_login_is_refused(client: TestClient, demo: Demo) -> None:
    r = _login(client, demo.viewer_token, **FOREIGN_ORIGIN)
    assert r.status_code == 403
    assert "set-cookie" not in r.headers
    assert client.get("/ui/", follow_redirects=False).status_code == 303


def test_same_origin_referer_is_accepted(client: TestClient, demo: Demo) -> None:
    r = _login(client, demo.viewer_token, Referer=f"{BASE}/ui/login")
    assert r.status_code == 303


def test_oversized_login_form_is_refused(client: TestClient) -> None:
    r = client.post(
        "/ui/login", data={"token": "x" * 20_000}, headers=SAME_ORIGIN, follow_redirects=False
    )
    assert r.status_code == 413


# -- pages --------------------------------------------------------------------------------


def test_overview(viewer: TestClient, demo: Demo) -> None:
    r = viewer.get("/ui/")
    assert r.status_code == 200
    text = r.text
    assert re.search(r'data-testid="count-systems">1<', text)
    assert re.search(r'data-testid="count-assets">14<', text)
    assert re.search(r'data-testid="count-evidence">1<', text)
    shown = re.search(r'data-testid="count-ledger">(\d+)<', text)
    assert shown is not None
    assert int(shown.group(1)) == demo.ws.ledger.size()
    assert 'data-testid="checkpoint-size">' in text
    assert "Retail credit scoring" in text
    assert "inventory.hygiene" in text
    for link in ("/ui/inventory", "/ui/evidence", "/ui/ledger"):
        assert f'href="{link}"' in text


def test_inventory_lists_systems_and_assets(viewer: TestClient) -> None:
    r = viewer.get("/ui/inventory")
    assert r.status_code == 200
    assert "Retail credit scoring" in r.text
    for name in (
        "Loan applicant database",
        "Credit default model (gradient boosting)",
        "Hosted LLM for letter drafting",
    ):
        assert html.escape(name) in r.text
    assert "14 assets" in r.text
    # The filter form works with HTMX and without it.
    assert 'hx-get="/ui/inventory/table"' in r.text
    assert 'hx-target="#asset-table"' in r.text
    assert 'method="get" action="/ui/inventory"' in r.text


def test_inventory_filter_without_js(viewer: TestClient) -> None:
    r = viewer.get("/ui/inventory", params={"kind": "model", "owner": "", "system": SYSTEM})
    assert r.status_code == 200
    kinds = re.findall(r'<tr data-kind="([a-z_]+)"', r.text)
    assert kinds == ["model", "model"]
    assert '<option value="model" selected>' in r.text


def test_inventory_table_fragment_for_htmx(viewer: TestClient) -> None:
    r = viewer.get(
        "/ui/inventory/table",
        params={"kind": "model", "classification": "confidential"},
        headers={"HX-Request": "true"},
    )
    assert r.status_code == 200
    assert "<html" not in r.text
    assert r.text.lstrip().startswith('<div id="asset-table"')
    assert re.findall(r'<tr data-kind="([a-z_]+)"', r.text) == ["model", "model"]
    assert "credit-gbm" in r.text
    assert "credit-mlp" in r.text
    assert r.headers["hx-push-url"] == "/ui/inventory?kind=model&classification=confidential"
    none = viewer.get("/ui/inventory/table", params={"owner": "nobody@example"})
    assert "No asset matches these filters." in none.text


def test_asset_page(viewer: TestClient, demo: Demo) -> None:
    r = viewer.get(f"/ui/assets/{SYSTEM}/applicant-db")
    assert r.status_code == 200
    t = r.text
    assert "Loan applicant database" in t
    assert "lending-platform@bank.example" in t
    assert "restricted" in t
    for pii in ("government_id", "date_of_birth", "credit_history"):
        assert f'<span class="badge pii">{pii}</span>' in t
    assert "on_prem" in t
    assert "bank data centre" in t
    assert "iam" in t
    assert "at rest: yes" in t
    assert "HSM-backed transparent data encryption" in t
    assert "Version history" in t
    assert "added" in t
    # Evidence about its system is listed and linked.
    assert f'href="/ui/evidence/{demo.evidence.id}"' in t
    # Properties as readable JSON.
    assert "&#34;engine&#34;: &#34;postgresql&#34;" in t or "&quot;engine&quot;" in t


def test_asset_tags_shown(viewer: TestClient) -> None:
    r = viewer.get(f"/ui/assets/{SYSTEM}/credit-gbm")
    assert r.status_code == 200
    assert "Credit default model (gradient boosting)" in r.text
    assert "badge kind" in r.text


@pytest.mark.parametrize(
    "path",
    [
        f"/ui/assets/{SYSTEM}/no-such-asset",
        "/ui/assets/no-such-system/credit-gbm",
        "/ui/evidence/00000000-0000-0000-0000-000000000000",
        "/ui/no/such/page",
    ],
)
def test_unknown_ids_give_the_404_page(viewer: TestClient, path: str) -> None:
    r = viewer.get(path)
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("text/html")
    assert "Not found" in r.text
    assert "Traceback" not in r.text
    assert "Sign out" in r.text  # still inside the console's frame


def test_evidence_list_and_filters(viewer: TestClient, demo: Demo) -> None:
    r = viewer.get("/ui/evidence")
    assert r.status_code == 200
    assert "inventory.hygiene" in r.text
    assert 'class="badge verdict-pass">pass<' in r.text
    assert f"/ui/evidence/{demo.evidence.id}" in r.text
    same = viewer.get("/ui/evidence", params={"check_id": "inventory.hygiene", "verdict": "pass"})
    assert demo.evidence.id in same.text
    other = viewer.get("/ui/evidence", params={"verdict": "fail"})
    assert demo.evidence.id not in other.text
    assert "No evidence matches these filters." in other.text
    odd = viewer.get("/ui/evidence", params={"verdict": "maybe"})
    assert odd.status_code == 200
    assert "Unknown verdict" in odd.text


def test_evidence_detail(viewer: TestClient, demo: Demo) -> None:
    r = viewer.get(f"/ui/evidence/{demo.evidence.id}")
    assert r.status_code == 200
    t = r.text
    assert 'data-testid="verdict">pass<' in t
    assert "Matches the ledger" in t
    assert demo.evidence.digest in t
    assert "manifest_digest" in t  # the data, as JSON
    assert f'href="/ui/inventory?system={SYSTEM}"' in t


def test_evidence_detail_shows_findings_with_severity(tmp_path: Path) -> None:
    """A system with an unencrypted sensitive asset: the hygiene check finds it."""
    text = EXAMPLE.read_text()
    text = text.replace("id: credit-scoring", "id: leaky-scoring", 1)
    text = text.replace(
        "      at_rest: true\n      in_transit: true\n      key_management: HSM-backed",
        "      at_rest: false\n      in_transit: true\n      key_management: HSM-backed",
        1,
    )
    from bastion._plugins import load_checks
    from bastion.core.checks import run_check
    from bastion.core.types import Subject

    ws, _ = init_workspace(get_settings(home=tmp_path / "h"))
    try:
        import_manifest(ws, parse_manifest(text), actor="test")
        load_checks()
        ev = run_check(ws, "inventory.hygiene", Subject("system", "leaky-scoring"))
        token = create_token(ws, name="Vic", role="viewer").token
        with TestClient(create_app(ws.settings, workspace=ws), base_url=BASE) as c:
            assert _login(c, token).status_code == 303
            r = c.get(f"/ui/evidence/{ev.id}")
        assert 'data-testid="verdict">fail<' in r.text
        assert '<span class="badge sev-high">high</span>' in r.text
        finding = ev.findings[0]
        assert html.escape(finding.title, quote=False) in r.text
        assert html.escape(finding.message, quote=False) in r.text
        assert finding.remediation
        assert html.escape(finding.remediation, quote=False) in r.text
    finally:
        ws.close()


def test_ledger_page(viewer: TestClient, demo: Demo) -> None:
    r = viewer.get("/ui/ledger")
    assert r.status_code == 200
    note = demo.ws.ledger.latest_checkpoint()
    assert note is not None
    # The signed note, verbatim, in a <pre> (escaping leaves it byte-for-byte the same here).
    assert f'<pre class="note" data-testid="checkpoint">{html.escape(note)}</pre>' in r.text
    assert 'hx-get="/ui/ledger/verify"' in r.text
    assert 'hx-trigger="load"' in r.text
    assert "evidence.recorded" in r.text
    assert "inventory.imported" in r.text
    assert r.text.count("<tr><td>") <= 50


def test_ledger_verify_fragment_and_page(viewer: TestClient, demo: Demo) -> None:
    frag = viewer.get("/ui/ledger/verify", headers={"HX-Request": "true"})
    assert frag.status_code == 200
    assert "<html" not in frag.text
    assert "Ledger OK" in frag.text
    assert re.search(r"verified in [0-9.]+ ms", frag.text)
    page = viewer.get("/ui/ledger/verify")
    assert "<html" in page.text
    assert "Ledger OK" in page.text


def test_ledger_verify_names_problems(tmp_path: Path) -> None:
    """Tamper with a stored event: the live verification names it."""
    from sqlalchemy import text

    d = build_demo(tmp_path / "h")
    try:
        with d.ws.db.session() as s:
            s.execute(text("UPDATE ledger_entries SET data = :d WHERE seq = 1"), {"d": b"{}"})
        with TestClient(create_app(d.ws.settings, workspace=d.ws), base_url=BASE) as c:
            assert _login(c, d.viewer_token).status_code == 303
            r = c.get("/ui/ledger/verify", headers={"HX-Request": "true"})
        assert "Ledger verification FAILED" in r.text
        assert "entry #1" in r.text
    finally:
        d.ws.close()


# -- headers and hygiene ------------------------------------------------------------------


def _assert_security_headers(r: object, *, no_store: bool = True) -> None:
    headers = r.headers  # type: ignore[attr-defined]
    csp = headers["content-security-policy"]
    assert "default-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "same-origin"
    if no_store:
        assert headers["cache-control"] == "no-store"


def test_security_headers_on_every_console_response(viewer: TestClient, demo: Demo) -> None:
    for path in PAGES:
        r = viewer.get(_page(demo, path))
        assert r.status_code in (200, 404), path
        _assert_security_headers(r)
    _assert_security_headers(viewer.get("/ui/static/console.css"), no_store=False)


def test_security_headers_before_sign_in(client: TestClient) -> None:
    _assert_security_headers(client.get("/ui/login"))
    _assert_security_headers(client.get("/ui/", follow_redirects=False))
    _assert_security_headers(_login(client, "bad"))  # type: ignore[arg-type]


def test_pages_have_no_inline_script_or_style(viewer: TestClient, demo: Demo) -> None:
    for path in [*PAGES, "/ui/login"]:
        t = viewer.get(_page(demo, path)).text
        assert not re.search(r"<script(?![^>]*\bsrc=)", t), path
        assert "<style" not in t, path
        assert " style=" not in t, path
        assert not re.search(r"\son[a-z]+=", t), path
        assert not re.search(r'(src|href)="(https?:)?//', t), path  # nothing from elsewhere


def test_static_files(client: TestClient) -> None:
    js = client.get("/ui/static/htmx.min.js")
    assert js.status_code == 200
    assert js.text.startswith("/*! htmx 2.")
    assert "0BSD" in js.text[:300]
    lic = client.get("/ui/static/htmx.LICENSE.txt")
    assert "Zero-Clause BSD" in lic.text
    css = client.get("/ui/static/console.css")
    assert css.status_code == 200
    assert ".badge" in css.text


def test_autoescaping(tmp_path: Path) -> None:
    text = EXAMPLE.read_text().replace("id: credit-scoring", "id: xss-scoring", 1)
    text = text.replace(
        "description: System of record for loan applications, including bureau reports.",
        "description: <script>alert('x')</script> & more",
        1,
    )
    ws, _ = init_workspace(get_settings(home=tmp_path / "h"))
    try:
        import_manifest(ws, parse_manifest(text), actor="test")
        token = create_token(ws, name="Vic", role="viewer").token
        with TestClient(create_app(ws.settings, workspace=ws), base_url=BASE) as c:
            assert _login(c, token).status_code == 303
            r = c.get("/ui/assets/xss-scoring/applicant-db")
        assert "<script>alert" not in r.text
        assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; more" in r.text
    finally:
        ws.close()


def test_console_routes_are_not_in_the_openapi_schema(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert not [p for p in paths if p.startswith("/ui")]


# -- issue 14, finding 15: revocable sessions, allowed hosts --------------------------------


def test_finding_15_sign_out_ends_the_session(viewer: TestClient, demo: Demo) -> None:
    cookie = viewer.cookies.get(SESSION_COOKIE)
    assert cookie and viewer.get("/ui/", follow_redirects=False).status_code == 200
    r = viewer.post("/ui/logout", headers=SAME_ORIGIN, follow_redirects=False)
    assert r.status_code == 303
    # The old cookie, replayed after sign-out (its JWT is still within its 8 hours): refused.
    viewer.cookies.set(SESSION_COOKIE, cookie, path="/ui")
    r = viewer.get("/ui/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/ui/login?ended=1"
    kinds = [e.kind for e in demo.ws.ledger.entries(limit=50, newest_first=True)]
    assert "access.session_ended" in kinds
    ended = next(
        e
        for e in demo.ws.ledger.entries(limit=50, newest_first=True)
        if e.kind == "access.session_ended"
    )
    assert cookie not in str(ended.data)  # the ledger names the session by a digest only


def test_finding_15_unknown_host_is_refused(client: TestClient, demo: Demo) -> None:
    evil = {"Host": "evil.example", "Origin": "http://evil.example"}
    r = client.get("/ui/login", headers={"Host": "evil.example"})
    assert r.status_code == 400 and "Unknown host" in r.text
    assert r.headers["x-frame-options"] == "DENY"
    r = _login(client, demo.viewer_token, **evil)
    assert r.status_code == 400  # before the fix: 303, signed in
    assert SESSION_COOKIE not in r.headers.get("set-cookie", "")
    # The API is not the console: bearer tokens are not ambient, so no Host check there.
    assert client.get("/healthz", headers={"Host": "evil.example"}).text == "ok"


def test_finding_15_origin_must_be_an_allowed_host(demo: Demo) -> None:
    """With the default setting (localhost names) and any Host header an attacker chooses,
    the CSRF check compares the Origin with the allowed hosts, not with the Host header."""
    settings = demo.ws.settings.model_copy(update={"allowed_hosts": ("localhost", "127.0.0.1")})
    with TestClient(create_app(settings, workspace=demo.ws), base_url="http://localhost:8700") as c:
        assert c.get("/ui/login").status_code == 200
        assert c.get("/ui/login", headers={"Host": "testserver"}).status_code == 400
        # A page on another local port is same-site for cookies, but not this origin.
        r = _login(c, demo.viewer_token, Origin="http://localhost:9999")
        assert r.status_code == 403
        r = _login(c, demo.viewer_token, Origin="http://127.0.0.1:8700")
        assert r.status_code == 403
        r = _login(c, demo.viewer_token, Origin="http://localhost:8700")
        assert r.status_code == 303
