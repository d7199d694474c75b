"""`bastion risk ...` end to end in process, and the /api/v1/risk routes."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pyotp
import pytest
from fastapi.testclient import TestClient

from bastion.access import create_token
from bastion.api import create_app
from bastion.core.workspace import Workspace
from bastion.risk import load_scenarios, risk_id
from tests._cli import Run, start
from tests.conftest import EXAMPLE_MANIFEST, ROOT
from tests.threats.test_model import EXPECTED

EX = ROOT / "examples" / "credit-scoring"
SCEN = EX / "scenarios.yaml"
CTRL = EX / "control-rate-limit.yaml"
# One risk (and one seeded scenario) per open threat of the example (pinned in tests/threats).
OPEN_THREATS = sum(1 for *_, status in EXPECTED if status == "open")


@pytest.fixture
def run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Run:
    return start(tmp_path, capsys)


def test_cli_simulate_charts_and_whatif(run: Run, tmp_path: Path) -> None:
    lec, tor = tmp_path / "lec.svg", tmp_path / "t.svg"
    rc, out, err = run(
        "risk",
        "simulate",
        str(SCEN),
        "--iterations",
        "5000",
        "--seed",
        "7",
        "--chart",
        str(lec),
        "--tornado",
        str(tor),
    )
    assert rc == 0, err
    assert "PORTFOLIO" in out and "P(annual loss > 1,000,000 EUR)" in out
    assert lec.read_text().count("<svg") == 1 and "Risk tolerance" in lec.read_text()
    assert "<svg" in tor.read_text()
    a = run.json("risk", "simulate", str(SCEN), "-n", "5000", "--seed", "7")
    b = run.json("risk", "simulate", str(SCEN), "-n", "5000", "--seed", "7")
    assert a == b and a["iterations"] == 5000 and len(a["scenarios"]) == 5  # type: ignore[index]
    w = run.json("risk", "whatif", str(SCEN), "--control", str(CTRL), "-n", "5000")
    assert w["reduction_in_mean_ale"] > 0 and "roi" in w  # type: ignore[index,operator]
    rc, out, _ = run("risk", "whatif", str(SCEN), "--control", str(CTRL), "-n", "2000")
    assert rc == 0 and "ROI" in out


def test_cli_bad_input_is_one_line_exit_2(run: Run, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(SCEN.read_text().replace("max: 24}", "max: 1}", 1))
    rc, _, err = run("risk", "simulate", str(bad))
    assert (
        rc == 2 and f"{bad}: scenario 'ai-extraction.scoring-api', field 'contact_frequency'" in err
    )
    assert "fix:" in err and "Traceback" not in err
    rc, _, err = run("risk", "simulate", str(tmp_path / "missing.yaml"))
    assert rc == 2 and "missing.yaml" in err


def test_cli_tier_and_register(run: Run) -> None:
    # Only a rating of the inventory's current manifest sets the appetite (finding 4).
    assert run("inventory", "import", str(EXAMPLE_MANIFEST))[0] == 0
    t = run.json("risk", "tier", str(EXAMPLE_MANIFEST))
    assert t["tier"] == 2 and t["evidence"]  # type: ignore[index]
    rc, out, _ = run("risk", "tier", str(EXAMPLE_MANIFEST))
    assert rc == 0 and "tier 2 (high)" in out
    # The example's scenarios link risks that are not registered yet: refused, nothing stored.
    rc, _, err = run("risk", "simulate", str(SCEN), "-n", "2000", "--record")
    assert rc == 2 and f"{SCEN}: scenario 'ai-extraction.scoring-api', field 'risk'" in err
    assert "bastion risk register import" in err
    imported = run.json("risk", "register", "import", str(EXAMPLE_MANIFEST))
    assert len(imported) == OPEN_THREATS  # type: ignore[arg-type]
    again = run.json("risk", "register", "import", str(EXAMPLE_MANIFEST))
    assert [x["id"] for x in again] == [x["id"] for x in imported]  # type: ignore[union-attr,index]
    rid = risk_id("credit-scoring", "AI-EXTRACTION", "scoring-api")
    assert rid in {x["id"] for x in imported}  # type: ignore[union-attr,index]
    rc, _, err = run("risk", "register", "update", rid, "--status", "mitigated")
    assert rc == 2 and "cannot go from identified to mitigated" in err
    assert (
        run.json("risk", "register", "update", rid, "--status", "analyzed")["status"] == "analyzed"
    )  # type: ignore[index]
    # Record the example's simulation onto the linked risks: extraction's P90 (~0.8M) is
    # within tier 2's 1M.
    sim = run.json(
        "risk", "simulate", str(SCEN), "-n", "5000", "--seed", "7", "--record",
        "--manifest", str(EXAMPLE_MANIFEST),
    )  # fmt: skip
    assert sorted(sim["recorded_on"]) == sorted(  # type: ignore[index]
        risk_id("credit-scoring", *t.split(":"))
        for s in load_scenarios(SCEN).scenarios
        for t in s.threats
    )
    listed = run.json("risk", "register", "list")
    p90 = {x["id"]: (x["summary"] or {}).get("p90") for x in listed}  # type: ignore[union-attr,index]
    assert 0 < p90[rid] < 1_000_000
    until = (date.today() + timedelta(days=60)).isoformat()
    acc = run.json("risk", "register", "accept", rid, "--until", until, "--note", "within appetite")
    assert acc["status"] == "accepted" and acc["accepted_by"] == "cli"  # type: ignore[index]
    rc, out, _ = run("risk", "register", "list")
    assert rc == 0 and rid in out
    shown = run.json("risk", "register", "show", rid)
    assert [h["change"] for h in shown["history"]] == [
        "created",
        "status_changed",
        "simulated",
        "status_changed",
    ]  # type: ignore[index]
    rc, _, err = run("risk", "register", "accept", rid, "--until", "tomorrow")
    assert rc == 2 and "YYYY-MM-DD" in err


def test_cli_accept_above_appetite_needs_approver_token_and_otp(run: Run, tmp_path: Path) -> None:
    run("risk", "tier", str(EXAMPLE_MANIFEST))
    rid = run.json(
        "risk",
        "register",
        "add",
        "--system",
        "credit-scoring",
        "--rule",
        "r",
        "--element",
        "e",
        "--title",
        "Big",
        "--owner",
        "o",
        "--scenario",
        "big",
    )["id"]  # type: ignore[index]
    big = tmp_path / "big.yaml"
    big.write_text(
        "scenarios:\n  - id: big\n    tef: 3\n    vulnerability: 1\n    primary_loss: {fines_judgments: 1000000}\n"
    )
    run.json("risk", "simulate", str(big), "-n", "2000", "--record")
    run("risk", "register", "update", rid, "--status", "analyzed")
    until = (date.today() + timedelta(days=30)).isoformat()
    rc, _, err = run("risk", "register", "accept", rid, "--until", until)
    assert rc == 2 and "approver role" in err
    tok = run.json("token", "create", "--name", "boss", "--role", "approver")
    rc, _, err = run(
        "risk",
        "register",
        "accept",
        rid,
        "--until",
        until,
        "--approver-token",
        tok["token"],
        "--otp",
        "000000",
    )  # type: ignore[index]
    assert rc == 2 and "one-time code" in err
    otp = pyotp.TOTP(tok["totp_secret"]).now()  # type: ignore[index]
    acc = run.json(
        "risk",
        "register",
        "accept",
        rid,
        "--until",
        until,
        "--approver-token",
        tok["token"],
        "--otp",
        otp,
    )  # type: ignore[index]
    assert acc["status"] == "accepted" and ":boss" in acc["accepted_by"]  # type: ignore[index]


def _hdr(ws: Workspace, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_token(ws, name=role, role=role).token}"}


def test_api_routes(sqlite_ws: Workspace) -> None:
    ws = sqlite_ws
    c = TestClient(create_app(ws.settings, workspace=ws))
    viewer, eng = _hdr(ws, "viewer"), _hdr(ws, "engineer")
    body = SCEN.read_bytes()
    assert c.post("/api/v1/risk/simulate", content=body).status_code == 401
    r = c.post(
        "/api/v1/risk/simulate?iterations=3000&seed=7&charts=true",
        content=body,
        headers=viewer | {"Content-Type": "application/yaml"},
    )
    assert r.status_code == 200, r.text
    d = r.json()
    assert (
        d["portfolio"]["p90"] > 0 and d["lec_svg"].count("<svg") == 1 and "<svg" in d["tornado_svg"]
    )
    bad = c.post(
        "/api/v1/risk/simulate", content=body.replace(b"max: 24}", b"max: 1}", 1), headers=viewer
    )
    assert (
        bad.status_code == 422
        and "request body: scenario 'ai-extraction.scoring-api'" in bad.json()["detail"]
    )
    assert (
        c.post("/api/v1/risk/simulate?iterations=2000000", content=body, headers=viewer).status_code
        == 422
    )
    w = c.post(
        "/api/v1/risk/whatif?iterations=2000",
        json={"scenarios": SCEN.read_text(), "control": CTRL.read_text()},
        headers=viewer,
    )
    assert w.status_code == 200 and w.json()["reduction_in_mean_ale"] > 0
    # Tier: a privileged rating (admin/approver with MFA) of the inventory's manifest.
    from bastion.inventory import import_manifest
    from bastion.manifest import load_manifest

    import_manifest(ws, load_manifest(EXAMPLE_MANIFEST), actor="test")
    for h in (viewer, eng):
        assert (
            c.post(
                "/api/v1/risk/tier", content=EXAMPLE_MANIFEST.read_bytes(), headers=h
            ).status_code
            == 403
        )
    rater = create_token(ws, name="rater", role="approver")
    assert rater.totp_secret is not None
    rh = {
        "Authorization": f"Bearer {rater.token}",
        "X-Bastion-OTP": pyotp.TOTP(rater.totp_secret).now(),
    }
    t = c.post("/api/v1/risk/tier", content=EXAMPLE_MANIFEST.read_bytes(), headers=rh)
    assert t.status_code == 200 and t.json()["tier"] == 2
    assert c.get("/api/v1/risk/tiers/credit-scoring", headers=viewer).json()["tier"] == 2
    assert c.get("/api/v1/risk/tiers/nope", headers=viewer).status_code == 404
    assert c.get("/api/v1/risk/policy", headers=viewer).json()["version"] == "2025.1"
    # Register.
    new = {
        "system": "credit-scoring",
        "rule_id": "r",
        "element_id": "e",
        "title": "T",
        "owner": "o",
        "scenarios": ["big"],
    }
    assert c.post("/api/v1/risk/register", json=new, headers=viewer).status_code == 403
    assert c.post("/api/v1/risk/register", json=new | {"colour": 1}, headers=eng).status_code == 422
    created = c.post("/api/v1/risk/register", json=new, headers=eng)
    assert created.status_code == 201
    rid = created.json()["id"]
    assert c.post("/api/v1/risk/register", json=new, headers=eng).status_code == 409
    assert (
        c.patch(
            f"/api/v1/risk/register/{rid}",
            json={"status": "closed", "expected_version": 7},
            headers=eng,
        ).status_code
        == 409
    )
    assert (
        c.patch(f"/api/v1/risk/register/{rid}", json={"status": "analyzed"}, headers=eng).json()[
            "version"
        ]
        == 2
    )
    big = b"scenarios:\n  - id: big\n    tef: 3\n    vulnerability: 1\n    primary_loss: {fines_judgments: 1000000}\n"
    assert (
        c.post(
            "/api/v1/risk/simulate?iterations=1000&record=true", content=big, headers=viewer
        ).status_code
        == 403
    )
    assert c.post(
        "/api/v1/risk/simulate?iterations=1000&record=true", content=big, headers=eng
    ).json()["recorded_on"] == [rid]
    until = (date.today() + timedelta(days=30)).isoformat()
    # Above appetite: an engineer may not accept, nor an approver without MFA.
    assert (
        c.post(
            f"/api/v1/risk/register/{rid}/accept", json={"until": until}, headers=eng
        ).status_code
        == 403
    )
    ap = create_token(ws, name="approver", role="approver")
    ah = {"Authorization": f"Bearer {ap.token}"}
    assert (
        c.post(f"/api/v1/risk/register/{rid}/accept", json={"until": until}, headers=ah).status_code
        == 403
    )
    assert ap.totp_secret is not None
    ok = c.post(
        f"/api/v1/risk/register/{rid}/accept",
        json={"until": until},
        headers=ah | {"X-Bastion-OTP": pyotp.TOTP(ap.totp_secret).now()},
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["status"] == "accepted"
    lst = c.get("/api/v1/risk/register?status=accepted", headers=viewer).json()
    assert [x["id"] for x in lst] == [rid]
    shown = c.get(f"/api/v1/risk/register/{rid}", headers=viewer).json()
    assert shown["history"][-1]["to"] == "accepted"
    assert c.get("/api/v1/risk/register/risk-000000000000", headers=viewer).status_code == 404


def test_example_scenarios_cite_real_threats_and_their_risks() -> None:
    from bastion.threats import model_file

    model = model_file(EXAMPLE_MANIFEST)
    findings = {f.id: f for f in model.findings}
    ss = load_scenarios(SCEN)
    for s in ss.scenarios:
        (t,) = s.threats
        f = findings[t]
        assert f.open, f"{s.id} prices {t}, which the example does not leave open"
        assert s.id == f"{f.rule_id.lower()}.{f.element_id}"  # the seeded id: overrides merge
        assert s.risk == risk_id("credit-scoring", f.rule_id, f.element_id)


def test_cli_seed_and_reference_checks(run: Run, tmp_path: Path) -> None:
    out_file = tmp_path / "seeded.yaml"
    rc, _, err = run(
        "risk", "seed", str(EXAMPLE_MANIFEST), "--overrides", str(SCEN), "-o", str(out_file)
    )
    assert rc == 0, err
    seeded = load_scenarios(out_file)
    assert len(seeded.scenarios) == OPEN_THREATS and seeded.currency == "EUR"
    ext = seeded.scenario("ai-extraction.scoring-api")
    assert ext.contact_frequency is not None and ext.tef is None  # the override's way wins
    assert ext.threats == ("AI-EXTRACTION:scoring-api",)
    js = run.json("risk", "seed", str(EXAMPLE_MANIFEST))
    assert js["apiVersion"] == "bastion/v1" and len(js["scenarios"]) == OPEN_THREATS  # type: ignore[index,arg-type]
    # A threat id that the model does not have: file, entry, suggestion and fix.
    bad = tmp_path / "bad.yaml"
    bad.write_text(SCEN.read_text().replace('"AI-EXTRACTION:scoring-api"', "ai.model-extraction"))
    rc, _, err = run("risk", "simulate", str(bad), "-n", "100", "-m", str(EXAMPLE_MANIFEST))
    assert rc == 2
    assert f"{bad}: scenario 'ai-extraction.scoring-api', field 'threats'" in err
    assert "unknown threat finding 'ai.model-extraction'" in err and "fix:" in err
    rc, _, err = run("risk", "seed", str(EXAMPLE_MANIFEST), "--overrides", str(bad))
    assert rc == 2 and "unknown threat finding 'ai.model-extraction'" in err
    # Without a manifest the file alone is simulated (it cannot know the threats).
    assert run("risk", "simulate", str(bad), "-n", "100")[0] == 0
    wrong = tmp_path / "v2.yaml"
    wrong.write_text(SCEN.read_text().replace("apiVersion: bastion/v1", "apiVersion: bastion/v2"))
    rc, _, err = run("risk", "simulate", str(wrong), "-n", "100")
    assert rc == 2 and "apiVersion 'bastion/v2'" in err and "set apiVersion: bastion/v1" in err


def test_api_seed_and_register_import(sqlite_ws: Workspace) -> None:
    ws = sqlite_ws
    c = TestClient(create_app(ws.settings, workspace=ws))
    viewer, eng = _hdr(ws, "viewer"), _hdr(ws, "engineer")
    body = EXAMPLE_MANIFEST.read_bytes()
    assert c.post("/api/v1/risk/seed", content=body, headers=viewer).status_code == 403
    doc = c.post("/api/v1/risk/seed", content=body, headers=eng)
    assert doc.status_code == 200, doc.text
    assert len(doc.json()["scenarios"]) == OPEN_THREATS
    assert c.post("/api/v1/risk/register/import", content=body, headers=viewer).status_code == 403
    imp = c.post("/api/v1/risk/register/import", content=body, headers=eng)
    assert imp.status_code == 200 and len(imp.json()) == OPEN_THREATS
    sim = c.post(
        "/api/v1/risk/simulate?iterations=2000&record=true", content=SCEN.read_bytes(), headers=eng
    )
    assert sim.status_code == 200, sim.text
    assert risk_id("credit-scoring", "AI-EVASION", "credit-gbm") in sim.json()["recorded_on"]


def test_finding_04_api_tier_rates_only_the_inventory_manifest(sqlite_ws: Workspace) -> None:
    """POST /risk/tier: an engineer may not rate; an approver with MFA rates the stored
    manifest (?system=, no body) or a body equal to it; a doctored body is refused (409);
    an engineer's risk.tier evidence through the generic check route is ignored."""
    import yaml

    from bastion.inventory import import_manifest
    from bastion.manifest import load_manifest
    from bastion.risk import trusted_tier

    ws = sqlite_ws
    c = TestClient(create_app(ws.settings, workspace=ws))
    eng = _hdr(ws, "engineer")
    doc = yaml.safe_load(EXAMPLE_MANIFEST.read_text())
    doc["system"]["decision_impact"] = ["none"]
    doc["system"]["data_sensitivity"] = "public"
    doc["system"]["regulatory_scope"] = []
    doc["system"].get("tags", {}).pop("risk-tier", None)
    doctored = yaml.safe_dump(doc).encode()
    assert c.post("/api/v1/risk/tier", content=doctored, headers=eng).status_code == 403
    assert c.post("/api/v1/risk/tier?system=credit-scoring", headers=eng).status_code == 403

    def approver() -> dict[str, str]:
        """A new approver's token with its current code (a code is good once)."""
        ap = create_token(ws, name="rater", role="approver")
        assert ap.totp_secret is not None
        return {
            "Authorization": f"Bearer {ap.token}",
            "X-Bastion-OTP": pyotp.TOTP(ap.totp_secret).now(),
        }

    no_mfa = {"Authorization": approver()["Authorization"]}
    assert c.post("/api/v1/risk/tier?system=credit-scoring", headers=no_mfa).status_code == 403
    # Not in the inventory yet: nothing to rate.
    r = c.post("/api/v1/risk/tier?system=credit-scoring", headers=approver())
    assert r.status_code == 404
    import_manifest(ws, load_manifest(EXAMPLE_MANIFEST), actor="test")
    r = c.post("/api/v1/risk/tier", content=doctored, headers=approver())
    assert r.status_code == 409 and "not the inventory's current manifest" in r.text
    r = c.post("/api/v1/risk/tier?system=credit-scoring", headers=approver())
    assert r.status_code == 200, r.text
    assert r.json()["tier"] == 2
    ev = ws.evidence.get(r.json()["evidence"])
    assert ev.actor.startswith("token:") and ev.data["rated_by"]["mfa"] is True
    trusted, _ = trusted_tier(ws, "credit-scoring")
    assert trusted is not None and trusted.id == ev.id
    # The generic check route: an engineer runs risk.tier (it rates the stored manifest);
    # the evidence is recorded but never trusted, so the approver's rating stays in force.
    run = c.post(
        "/api/v1/checks/risk.tier/run",
        json={"subject": {"kind": "system", "ref": "credit-scoring"}},
        headers=eng,
    )
    assert run.status_code in (200, 201), run.text
    trusted, notes = trusted_tier(ws, "credit-scoring")
    assert trusted is not None and trusted.id == ev.id
    assert any("engineer token" in n for n in notes)
