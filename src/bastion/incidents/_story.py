"""Issue 12's story for ``bastion demo``: the demo's own model behind the real guard, traffic
with injected drift from a new client and an extraction campaign, the monitor's detections
and Sigma matches, an incident, the model-compromise playbook (rollback to the last
verified version, quarantine, the attacker's token revoked, the log frozen), the custody
report verified offline, and the events exported as OCSF and converted Sigma queries.

Every part is another room's public face: the guard (``build_guard``, ``GuardedModel`` with
its PRADA and Blacklight stages, its file sink), the monitor (``StreamingDrift``,
``correlate``, the Sigma pack), the registry and governance (re-approving the retrained
version), access (tokens), the robustness room's scanned-safe model loader, and this
room's incidents, playbooks and custody. Nothing here is simulated but the traffic.
"""

from __future__ import annotations

import contextlib
import csv
import importlib.util
import json
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bastion.core.errors import AuthError, ConfigError, InputError
from bastion.core.workspace import Workspace

__all__ = ["StoryResult", "demo_story"]

Say = Callable[[str, str], None]

MODEL = "credit-gbm"
APP_IP = "10.0.0.1"
PARTNER_IP = "203.0.113.7"  # a new partner integration, and a scraper behind it
#: the features the app sends; the drift the new client injects is in income and loan amount
DRIFTED = ("income", "loan_amount")
_MAX_REFERENCE_ROWS = 20_000
_MIN_ROWS = 810
_POLICY = """@id("clients-invoke")
@reason("the bank's app and its partners call the scoring endpoint")
permit (principal is User, action == Action::"invoke", resource is Endpoint)
when { principal.roles.contains("engineer") || principal.roles.contains("viewer") };
"""


@dataclass
class StoryResult:
    """What the story did, for the demo's summary and the tests."""

    out_dir: Path
    attacked: str = ""  # the version the guard fronted
    rolled_back_to: str | None = None
    incident: str = ""
    token_id: str = ""
    token: str = ""  # the attacker's (revoked) token, so a test can try it
    requests: int = 0
    refused: int = 0
    detections: dict[str, int] = field(default_factory=dict)
    sigma: dict[str, int] = field(default_factory=dict)
    playbook_ok: bool = False
    actions: list[dict[str, Any]] = field(default_factory=list)
    custody_ok: bool = False
    custody_problems: list[str] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    converted: dict[str, int] = field(default_factory=dict)


class _Cut(Exception):
    """The guard refused the scraper: the extraction script stops there."""


def _reference(example_dir: Path, features: list[str]) -> NDArray[np.float64]:
    path = example_dir / "features.csv"
    if not path.is_file():
        raise ConfigError(f"{path}: the demo's feature table is missing (run its train step)")
    rows: list[list[float]] = []
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = [f for f in features if f not in (reader.fieldnames or ())]
        if missing:
            raise ConfigError(f"{path.name}: no column {missing[0]!r} the model takes")
        for i, rec in enumerate(reader):
            if i >= _MAX_REFERENCE_ROWS:
                break
            try:
                rows.append([float(rec[f]) for f in features])
            except (TypeError, ValueError):
                raise InputError(f"{path.name}: row {i + 2} is not numeric") from None
    if len(rows) < _MIN_ROWS:  # the replay sends each row once, the scraper's seeds too
        raise ConfigError(
            f"{path.name}: {len(rows)} rows; the story needs at least {_MIN_ROWS} "
            "(bastion demo --rows 810 or more)"
        )
    return np.asarray(rows, dtype=np.float64)


def _approver(ws: Workspace, person: str) -> Any:
    """A real approver token for ``person``, signed in with a current TOTP code."""
    import pyotp

    from bastion.access import Role, authenticate, create_token

    new = create_token(ws, name=person, role=Role.APPROVER, actor="demo")
    assert new.totp_secret is not None
    return authenticate(ws, new.token, pyotp.TOTP(new.totp_secret).now())


def _production_pair(ws: Workspace) -> tuple[Any, str]:
    """(the version to front, how it got there). When the production version is the only
    one that passed its gate (the demo rolled v2 back), the newer version is re-approved
    (security sign-off and the change advisory board; its evidence is still fresh) and
    promoted, so that the playbook has a verified version to roll back to."""
    from bastion.governance import create_change_request, vote
    from bastion.registry import Stage, approve, get_model, promote

    model = get_model(ws, MODEL)
    prod = model.production
    if prod is None:
        raise ConfigError(f"{MODEL} has no production version: run the registry step first")
    others = [v for v in model.versions if v.version != prod.version]
    if any(Stage.PRODUCTION.value in v.gate_passed for v in others):
        return prod, f"{MODEL}@{prod.version} in production"
    if not others:
        return prod, f"{MODEL}@{prod.version} in production (no other version to roll back to)"
    cand = max(others, key=lambda v: v.created_at)
    people = {p: _approver(ws, p) for p in ("sam", "lee", "bo")}
    approve(ws, MODEL, cand.version, people["sam"], kind="security_signoff",
            stage=Stage.PRODUCTION, comment="fix verified after the degradation")  # fmt: skip
    cr = create_change_request(ws, title=f"Promote {cand.ref} to production again",
                               target=cand.ref, target_digest=cand.digest, board_id="cab",
                               requested_by="dana")  # fmt: skip
    for person in ("sam", "lee", "bo"):
        cr = vote(ws, cr.id, people[person], "approve")
    res = promote(ws, MODEL, cand.version, Stage.PRODUCTION, actor="dana")
    if not res.promoted:
        unmet = "; ".join(r.reason for r in (res.gate.unmet if res.gate else []))[:300]
        return prod, f"{MODEL}@{prod.version} in production (v{cand.version} refused: {unmet})"
    return get_model(ws, MODEL).production or prod, (
        f"{MODEL}@{cand.version} re-approved (sign-off, CAB) and promoted"
    )


def _guard_config(
    base: Path, version: str, features: list[str], scale: list[float], log: Path
) -> str:
    detectors = [
        {"name": "prada", "options": {"label_field": "label", "min_queries": 50,
                                      "scale": scale}},
        {"name": "blacklight", "options": {"quantize": 0.02, "scale": scale,
                                           "ladder": {"throttle": 0.34, "block": 0.75}}},
    ]  # fmt: skip
    cfg = {
        "name": "demo-credit-guard",
        "policy_dir": "policies",
        "detections": False,  # the story correlates the whole log (drift included) at once
        "endpoints": [{
            "name": "credit",
            "upstream": "http://127.0.0.1:9/predict",  # in process: the model object answers
            "model": f"{MODEL}@{version}",
            "require_stage": "production",
            "features": features,
            "reference": "reference.csv",
            "range_margin": 0.5,
            "output": {"label_field": "label", "score_fields": ["probability"]},
            "detectors": detectors,
        }],
        "rate_classes": {"default": {"rate_per_s": 100000, "burst": 100000}},
        "egress": [{"host": "127.0.0.1", "port": 9}],
        "sinks": [{"kind": "file", "target": str(log)}],
    }  # fmt: skip
    (base / "policies").mkdir(parents=True, exist_ok=True)
    (base / "policies" / "clients.cedar").write_text(_POLICY, encoding="utf-8")
    return json.dumps(cfg)  # JSON is YAML: read through the guard's own document loader


def _write_reference(base: Path, features: list[str], ref: NDArray[np.float64]) -> None:
    with (base / "reference.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(features)
        w.writerows(ref.tolist())


def _rows(
    ref: NDArray[np.float64], idx: Iterator[int], features: list[str],
    shift: Mapping[str, float] | None,
) -> dict[str, float]:  # fmt: skip
    row = {f: float(v) for f, v in zip(features, ref[next(idx)], strict=True)}
    for f, by in (shift or {}).items():  # the new client's applicants: higher incomes, loans
        row[f] += by
    return row


def demo_story(
    ws: Workspace, example_dir: Path, say: Say, *, out_dir: Path | None = None, seed: int = 7
) -> StoryResult:
    """Run issue 12's story on the demo's workspace. ``example_dir`` is the directory the
    demo's train step generated (``features.csv``, ``models/``); the story's files go to
    ``out_dir`` (default ``example_dir/incident``). ``say(title, detail)`` gets one line
    per step. Needs the registry step done (a production ``credit-gbm`` with its signature
    evidence and the governance file applied)."""
    from bastion.access import Role, authenticate, create_token
    from bastion.access.interface import RequestCredentials
    from bastion.guard import GuardRefused, build_guard, parse_guard_config
    from bastion.guard.detect.traffic import jacobian_extraction
    from bastion.incidents._custody import custody_report, verify_report
    from bastion.incidents._open import open_from_detection
    from bastion.incidents._playbooks import get_playbook
    from bastion.incidents._run import run_playbook
    from bastion.monitor import (
        AlertPolicy,
        DetectionConfig,
        ModelRef,
        ReferenceProfile,
        StreamingDrift,
        alert_finding,
    )
    from bastion.monitor.correlate import correlate
    from bastion.registry import get_model
    from bastion.robustness import load_target

    out = out_dir or example_dir / "incident"
    out.mkdir(parents=True, exist_ok=True)
    res = StoryResult(out_dir=out)
    t0 = time.perf_counter()

    # 1. the guard in front of the production model, the monitor's drift detector beside it
    fronted, how = _production_pair(ws)
    res.attacked = fronted.version
    src = Path(str(fronted.source))
    meta = json.loads((src / "metadata.json").read_text(encoding="utf-8"))
    features = [str(f) for f in meta["features"]]
    ref = _reference(example_dir, features)
    scale = [float(s) if s > 0 else 1.0 for s in ref.std(axis=0)]
    _write_reference(out, features, ref)
    guard_log = out / "guard.jsonl"
    guard_log.unlink(missing_ok=True)
    config = parse_guard_config(
        _guard_config(out, fronted.version, features, scale, guard_log), what="demo guard"
    )
    guard = build_guard(ws, config, out, actor="demo")
    try:
        loaded = load_target(src / str(meta["artifact"]["path"]))
        scorer = guard.wrap(getattr(loaded.target, "estimator", loaded.target), "credit")
        app = create_token(ws, name="bank-app", role=Role.ENGINEER, actor="demo")
        partner = create_token(ws, name="partner-app", role=Role.VIEWER, actor="demo")
        attacker = create_token(ws, name="partner-scraper", role=Role.VIEWER, actor="demo")
        res.token_id, res.token = attacker.info.id, attacker.token
        app_creds = RequestCredentials(bearer=app.token, remote_addr=APP_IP)
        new_creds = RequestCredentials(bearer=partner.token, remote_addr=PARTNER_IP)
        bad_creds = RequestCredentials(bearer=attacker.token, remote_addr=PARTNER_IP)
        numeric = [f for f, col in zip(features, ref.T, strict=True) if len(np.unique(col)) > 2]
        cols = {f: ref[:, features.index(f)] for f in numeric}
        stream = StreamingDrift(ReferenceProfile.build(cols), window_size=200,
                                alerts=AlertPolicy(raise_after=2))  # fmt: skip
        mref = ModelRef(MODEL, fronted.version, fronted.digest)
        drift_events: list[dict[str, Any]] = []
        rng = np.random.default_rng(seed)
        perm = rng.permutation(len(ref)).tolist()
        idx = iter(perm)  # no row sent twice
        raised: set[str] = set()

        def send(row: Mapping[str, float], creds: RequestCredentials) -> Any:
            res.requests += 1
            try:
                answer = scorer.predict(row, credentials=creds)
            except GuardRefused:
                res.refused += 1
                raise
            rep = stream.update({f: row[f] for f in numeric})
            for a in rep.alerts if rep else ():
                if a.state == "raised":
                    raised.add(a.feature)
                drift_events.append(alert_finding(a, model=mref).to_ocsf())
            return answer

        # the bank's app alone (the baseline), then a new client whose inputs shift
        shift = {f: scale[features.index(f)] for f in DRIFTED if f in features}
        for i in range(800):
            new = i >= 200 and i % 2 == 1
            with contextlib.suppress(GuardRefused):  # counted; the replay goes on
                send(_rows(ref, idx, features, shift if new else None),
                     new_creds if new else app_creds)  # fmt: skip
        lo, hi = ref.min(axis=0), ref.max(axis=0)
        span = np.where(hi > lo, hi - lo, 1.0)

        def oracle(u: NDArray[np.float64]) -> int:
            x = lo + np.clip(u, 0.0, 1.0) * span
            try:
                answer = send(dict(zip(features, x.tolist(), strict=True)), bad_creds)
            except GuardRefused as exc:
                raise _Cut(exc.reason) from None
            return int(answer["label"])

        seeds = (ref[perm[-10:]] - lo) / span  # rows the app never sent
        cut = ""
        try:  # Papernot's synthetic-query extraction, through the guard
            jacobian_extraction(oracle, seeds, lam=1 / 16, rounds=6, max_queries=640)
        except _Cut as exc:
            cut = str(exc)
        if guard.audit is not None:
            guard.audit.flush()
    finally:
        guard.close()
    say(
        "Guard the production model and replay traffic with drift and an extraction",
        f"{how}; {res.requests} requests through the guard (PRADA, Blacklight), "
        f"{res.refused} refused"
        + (f", the scraper cut off ({cut})" if cut else "")
        + f"; drift raised on {', '.join(sorted(raised)) or 'nothing'}",
    )

    # 2. the log (the guard's events and the drift findings, in time order) and detections
    events = [json.loads(line) for line in guard_log.read_text(encoding="utf-8").splitlines()]
    events.extend(drift_events)
    events.sort(key=lambda e: int(e.get("time", 0)))
    log = out / "events.ocsf.jsonl"
    log.write_text("".join(json.dumps(e, sort_keys=True) + "\n" for e in events),
                   encoding="utf-8")  # fmt: skip
    res.files["ocsf"] = str(log)
    found = correlate(ws, events, actor="monitor", source=log.name,
                      config=DetectionConfig(known_clients=(APP_IP,)))  # fmt: skip
    for d in found.detections:
        res.detections[d.kind.value] = res.detections.get(d.kind.value, 0) + 1
    for m in found.sigma:
        res.sigma[m.title] = res.sigma.get(m.title, 0) + 1
    alerts = out / "sigma-alerts.jsonl"
    alerts.write_text("".join(json.dumps(m.to_dict(), sort_keys=True) + "\n"
                              for m in found.sigma), encoding="utf-8")  # fmt: skip
    res.files["sigma_alerts"] = str(alerts)
    say(
        "Correlate the log: detections and Sigma matches",
        (", ".join(f"{k} x{n}" for k, n in sorted(res.detections.items())) or "no detections")
        + f"; Sigma: {len(found.sigma)} matches of {len(res.sigma)} rules",
    )
    # PRADA's extraction finding, else Blacklight's probing one (it may cut the scraper off
    # first on a small table): either is the attack the playbook answers.
    ext = next((d for d in found.detections if d.kind.value == "extraction"), None) or next(
        (d for d in found.detections if d.kind.value == "probing"), None
    )
    if ext is None:
        raise ConfigError(
            "the guard raised no extraction or probing finding: the story cannot go on"
        )

    # 3. the incident and its playbook
    inc = open_from_detection(
        ws, ext.to_ocsf(), owner="sam", actor="monitor",
        params={"model": MODEL, "version": fronted.version, "token_id": res.token_id,
                "event_log": str(log)},
    )  # fmt: skip
    res.incident = inc.id
    run = run_playbook(ws, inc.id, get_playbook("model-compromise"), actor="sam")
    res.playbook_ok = run.ok
    res.actions = [r.to_dict() for r in run.results]
    prod = get_model(ws, MODEL).production
    res.rolled_back_to = prod.version if prod and prod.version != fronted.version else None
    try:
        authenticate(ws, res.token)
        revoked = "still valid"
    except AuthError:
        revoked = "refused"
    failed = [f"{r.action} FAILED: {r.detail[:120]}" for r in run.results if not r.ok]
    say(
        f"Open incident {inc.id[:8]} ({inc.severity}) and run the model-compromise playbook",
        (f"rolled back to v{res.rolled_back_to}" if res.rolled_back_to else "no rollback")
        + f", v{fronted.version} quarantined, the scraper's token revoked (sign-in {revoked}), "
        + f"the log frozen; {len(run.results)} actions"
        + ("".join("; " + f for f in failed) if failed else " all done"),
    )

    # 4. custody, verified offline as an auditor would
    report = json.loads(json.dumps(custody_report(ws, incident_id=inc.id)))
    report_path = out / "custody-report.json"
    report_path.write_text(json.dumps(report, indent=2, sort_keys=True), encoding="utf-8")
    res.files["custody_report"] = str(report_path)
    arts = {a["artifact"]["id"]: log.read_bytes() for a in report["artifacts"]}
    check = verify_report(report, artifacts=arts)
    res.custody_ok, res.custody_problems = check.ok, list(check.problems)
    say(
        "Freeze the evidence under custody and verify the report offline",
        f"{len(report['artifacts'])} artifact(s) frozen ({log.name}), report "
        + ("verifies" if check.ok else "FAILS: " + "; ".join(check.problems[:3]))
        + f" ({report_path.name})",
    )

    # 5. the SIEM side: OCSF lines, Sigma alerts, the rule pack for Splunk and Elastic
    conv = _convert(out, res)
    say(
        "Export for the SOC: OCSF events, Sigma alerts, converted rules",
        f"{len(events)} OCSF events ({log.name}), {len(found.sigma)} Sigma alerts from "
        f"{len(res.sigma)} rules ({alerts.name}); {conv}; {time.perf_counter() - t0:.1f}s",
    )
    return res


def _convert(out: Path, res: StoryResult) -> str:
    """The shipped Sigma pack as Splunk SPL and Elasticsearch ES|QL, when pySigma is
    installed (the optional ``bastion[sigma]`` extra); otherwise a line that says so."""
    if importlib.util.find_spec("sigma") is None:
        return "pySigma not installed (pip install 'bastion[sigma]'): rules not converted"
    from bastion.monitor.sigma import convert

    parts = []
    for target, suffix in (("splunk", "spl"), ("elastic", "esql")):
        queries = convert(target)
        path = out / f"ai_gateway.{suffix}"
        path.write_text("\n".join(queries) + "\n", encoding="utf-8")
        res.files[target] = str(path)
        res.converted[target] = len(queries)
        parts.append(f"{len(queries)} {target} queries ({path.name})")
    return "pySigma: " + ", ".join(parts)
