"""``bastion demo``: everything Bastion can do so far, on the bundled credit-scoring example.

Runs in a fresh temporary home (or a kept one) so it never touches the user's own state.
Later rooms add their steps here; each step prints one readable line and the summary
shows what landed in the ledger.
"""

from __future__ import annotations

import importlib.util
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from bastion._plugins import load_checks
from bastion.access import Role, authenticate, create_token
from bastion.core.checks import run_check
from bastion.core.errors import ConfigError
from bastion.core.ledger import Event
from bastion.core.settings import get_settings
from bastion.core.types import Subject
from bastion.core.workspace import Workspace, init_workspace
from bastion.inventory import import_manifest, list_assets
from bastion.manifest import load_manifest

__all__ = ["find_example", "run_demo"]


def find_example() -> Path:
    """The bundled example: beside the source tree, or under the current directory."""
    candidates = [
        Path(__file__).resolve().parents[2] / "examples" / "credit-scoring",
        Path.cwd() / "examples" / "credit-scoring",
    ]
    for c in candidates:
        if (c / "system.yaml").is_file():
            return c
    raise ConfigError(
        "the bundled example (examples/credit-scoring) was not found; run from the repository"
    )


def _load_trainer(example: Path) -> Any:
    spec = importlib.util.spec_from_file_location("bastion_example_train", example / "train.py")
    if spec is None or spec.loader is None:
        raise ConfigError(f"cannot load {example / 'train.py'}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_demo(keep: Path | None = None, console: Console | None = None, rows: int = 5000) -> int:
    console = console or Console()
    example = find_example()
    tmp = None
    if keep is None:
        tmp = Path(tempfile.mkdtemp(prefix="bastion-demo-"))
        home = tmp / "home"
    else:
        home = keep
    console.print(
        Panel.fit(f"Bastion demo on [bold]{example.name}[/]\nhome: {home}", title="bastion demo")
    )
    steps: list[tuple[str, str]] = []

    def step(title: str, fn: Callable[[], str]) -> None:
        t0 = time.perf_counter()
        with console.status(title):
            detail = fn()
        steps.append((title, detail))
        console.print(f"[green]✓[/] {title}: {detail} [dim]({time.perf_counter() - t0:.1f}s)[/]")

    try:
        ws, _ = init_workspace(get_settings(home=home), actor="demo")
        try:
            _run_steps(ws, example, home, step, rows)
            _summary(ws, console)
        finally:
            ws.close()
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


_SIGNER = "release@bank.example"


def _run_steps(
    ws: Workspace,
    example: Path,
    home: Path,
    step: Callable[[str, Callable[[], str]], None],
    rows: int,
) -> None:
    out_dir = home / "example"
    retrained = home / "example-retrained"
    generated: dict[str, Any] = {}
    manifest = load_manifest(example / "system.yaml")
    system_id = manifest.system.id

    def train() -> str:
        trainer = _load_trainer(example)
        generated.update(trainer.build(out_dir, n_applicants=rows))
        trainer.build(retrained, n_applicants=rows, seed=8)  # the "retrained" candidate
        m = generated["metrics"]
        ws.ledger.append(
            [
                Event(
                    "example.artifacts_generated",
                    {"example": example.name, "files": generated["files"], "metrics": m},
                    "demo",
                )
            ]
        )
        return (
            f"{generated['rows']['applicants']} applicants, credit-gbm AUC {m['credit-gbm']['auc']:.3f}, "
            f"credit-mlp AUC {m['credit-mlp']['auc']:.3f}, {len(generated['files'])} files digested"
        )

    step("Generate the example's data and train its models", train)

    def validate() -> str:
        return (
            f"{system_id}: {len(manifest.assets)} assets, {len(manifest.flows)} flows, "
            f"{len(manifest.boundaries)} trust boundaries"
        )

    step("Validate the system manifest", validate)

    def inventory() -> str:
        res = import_manifest(ws, manifest, source=str(example / "system.yaml"), actor="demo")
        kinds = sorted({a.kind for a in list_assets(ws, system=res.system_id)})
        return f"version {res.version}, {len(res.added)} assets ({', '.join(kinds)})"

    step("Import it into the inventory", inventory)

    def hygiene() -> str:
        load_checks()
        rec = import_manifest(ws, manifest, actor="demo")
        ev = run_check(
            ws, "inventory.hygiene", Subject("system", rec.system_id, rec.digest), actor="demo"
        )
        return f"verdict {ev.verdict.value}, {len(ev.findings)} findings, evidence {ev.id[:8]}"

    step("Run the inventory hygiene check", hygiene)

    def threats() -> str:
        from bastion.threats import model_file, record_model

        # The vendor questionnaire's TP-* findings join the model; recording it makes the
        # questionnaire threats.questionnaire evidence about the hosted LLM.
        questionnaire = example / "llm-vendor-questionnaire.yaml"
        model = model_file(
            example / "system.yaml", questionnaires=[(None, questionnaire)], workspace=ws
        )
        record_model(ws, model, manifest, actor="demo")
        q = model.questionnaires[0]
        return (
            _threat_counts(model)
            + f" (before any model evidence); vendor questionnaire on {q['asset']}: "
            + f"score {q['score']}/100, {q['verdict']}"
        )

    step("Threat-model the system (STRIDE + MITRE ATLAS)", threats)

    def risk() -> str:
        from bastion.risk import (
            assign_tier,
            record_simulation,
            register_from_threats,
            seed_scenarios,
            simulate,
        )
        from bastion.threats import model_threats

        tier, _ = assign_tier(ws, manifest, actor="demo")
        model = model_threats(manifest)
        risks = register_from_threats(ws, manifest, model.findings, actor="demo")
        # One scenario per open threat, the example's hand-tuned ranges overriding the seeds.
        scenarios = seed_scenarios(model, example / "scenarios.yaml")
        result = simulate(scenarios, iterations=100_000, seed=7)
        priced = record_simulation(ws, result, actor="demo")
        p = result.portfolio
        cur = result.scenarios.currency
        top = max(result.results, key=lambda r: r.summary.p90)
        return (
            f"tier {tier.tier}; {len(risks)} risks registered, {len(set(priced))} priced; "
            f"portfolio annual loss P50 {p.p50:,.0f}, mean {p.mean:,.0f}, P90 {p.p90:,.0f} "
            f"{cur}; largest P90 {top.summary.p90:,.0f} {cur} ({top.scenario.threats[0]})"
        )

    step("Price the risk (FAIR Monte Carlo, 100,000 years) and rate the tier", risk)

    pki_dir = home / "pki-issued"
    signer: dict[str, Any] = {}

    def pki() -> str:
        from bastion.integrity import record_pki_init, record_pki_issue

        info = record_pki_init(ws, organization="Example Bank", actor="demo")
        cert = record_pki_issue(ws, _SIGNER, hours=8, out_dir=pki_dir, actor="demo")
        signer["cert"] = cert
        return f"root and intermediate CA ({info.directory.name}); 8-hour signing certificate for {_SIGNER}"

    step("Create the in-house PKI and issue a signing certificate", pki)

    def produce_evidence(w: Workspace, model_dir: Path, name: str) -> dict[str, str]:
        """Sign, verify, attest, scan and BOM one model directory; return the verdicts."""
        from bastion.integrity import (
            VerificationPolicy,
            generate_ai_bom,
            record_attest_bom,
            record_attest_scan,
            record_attest_training,
            record_scan,
            record_sign,
            record_verify,
            scan_path,
        )

        cert = signer["cert"]
        record_sign(
            w, model_dir, cert.key_path, name=name, actor="demo",
            certificate=cert.cert_path, chain=[cert.chain_path],
        )  # fmt: skip
        policy = VerificationPolicy(allowed_identities=[_SIGNER], trust_roots=[str(cert.root_path)])
        _, verified = record_verify(w, model_dir, name=name, policy=policy, actor="demo")
        # SLSA provenance of the training run, then the scan verdict and the AI-BOM, each
        # an attestation over the digest the signature names (files beside the model).
        import json

        chain = [cert.chain_path]
        meta = json.loads((model_dir / "metadata.json").read_text(encoding="utf-8"))
        _, attested = record_attest_training(
            w, model_dir, cert.key_path, builder_id="bastion-demo://credit-scoring/train.py",
            data=[model_dir.parent.parent / "features.csv"], name=name, actor="demo",
            hyperparameters=meta.get("hyperparameters") or {},
            certificate=cert.cert_path, chain=chain,
        )  # fmt: skip
        report = scan_path(model_dir)
        scanned = record_scan(w, report, name=name, actor="demo")
        record_attest_scan(
            w, report, cert.key_path, name=name, actor="demo",
            certificate=cert.cert_path, chain=chain,
        )  # fmt: skip
        bom, document = generate_ai_bom(w, model_dir, system_id=system_id, actor="demo")
        record_attest_bom(
            w, model_dir, document, cert.key_path, name=name, actor="demo",
            certificate=cert.cert_path, chain=chain,
        )  # fmt: skip
        return {
            "signature": verified.verdict.value,
            "provenance": attested.verdict.value,
            "scan": scanned.verdict.value,
            "bom": bom.verdict.value,
        }

    def integrity() -> str:
        from bastion.integrity import scan_dependencies

        parts = []
        for name in ("credit-gbm", "credit-mlp"):
            v = produce_evidence(ws, out_dir / "models" / name, f"{system_id}/{name}")
            parts.append(
                f"{name}: signature {v['signature']}, scan {v['scan']}, "
                f"provenance {v['provenance']} (SLSA v1; scan and AI-BOM attested)"
            )
        deps = scan_dependencies(ws, actor="demo")
        return "; ".join(parts) + f"; dependencies {deps.verdict.value}; AI-BOMs (CycloneDX 1.6)"

    step("Sign, verify, attest, scan and BOM the models; audit dependencies", integrity)

    suppressions = home / "accepted-threats.yaml"

    def rethreat() -> str:
        from bastion.threats import model_file, record_model

        # The same model as the first run (vendor questionnaire included), now with the
        # integrity evidence and the risk owner's time-limited acceptances.
        vendor = [(None, example / "llm-vendor-questionnaire.yaml")]
        before = model_file(example / "system.yaml", questionnaires=vendor, workspace=ws)
        _write_suppressions(before, suppressions)
        model = model_file(
            example / "system.yaml", suppressions=suppressions, questionnaires=vendor, workspace=ws
        )
        record_model(ws, model, manifest, actor="demo")
        still = sorted(
            f.id for f in model.findings if f.open and f.severity.value in ("high", "critical")
        )
        return (
            _threat_counts(model)
            + f" (time-limited acceptances in {suppressions.name})"
            + (f"; still open: {', '.join(still)}" if still else "")
        )

    step("Re-run the threat model with the new evidence", rethreat)

    def registry() -> str:
        from bastion.integrity import scan_dependencies
        from bastion.registry import registry_demo

        def evidence(w: Workspace, version: Any) -> None:
            ref = f"{system_id}/{version.model}"
            produce_evidence(w, Path(str(version.source)), ref)
            scan_dependencies(w, model=Path(str(version.source)), name=ref, actor="demo")

        rep = registry_demo(
            ws,
            model_dir=out_dir / "models" / "credit-gbm",
            retrained_dir=retrained / "models" / "credit-gbm",
            policy_file=example / "gate-policy.yaml",
            governance_file=example / "governance.yaml",
            produce_evidence=evidence,
            other_models={"credit-mlp": out_dir / "models" / "credit-mlp"},
        )
        return _registry_story(rep.steps)

    step("Register credit-gbm and credit-mlp; promote credit-gbm (tier 1), roll back", registry)

    def access() -> str:
        viewer = create_token(ws, name="demo-viewer", role=Role.VIEWER, actor="demo")
        admin = create_token(ws, name="demo-admin", role=Role.ADMIN, actor="demo")
        p = authenticate(ws, viewer.token)
        import pyotp

        assert admin.totp_secret is not None
        a = authenticate(ws, admin.token, pyotp.TOTP(admin.totp_secret).now())
        return f"viewer '{p.name}' signed in; admin '{a.name}' signed in with TOTP (mfa={a.mfa_verified})"

    step("Create API tokens with roles and MFA", access)

    def say(title: str, detail: str) -> None:
        step(title, lambda: detail)

    # The later rooms tell their part as stories, a line each (their functions, not ours).
    from bastion.robustness.demo import demo_story as robustness_story

    robustness_story(ws, home / "redteam", say)

    from bastion.guard import demo_story as guard_story

    guard_story(ws, out_dir, say)

    from bastion.incidents import demo_story as incident_story

    incident_story(ws, out_dir, say)

    from bastion.privacy import demo_step as privacy_step

    step("Scan the applicant data for PII, mask a copy, make a DP release",
         lambda: privacy_step(ws, out_dir))  # fmt: skip
    from bastion.privacy import demo_story as privacy_story

    privacy_story(ws, out_dir, example / "system.yaml", say)

    def verify() -> str:
        rep = ws.ledger.verify()
        if not rep.ok:
            raise ConfigError(
                "ledger verification failed: " + "; ".join(p.message for p in rep.problems)
            )
        last = ws.ledger.entries(limit=1, newest_first=True)[0]
        proof = ws.ledger.inclusion_proof(last.event_id)
        proof.verify()
        return (
            f"{rep.size} events, {rep.checkpoints} signed checkpoints intact; inclusion proof of "
            f"#{last.seq} ({len(proof.path)} hashes) verifies"
        )

    step("Verify the ledger and prove an event", verify)


def _threat_counts(model: Any) -> str:
    from collections import Counter

    status = Counter(f.status.value for f in model.findings)
    open_hi = sum(
        1
        for f in model.findings
        if f.status.value == "open" and f.severity.value in ("high", "critical")
    )
    return (
        f"{len(model.findings)} findings: {status.get('open', 0)} open ({open_hi} high or critical), "
        f"{status.get('mitigated', 0)} mitigated, {status.get('suppressed', 0)} accepted"
    )


def _write_suppressions(model: Any, path: Path) -> None:
    """Accept for 90 days, with an owner, the high threats no evidence here can mitigate yet.

    That is what a risk owner does while the controls are built; the acceptances expire by
    themselves and the threat model shows them as suppressed, not as mitigated.
    """
    import datetime as dt

    import yaml

    until = dt.date.today() + dt.timedelta(days=90)
    entries = []
    for finding in model.findings:
        f = finding.to_dict()
        if f["status"] != "open" or f["severity"] not in ("high", "critical"):
            continue
        controls = ", ".join(f["controls"]) or "a control"
        entries.append(
            {
                "rule": f["rule_id"],
                "element": f["element_id"] if f["flow_id"] is None else f["flow_id"],
                "justification": f"Accepted until {controls} is in place; compensating "
                "manual review of model changes and monthly access-log review.",
                "owner": "risk-office@bank.example",
                "expires": until.isoformat(),
            }
        )
    doc = {"apiVersion": "bastion/v1", "kind": "ThreatSuppressions", "suppressions": entries}
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")


def _registry_story(steps: list[dict[str, Any]]) -> str:
    """One summary line, then each refusal's unmet requirements with the gate's reasons."""
    out: list[str] = []
    details: list[str] = []
    for s in steps:
        kind = s["step"]
        if kind == "registered":
            out.append(f"registered {s['model']}@{s['version']}")
        elif kind == "refused":
            out.append(f"v1 refused ({len(s['unmet'])} unmet requirements)")
            details.append("v1 refused because:")
            details.extend(f"  - {r['description']}: {r['reason']}" for r in s["unmet"])
        elif kind == "promoted":
            out.append(
                f"v{s['version']} promoted" if s["promoted"] else f"v{s['version']} NOT promoted"
            )
        elif kind == "retrained_refused":
            # The label comes from the evaluation: requirements it found stale.
            label = " (stale evidence)" if s["stale"] else ""
            out.append(f"retrained v{s['version']} refused{label}")
            details.append(f"retrained v{s['version']} refused because:")
            details.extend(f"  - {r['description']}: {r['reason']}" for r in s["unmet"])
        elif kind == "rolled_back":
            out.append(f"rolled back to v{s['to']}")
    return "; ".join(out) + "".join("\n" + d for d in details)


def _summary(ws: Workspace, console: Console) -> None:
    table = Table(title="Ledger (newest first)", header_style="bold")
    for col in ("seq", "kind", "actor"):
        table.add_column(col)
    for e in ws.ledger.entries(limit=12, newest_first=True):
        table.add_row(str(e.seq), e.kind, e.actor)
    console.print(table)
    note = ws.ledger.latest_checkpoint() or ""
    console.print(Panel(note.rstrip(), title="Latest signed checkpoint (C2SP)", expand=False))
    console.print(
        "Next: [bold]bastion init[/], [bold]bastion inventory import examples/credit-scoring/system.yaml[/], "
        "[bold]bastion serve[/] and open http://127.0.0.1:8700/ui/"
    )
