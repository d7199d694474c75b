"""The console pages of the threats, risk and integrity rooms, through TestClient.

The workspace holds the credit-scoring example: its threats recorded, its risks registered
from them, the example's scenarios simulated with --record, and the example's trained model
registered, signed, verified and scanned.
"""

from __future__ import annotations

import html
import importlib.util
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient

from bastion.api import create_app
from bastion.core.types import Evidence
from bastion.manifest import load_manifest
from tests.e2e import EXAMPLE, SYSTEM, Demo, build_demo

SCENARIOS = EXAMPLE.parent / "scenarios.yaml"
TRAIN = EXAMPLE.parent / "train.py"
BASE = "http://testserver"
SAME_ORIGIN = {"Origin": BASE}


@dataclass(frozen=True)
class SecurityDemo:
    """The console demo plus the evidence the security pages show."""

    demo: Demo
    simulation: Evidence
    sign: Evidence
    verify: Evidence
    scan: Evidence
    risk_id: str
    model: str
    version: str


def _write_key(dir_: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    priv, pub = dir_ / "signer.key", dir_ / "signer.pub"
    priv.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    os.chmod(priv, 0o600)
    pub.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return priv, pub


def _train(out: Path) -> Path:
    spec = importlib.util.spec_from_file_location("credit_scoring_train", TRAIN)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    try:
        spec.loader.exec_module(mod)
        mod.build(out, n_applicants=300, seed=7)
    finally:
        sys.modules.pop(spec.name, None)
    return out / "models" / "credit-gbm"


def build_security_demo(home: Path) -> SecurityDemo:
    from bastion.integrity import record_scan, record_sign, record_verify, scan_path
    from bastion.registry import register_model
    from bastion.risk import load_scenarios, record_simulation, register_from_threats, simulate
    from bastion.threats import record_model, system_threats

    demo = build_demo(home / "ws")
    ws = demo.ws
    model = system_threats(ws, SYSTEM)
    record_model(ws, model, actor="test")
    manifest = load_manifest(EXAMPLE)
    risks = register_from_threats(ws, manifest, [f.to_dict() for f in model.findings], actor="t")
    res = simulate(load_scenarios(SCENARIOS), iterations=4000, seed=7)
    record_simulation(ws, res, actor="test")
    (simulation,) = ws.evidence.list(_query("risk.simulation"))
    model_dir = _train(home / "train")
    v = register_model(ws, "credit-gbm", model_dir, system=SYSTEM, asset="credit-gbm", actor="t")
    priv, pub = _write_key(home)
    sig = home / "credit-gbm.sig"
    _, sign = record_sign(ws, model_dir, priv, name="credit-gbm", signature_path=sig, actor="t")
    _, verify = record_verify(ws, model_dir, [sig], name="credit-gbm", public_keys=[pub], actor="t")
    scan = record_scan(ws, scan_path(model_dir), name="credit-gbm", actor="t")
    return SecurityDemo(demo, simulation, sign, verify, scan, risks[0].id, v.model, v.version)


def _query(check_id: str) -> object:
    from bastion.core.evidence import EvidenceQuery

    return EvidenceQuery(check_id=check_id, limit=10)


# -- fixtures -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecurityDemo]:
    d = build_security_demo(tmp_path_factory.mktemp("console-security"))
    yield d
    d.demo.ws.close()


@pytest.fixture
def client(sd: SecurityDemo) -> Iterator[TestClient]:
    app = create_app(sd.demo.ws.settings, workspace=sd.demo.ws)
    with TestClient(app, base_url=BASE) as c:
        yield c


@pytest.fixture
def viewer(client: TestClient, sd: SecurityDemo) -> TestClient:
    r = client.post(
        "/ui/login",
        data={"token": sd.demo.viewer_token},
        headers=SAME_ORIGIN,
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    return client


THREATS = f"/ui/systems/{SYSTEM}/threats"
PAGES = [
    "/ui/threats",
    THREATS,
    f"{THREATS}/table?status=open",
    f"{THREATS}/diagram.svg",
    f"{THREATS}/report.html",
    f"{THREATS}/navigator.json",
    "/ui/risk",
    "/ui/risk/{risk}",
    "/ui/risk/simulations",
    "/ui/risk/simulations/{simulation}",
    "/ui/risk/simulations/{simulation}/lec.svg",
    "/ui/risk/simulations/{simulation}/tornado.svg",
    "/ui/models",
    "/ui/registry/{model}/{version}",
]


def _url(sd: SecurityDemo, path: str) -> str:
    return path.format(
        risk=sd.risk_id, simulation=sd.simulation.id, model=sd.model, version=sd.version
    )


def _text(body: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body)))


# -- deny by default ----------------------------------------------------------------------


@pytest.mark.parametrize("path", PAGES)
def test_every_page_needs_a_session(client: TestClient, sd: SecurityDemo, path: str) -> None:
    r = client.get(_url(sd, path), follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/ui/login"
    assert r.headers["X-Frame-Options"] == "DENY"


def test_htmx_fragment_without_session_is_told_to_sign_in(client: TestClient) -> None:
    r = client.get(f"{THREATS}/table", headers={"HX-Request": "true"}, follow_redirects=False)
    assert r.status_code == 401
    assert r.headers["HX-Redirect"] == "/ui/login"


@pytest.mark.parametrize("path", PAGES)
def test_every_page_renders_with_security_headers(
    viewer: TestClient, sd: SecurityDemo, path: str
) -> None:
    r = viewer.get(_url(sd, path))
    assert r.status_code == 200, r.text[:500]
    assert r.headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Cache-Control"] == "no-store"


# -- threats ------------------------------------------------------------------------------


def test_threats_page_shows_the_model(viewer: TestClient, sd: SecurityDemo) -> None:
    from bastion.threats import system_threats

    model = system_threats(sd.demo.ws, SYSTEM)
    body = viewer.get(THREATS).text
    text = _text(body)
    assert f"{len(model.findings)} of {len(model.findings)} findings" in text
    # The diagram is an <img> of the SVG route, never inline SVG in the page.
    assert f'<img class="diagram" src="{THREATS}/diagram.svg"' in body
    assert "<svg" not in body
    # Counts by severity and status match the model.
    for f_sev in ("high", "critical"):
        n = sum(1 for f in model.findings if f.severity.value == f_sev and f.open)
        assert re.search(rf'data-cell="{f_sev}-open"><a [^>]+>{n}</a>', body)
    # Every finding is a row with its rule, element and ATLAS ids with names.
    f = next(f for f in model.findings if f.rule.atlas)
    row = body[body.index(f'id="f-{f.id}"') :]
    row = row[: row.index("</tr>")]
    assert f.rule.id in row and f.element_id in row
    assert f.rule.atlas[0] in row
    assert "http" not in row  # no external links
    assert html.escape(f.applies_because, quote=False) in row or f.applies_because in _text(row)
    assert "Why it" in row and "Suppression" in row


def test_threat_filters_htmx_and_plain(viewer: TestClient, sd: SecurityDemo) -> None:
    from bastion.threats import system_threats

    model = system_threats(sd.demo.ws, SYSTEM)
    want = [f for f in model.findings if f.open and f.severity.value == "high"]
    assert want, "the example has open high findings"
    r = viewer.get(f"{THREATS}/table?status=open&severity=high", headers={"HX-Request": "true"})
    assert r.status_code == 200
    assert r.headers["HX-Push-Url"] == f"{THREATS}?status=open&severity=high"
    assert "<html" not in r.text  # a fragment
    rows = re.findall(r'data-status="(\w+)" data-severity="(\w+)"', r.text)
    assert rows == [("open", "high")] * len(want)
    # The plain GET fallback gives the same rows inside a whole page.
    page = viewer.get(f"{THREATS}?status=open&severity=high").text
    assert re.findall(r'data-status="(\w+)" data-severity="(\w+)"', page) == rows
    assert "<html" in page
    # An unknown filter value is ignored and said so.
    bad = viewer.get(f"{THREATS}?severity=apocalyptic").text
    assert "unknown severity" in bad
    assert len(re.findall(r'data-status="', bad)) == len(model.findings)


def test_threat_downloads(viewer: TestClient) -> None:
    svg = viewer.get(f"{THREATS}/diagram.svg")
    assert svg.headers["content-type"] == "image/svg+xml"
    assert svg.text.lstrip().startswith("<?xml") or "<svg" in svg.text[:500]
    assert "<script" not in svg.text
    rep = viewer.get(f"{THREATS}/report.html")
    assert rep.headers["content-type"].startswith("text/html")
    assert rep.headers["content-disposition"] == f'attachment; filename="{SYSTEM}-threats.html"'
    assert "Threat model:" in rep.text
    nav = viewer.get(f"{THREATS}/navigator.json")
    assert nav.headers["content-disposition"].startswith("attachment;")
    layer = nav.json()
    assert layer["techniques"] and all(
        t["techniqueID"].startswith("AML.") for t in layer["techniques"]
    )


def test_threats_index_links_systems(viewer: TestClient) -> None:
    body = viewer.get("/ui/threats").text
    assert f'href="{THREATS}"' in body
    assert 'class="active" aria-current="page">Threats' in body


# -- risk ---------------------------------------------------------------------------------


def test_risk_register_and_filter(viewer: TestClient, sd: SecurityDemo) -> None:
    from bastion.risk import list_risks, update_risk

    risks = list_risks(sd.demo.ws)
    body = viewer.get("/ui/risk").text
    assert f"{len(risks)} risks" in _text(body)
    for r in risks:
        assert f'href="/ui/risk/{r.id}"' in body
    assert body.count(f'href="{THREATS}"') == len(risks)
    # The example's scenarios cite five of these risks: each shows its P90 in money.
    priced = [r for r in risks if r.summary]
    assert len(priced) == 5
    for r in priced:
        assert r.summary is not None
        row = body[body.index(f'href="/ui/risk/{r.id}"') :]
        row = row[: row.index("</tr>")]
        assert f"{float(r.summary['p90']):,.0f} EUR" in row
        assert f"{float(r.summary['mean']):,.0f} EUR" in row  # the mean beside the P90
    # Largest exposure first, unpriced risks after every priced one.
    order = re.findall(r'href="/ui/risk/(risk-[0-9a-f]+)"', body)
    p90 = {r.id: float(r.summary["p90"]) for r in priced if r.summary}
    shown = [p90[i] for i in dict.fromkeys(order) if i in p90]
    assert shown == sorted(p90.values(), reverse=True)
    first_unpriced = next(i for i, rid in enumerate(dict.fromkeys(order)) if rid not in p90)
    assert first_unpriced == len(p90)
    other = next(r for r in risks if r.id != sd.risk_id)
    update_risk(sd.demo.ws, other.id, status="analyzed", note="looked at", actor="test")
    only = viewer.get("/ui/risk?status=analyzed").text
    assert re.findall(r'data-status="(\w+)"', only) == ["analyzed"]
    assert f'href="/ui/risk/{other.id}"' in only
    assert "Unknown status" in viewer.get("/ui/risk?status=nope").text


def test_risk_detail(viewer: TestClient, sd: SecurityDemo) -> None:
    from bastion.risk import get_risk

    r = get_risk(sd.demo.ws, sd.risk_id)
    body = viewer.get(f"/ui/risk/{sd.risk_id}").text
    assert r.title in html.unescape(body)
    assert f'data-testid="risk-status">{r.status.value}<' in body
    for t in r.threats:
        assert f"{THREATS}#f-" in body and t in body
    assert "created" in _text(body)  # the history


def test_simulation_pages(viewer: TestClient, sd: SecurityDemo) -> None:
    e = sd.simulation
    listing = viewer.get("/ui/risk/simulations").text
    assert f'href="/ui/risk/simulations/{e.id}"' in listing
    body = viewer.get(f"/ui/risk/simulations/{e.id}").text
    assert f'src="/ui/risk/simulations/{e.id}/lec.svg"' in body
    assert f'src="/ui/risk/simulations/{e.id}/tornado.svg"' in body
    assert "<svg" not in body
    table = body[body.index('data-testid="percentiles"') :]
    for s in e.data["scenarios"]:
        row = table[table.index(f'data-scenario="{s["id"]}"') :]
        row = row[: row.index("</tr>")]
        assert f"{s['p90']:,.0f}" in row and f"{s['p99']:,.0f}" in row
    port = table[table.index('data-scenario="portfolio"') :]
    for k in ("p10", "p50", "mean", "p90", "p95", "p99"):
        assert f"{e.data['portfolio'][k]:,.0f}" in port


def test_simulation_charts_rerun_the_recorded_simulation(
    viewer: TestClient, sd: SecurityDemo
) -> None:
    from bastion.risk import load_scenarios, simulate

    e = sd.simulation
    lec = viewer.get(f"/ui/risk/simulations/{e.id}/lec.svg")
    assert lec.headers["content-type"] == "image/svg+xml"
    assert lec.headers["X-Content-Type-Options"] == "nosniff"
    # Deterministic: the same seed and iterations draw the same chart as the original run.
    again = simulate(
        load_scenarios(SCENARIOS), iterations=e.data["iterations"], seed=e.data["seed"]
    )
    assert lec.text == again.lec_svg()
    sid = e.data["scenarios"][1]["id"]
    tor = viewer.get(f"/ui/risk/simulations/{e.id}/tornado.svg", params={"scenario": sid})
    assert tor.headers["content-type"] == "image/svg+xml"
    assert tor.text == again.tornado_svg(sid)
    page = viewer.get(f"/ui/risk/simulations/{e.id}", params={"scenario": sid}).text
    assert f"tornado.svg?scenario={sid}" in page
    missing = viewer.get(f"/ui/risk/simulations/{e.id}/tornado.svg", params={"scenario": "x"})
    assert missing.status_code == 404


def test_simulation_without_document_says_why(viewer: TestClient, sd: SecurityDemo) -> None:
    from bastion.core.types import Subject, Verdict

    old = sd.demo.ws.evidence.record(
        check_id="risk.simulation",
        subject=Subject("risk_scenarios", "old.yaml"),
        verdict=Verdict.PASS,
        data={"iterations": 10, "seed": 1, "currency": "EUR", "scenarios": []},
        actor="test",
    )
    body = viewer.get(f"/ui/risk/simulations/{old.id}").text
    assert "no scenarios document" in body
    assert viewer.get(f"/ui/risk/simulations/{old.id}/lec.svg").status_code == 503


# -- models and integrity -----------------------------------------------------------------


def test_models_page(viewer: TestClient, sd: SecurityDemo) -> None:
    body = viewer.get("/ui/models").text
    row = body[body.index('data-model="credit-gbm"') :]
    row = row[: row.index("</tr>")]
    assert f'href="/ui/registry/{sd.model}/{sd.version}"' in row
    for e in (sd.sign, sd.verify, sd.scan):
        assert f'href="/ui/evidence/{e.id}"' in row
    assert 'class="active" aria-current="page">Models' in body


def test_unregistered_model_links_to_its_evidence(viewer: TestClient, sd: SecurityDemo) -> None:
    from bastion.core.types import Subject, Verdict

    e = sd.demo.ws.evidence.record(
        check_id="integrity.scan",
        subject=Subject("model", "stray-model", "sha256:" + "ab" * 32),
        verdict=Verdict.FAIL,
        data={},
        actor="test",
    )
    body = viewer.get("/ui/models").text
    row = body[body.index('data-model="stray-model"') :]
    row = row[: row.index("</tr>")]
    assert f'<a href="/ui/evidence/{e.id}">stray-model</a>' in row
    assert "not registered" in row


def test_registry_version_integrity_panel(viewer: TestClient, sd: SecurityDemo) -> None:
    body = viewer.get(f"/ui/registry/{sd.model}/{sd.version}").text
    panel = body[body.index('data-testid="integrity-panel"') :]
    panel = panel[: panel.index("</section>")]
    sig = panel[panel.index('data-check="signature"') :]
    assert f'href="/ui/evidence/{sd.verify.id}"' in sig[: sig.index("</tr>")]
    assert "verdict-pass" in sig[: sig.index("</tr>")]
    scan = panel[panel.index('data-check="scan"') :]
    assert f'href="/ui/evidence/{sd.scan.id}"' in scan[: scan.index("</tr>")]
    assert "no dependency scan" in panel
    assert "no AI-BOM" in panel


# -- unknown ids --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/ui/systems/no-such-system/threats",
        "/ui/systems/no-such-system/threats/diagram.svg",
        "/ui/systems/no-such-system/threats/report.html",
        "/ui/systems/no-such-system/threats/table",
        "/ui/risk/risk-000000000000",
        "/ui/risk/simulations/00000000-0000-0000-0000-000000000000",
        "/ui/risk/simulations/00000000-0000-0000-0000-000000000000/lec.svg",
        "/ui/risk/simulations/{evidence}",  # evidence of another check
    ],
)
def test_unknown_ids_give_the_404_page(viewer: TestClient, sd: SecurityDemo, path: str) -> None:
    r = viewer.get(path.format(evidence=sd.demo.evidence.id))
    assert r.status_code == 404
    assert "Not found" in r.text
    assert r.headers["content-type"].startswith("text/html")
    assert r.headers["X-Frame-Options"] == "DENY"


def test_threats_are_reachable_from_overview_inventory_and_asset_pages(
    viewer: TestClient,
) -> None:
    assert 'href="/ui/threats"' in viewer.get("/ui/").text
    assert 'href="/ui/risk"' in viewer.get("/ui/").text
    assert 'href="/ui/systems/credit-scoring/threats"' in viewer.get("/ui/inventory").text
    page = viewer.get("/ui/assets/credit-scoring/credit-gbm").text
    assert 'href="/ui/systems/credit-scoring/threats"' in page


# -- the rooms' view functions (issue 13 section 3): console, CLI and API share them -----


def test_finding_3_replay_is_the_risk_rooms(sd: SecurityDemo) -> None:
    """Re-running a recorded simulation, its digest check and its budget are the risk
    room's (``replay_simulation``): the console's charts are drawn from its result."""
    from dataclasses import replace

    from bastion.risk import get_simulation, list_simulations, replay_simulation

    ws = sd.demo.ws
    e = get_simulation(ws, sd.simulation.id)
    assert e is not None and e.id in {s.id for s in list_simulations(ws)}
    assert get_simulation(ws, sd.demo.evidence.id) is None  # other evidence is no simulation
    replay = replay_simulation(ws, e)
    assert replay.why is None and replay.result is not None
    assert "<svg" in replay.result.lec_svg()
    over = replay_simulation(ws, e, max_iterations=e.data["iterations"] - 1)
    assert over.result is None and "more than the console re-runs" in (over.why or "")
    tampered = replace(e, data={**e.data, "seed": e.data["seed"] + 1})
    bad = replay_simulation(ws, tampered)
    assert bad.result is None and "does not match its recorded digest" in (bad.why or "")


def test_finding_3_register_order_is_the_risk_rooms(viewer: TestClient, sd: SecurityDemo) -> None:
    """The register's order (largest P90 first, unpriced last) is ``by_exposure``; the
    console lists risks in exactly that order."""
    from bastion.risk import list_risks, register_by_exposure

    ws = sd.demo.ws
    ordered = register_by_exposure(ws)
    assert sorted(r.id for r in ordered) == sorted(r.id for r in list_risks(ws))
    p90 = [float((r.summary or {}).get("p90") or -1.0) for r in ordered]
    assert p90 == sorted(p90, reverse=True)
    body = viewer.get("/ui/risk").text
    positions = [body.find(f'href="/ui/risk/{r.id}"') for r in ordered]
    assert -1 not in positions and positions == sorted(positions)


def test_finding_3_model_evidence_is_the_integrity_and_registry_rooms(sd: SecurityDemo) -> None:
    """Which evidence speaks for a model is integrity's (``model_integrity``); the join of
    registry versions with it is the registry's (``models_with_evidence``)."""
    from bastion.integrity import MODEL_CHECKS, model_integrity
    from bastion.registry import get_version, models_with_evidence

    ws = sd.demo.ws
    v = get_version(ws, sd.model, sd.version)
    panel = model_integrity(ws, v.digest)
    assert panel.signature is not None and panel.signature.id == sd.verify.id
    assert panel.scan is not None and panel.scan.id == sd.scan.id
    assert panel.dependencies_scope in ("model", "environment")
    rows = {(r.name, r.digest): r for r in models_with_evidence(ws)}
    row = next(r for r in rows.values() if r.version is not None and r.digest == v.digest)
    assert set(row.checks) <= {c.id for c in MODEL_CHECKS}
    assert row.checks["integrity.scan"].id == sd.scan.id
    assert row.newest is not None
