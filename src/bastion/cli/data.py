"""`bastion data` commands: PII scans, masked copies, the token vault. Thin: each command
calls one public function of the privacy room."""

from __future__ import annotations

import getpass
import os
import sys
from datetime import datetime
from pathlib import Path

import typer

from bastion.cli._common import (
    Format,
    FormatOpt,
    err,
    out,
    print_json,
    print_table,
    progress,
    workspace,
)

app = typer.Typer(
    help="Data protection: PII scans, masked non-production copies, tokens (issue 9).",
    no_args_is_help=True,
)


def _actor() -> str:
    return "cli:" + (os.environ.get("BASTION_ACTOR") or getpass.getuser())[:100]


@app.command("scan")
def scan(
    path: Path = typer.Argument(
        ..., exists=True, dir_okay=False, help="CSV/TSV, Parquet or text file."
    ),
    sample: int = typer.Option(1000, min=1, max=100_000, help="Rows sampled per table."),
    record: bool = typer.Option(False, "--record", help="Record as privacy.pii_scan evidence."),
    ref: str | None = typer.Option(None, help="Dataset ref for the evidence (default: file name)."),
    format: Format = FormatOpt,
) -> None:
    """Find PII: per-column classification of tables, entities with offsets in text."""
    from bastion.privacy.pii import scan_file

    if record:
        from bastion.privacy.pii import record_scan

        with workspace() as ws:
            ev = record_scan(ws, path=path, ref=ref, sample=sample, actor=_actor())
        if format is Format.JSON:
            print_json(ev.to_dict())
        else:
            out.print(
                f"privacy.pii_scan: {ev.verdict.value} (evidence {ev.id}, ledger {ev.ledger_seq})"
            )
            for f in ev.findings:
                out.print(f"  {f.severity.value:8} {f.message}")
        raise typer.Exit(1 if ev.verdict.value in ("fail", "error") else 0)
    result = scan_file(path, sample=sample)
    if format is Format.JSON:
        print_json(result.to_dict())
        return
    if result.table is not None:
        print_table(
            f"{result.name}: {result.table.rows_sampled} rows sampled",
            ["column", "entity", "pii", "score", "match rate", "basis"],
            [
                (c.column, c.entity or "-", "yes" if c.pii else "no", f"{c.score:.2f}",
                 f"{c.match_rate:.0%}", c.basis + (" (embedded)" if c.embedded else ""))
                for c in result.table.columns
            ],
        )  # fmt: skip
    else:
        print_table(
            f"{result.name}: {len(result.entities)} entities",
            ["entity", "start", "end", "score", "recognizer"],
            [
                (e.entity_type, e.start, e.end, f"{e.score:.2f}", e.recognizer)
                for e in result.entities[:200]
            ],
        )


@app.command("mask")
def mask(
    input: Path = typer.Argument(..., exists=True, dir_okay=False, help="CSV/TSV or Parquet file."),
    policy: Path = typer.Option(
        ..., "--policy", "-p", exists=True, dir_okay=False, help="Masking policy YAML."
    ),
    out_path: Path = typer.Option(
        ..., "--out", "-o", help="Masked copy to write (.csv, .tsv or .parquet)."
    ),
    allow_unmasked: list[str] = typer.Option(
        [], "--allow-unmasked", help="A PII column to leave unmasked on purpose (repeatable)."
    ),
    record: bool = typer.Option(
        True, "--record/--no-record", help="Record privacy.masking evidence."
    ),
    format: Format = FormatOpt,
) -> None:
    """Write a masked non-production copy, streaming; refuses to leave PII columns unmasked."""
    from bastion.privacy.deid import load_policy, mask_file

    pol = load_policy(policy)
    with workspace() as ws, progress(f"masking {input.name}") as update:

        def tick(done: int, total: int | None) -> None:
            update(done, total or 0)

        report = mask_file(
            input, pol, out_path, ws=ws, allow_unmasked=allow_unmasked, progress=tick,
            actor=_actor(), record=record,
        )  # fmt: skip
    if format is Format.JSON:
        print_json(report.to_dict())
        return
    print_table(
        f"{report.input_name} -> {report.output.name}: {report.rows} rows",
        ["column", "operator", "values changed"],
        [(c.column, c.operator, c.changed) for c in report.columns],
    )
    if report.passed_through:
        out.print(f"unchanged columns: {', '.join(report.passed_through)}")
    out.print(f"output {report.output_digest}")
    if report.evidence is not None:
        out.print(f"evidence {report.evidence.id} (privacy.masking)")


def _values(args: list[str]) -> list[str]:
    if args:
        return args
    if sys.stdin.isatty():
        err.print("reading values from standard input, one per line (Ctrl-D to end)")
    return [line.rstrip("\n") for line in sys.stdin if line.strip()]


@app.command("tokenize")
def tokenize(
    values: list[str] = typer.Argument(None, help="Values (default: one per line on stdin)."),
    namespace: str = typer.Option(
        ..., "--namespace", "-n", help="Token namespace (e.g. customers)."
    ),
    format: Format = FormatOpt,
) -> None:
    """Deterministic vault tokens for values (same value, same token in a namespace)."""
    from bastion.privacy.deid import TokenVault

    vals = _values(values or [])
    with workspace() as ws:
        tokens = TokenVault(ws).tokenize(vals, namespace)
    if format is Format.JSON:
        print_json({"namespace": namespace, "tokens": tokens})
    else:
        for t in tokens:
            out.print(t, highlight=False)


@app.command("detokenize")
def detokenize(
    tokens: list[str] = typer.Argument(..., help="Tokens to reverse."),
    namespace: str = typer.Option(..., "--namespace", "-n"),
    reason: str = typer.Option(..., "--reason", help="Why (recorded in the ledger)."),
    format: Format = FormatOpt,
) -> None:
    """Reverse tokens (audited: every call is appended to the ledger with its reason)."""
    from bastion.privacy.deid import TokenVault

    with workspace() as ws:
        res = TokenVault(ws).detokenize(tokens, namespace, actor=_actor(), reason=reason)
    if format is Format.JSON:
        print_json(
            {"values": res.values, "missing": list(res.missing), "ledger_seq": res.ledger_seq}
        )
    else:
        for t in tokens:
            out.print(f"{t}\t{res.values.get(t, '(unknown token)')}", highlight=False)
        err.print(f"audited: ledger entry {res.ledger_seq}")
    if res.missing:
        raise typer.Exit(1)


@app.command("rotate-key")
def rotate_key(
    namespace: str = typer.Option(..., "--namespace", "-n"),
    format: Format = FormatOpt,
) -> None:
    """Rotate a namespace's token key and re-tokenize every vault entry."""
    from bastion.privacy.deid import TokenVault

    with workspace() as ws:
        r = TokenVault(ws).rotate(namespace, actor=_actor())
    doc = {"namespace": r.namespace, "from_version": r.from_version, "to_version": r.to_version,
           "retokenized": r.retokenized, "ledger_seq": r.ledger_seq}  # fmt: skip
    if format is Format.JSON:
        print_json(doc)
    else:
        out.print(
            f"{r.namespace}: key v{r.from_version} -> v{r.to_version}, {r.retokenized} tokens "
            f"re-computed (ledger {r.ledger_seq})"
        )


@app.command("minimize")
def minimize_cmd(
    model: Path = typer.Option(
        ...,
        "--model",
        "-m",
        exists=True,
        dir_okay=False,
        help="Model file (scikit-learn pickle or ONNX; loaded only if the scan says safe).",
    ),
    data: Path = typer.Option(
        ..., "--data", "-d", exists=True, dir_okay=False, help="Training or evaluation CSV."
    ),
    target: str = typer.Option(..., "--target", "-t", help="The label column."),
    features: str | None = typer.Option(
        None, "--features", help="Model input columns in its order (default: numeric ones)."
    ),
    metric: str = typer.Option("accuracy", "--metric", help="accuracy or log_loss."),
    tolerance: float = typer.Option(
        0.01, "--tolerance", help="Largest score loss that still lets a feature go."
    ),
    repeats: int = typer.Option(5, "--repeats", help="Shuffles per feature (permutation)."),
    bootstrap: int = typer.Option(1000, "--bootstrap", help="Bootstrap resamples for the CI."),
    drop_column: bool = typer.Option(
        True, "--drop-column/--no-drop-column", help="Refit without each feature (scikit-learn)."
    ),
    seed: int = typer.Option(0, "--seed"),
    ref: str | None = typer.Option(None, "--ref", help="Model ref for the evidence."),
    record: bool = typer.Option(True, "--record/--no-record", help="Record the evidence."),
    format: Format = FormatOpt,
) -> None:
    """Which features the model needs and which PII columns it could do without."""
    from bastion.privacy.minimize import minimize

    feats = [f.strip() for f in features.split(",") if f.strip()] if features else None
    with workspace() as ws, progress("feature importance") as update:
        rep = minimize(
            ws if record else None, model, data, target, features=feats, metric=metric,
            tolerance=tolerance, repeats=repeats, bootstrap=bootstrap, drop_column=drop_column,
            seed=seed, ref=ref, actor=_actor(), progress=update,
        )  # fmt: skip
    if format is Format.JSON:
        print_json(rep.to_dict())
        return
    d = rep.data

    def ci(v: dict[str, float] | None) -> str:
        return "-" if v is None else f"{v['delta']:+.4f} [{v['ci_low']:+.4f}, {v['ci_high']:+.4f}]"

    print_table(
        f"{d.target}: baseline {d.metric} {d.baseline:.4f} on {d.rows} rows "
        f"(tolerance {d.tolerance:g}, {d.level:.0%} CI)",
        ["column", "PII", "permutation delta [CI]", "drop-column delta [CI]", "verdict"],
        [(f.feature, f.pii_entity or "-", ci(f.permutation), ci(f.drop_column), f.verdict)
         for f in d.features],
    )  # fmt: skip
    for f in d.features:
        if f.pii_entity:
            out.print(f"  {f.feature}: {f.recommendation}", highlight=False)
    for n in rep.notes:
        out.print(f"note: {n}", highlight=False)
    if rep.evidence is not None:
        out.print(f"evidence {rep.evidence.id} (privacy.minimization: {rep.verdict.value})")


@app.command("validate")
def validate_cmd(
    data: Path = typer.Argument(..., help="Training batch (CSV/TSV or Parquet)."),
    schema: Path = typer.Option(..., "--schema", "-s", help="Constraint file (YAML)."),
    reference: Path | None = typer.Option(
        None, "--reference", "-r", help="Reference dataset for the distribution rules."
    ),
    ref: str | None = typer.Option(None, "--ref", help="Dataset ref for the evidence."),
    record: bool = typer.Option(True, "--record/--no-record", help="Record data.validation."),
    format: Format = FormatOpt,
) -> None:
    """Check a training batch against its schema and distribution constraints (exit 1 on a
    violation: a poisoned or drifted batch is refused)."""
    from bastion.privacy.validate import validate_file

    with workspace() as ws:
        rep = validate_file(
            ws if record else None, data, schema, reference=reference, ref=ref, actor=_actor()
        )
    if format is Format.JSON:
        print_json(rep.to_dict())
    else:
        d = rep.data
        out.print(f"{data.name}: {d.rows} rows, {d.columns} columns: {rep.verdict.value}")
        if d.schema_failures:
            print_table(
                "schema",
                ["column", "check", "rows failing", "first data rows"],
                [(f.get("column") or "-", f["check"], f["count"],
                  ", ".join(str(r) for r in f["rows"]))  # type: ignore[attr-defined]
                 for f in d.schema_failures],
            )  # fmt: skip
        if d.distribution:
            print_table(
                "distribution (vs reference)",
                ["column", "test", "PSI", "adjusted p", "drifted"],
                [(x["column"], x["test"], f"{x['psi']:.3f}", f"{x['p_adjusted']:.2g}",
                  "yes" if x["drifted"] else "no") for x in d.distribution],
            )  # fmt: skip
        if d.label_shift is not None:
            out.print(f"label balance shift: {d.label_shift:.1%}")
        if d.near_duplicate_rate is not None:
            out.print(f"near-duplicate rows: {d.near_duplicate_rate:.1%}")
        if rep.evidence is not None:
            out.print(f"evidence {rep.evidence.id} (data.validation)")
    raise typer.Exit(0 if rep.data.passed else 1)


lineage_app = typer.Typer(
    help="Lineage: OpenLineage run events, the graph, export.", no_args_is_help=True
)
app.add_typer(lineage_app, name="lineage")


@lineage_app.command("show")
def lineage_show(
    dataset: str | None = typer.Argument(
        None, help="NAMESPACE:NAME or a bare name (default: the whole graph)."
    ),
    direction: str = typer.Option("both", "--direction", help="upstream, downstream or both."),
    depth: int = typer.Option(50, "--depth", min=1, max=1000),
    svg: Path | None = typer.Option(None, "--svg", help="Write the graph as SVG here."),
    format: Format = FormatOpt,
) -> None:
    """The lineage graph around a dataset (sources -> transformations -> models)."""
    from bastion.privacy.lineage import graph_svg, lineage_graph

    with workspace() as ws:
        g = lineage_graph(ws, dataset, direction=direction, depth=depth)  # type: ignore[arg-type]
    if svg is not None:
        from bastion.cli.privacy import _write

        _write(svg, graph_svg(g, f"Lineage of {dataset}" if dataset else "Lineage").encode())
    if format is Format.JSON:
        print_json(g.to_dict())
        return
    print_table(
        f"lineage{' of ' + dataset if dataset else ''}: {len(g.nodes)} datasets",
        ["source", "job", "target"],
        [(s, j, t) for s, t, j in g.edges],
    )
    if svg is not None:
        out.print(f"graph written to {svg}")


@lineage_app.command("impacted")
def lineage_impacted(
    dataset: str = typer.Argument(..., help="NAMESPACE:NAME or a bare name."),
    format: Format = FormatOpt,
) -> None:
    """Every model downstream of a dataset (breach investigation, access request, erasure)."""
    from bastion.privacy.lineage import impacted

    with workspace() as ws:
        models = impacted(ws, dataset)
    if format is Format.JSON:
        print_json({"dataset": dataset, "models": models})
        return
    for m in models:
        out.print(m, highlight=False)
    if not models:
        err.print(f"no model is downstream of {dataset}")


@lineage_app.command("export")
def lineage_export(
    out_path: Path | None = typer.Option(
        None, "--out", "-o", help="Write the events here (JSON lines)."
    ),
    url: str | None = typer.Option(
        None, "--url", help="OpenLineage endpoint (POST {url}/api/v1/lineage)."
    ),
    since: int = typer.Option(0, "--since", min=0, help="Only events after this sequence."),
    format: Format = FormatOpt,
) -> None:
    """Send the stored run events to a file or an OpenLineage endpoint (bearer token from
    BASTION_LINEAGE_TOKEN)."""
    from bastion.privacy.lineage import export_events

    with workspace() as ws:
        r = export_events(
            ws, out=out_path, url=url, since=since, token=os.environ.get("BASTION_LINEAGE_TOKEN")
        )
    doc = {"events": r.events, "last_seq": r.last_seq, "target": r.target}
    if format is Format.JSON:
        print_json(doc)
    else:
        out.print(f"{r.events} event(s) to {r.target} (last sequence {r.last_seq})")


@lineage_app.command("record")
def lineage_record(
    event: Path = typer.Argument(..., exists=True, dir_okay=False, help="RunEvent JSON file."),
    format: Format = FormatOpt,
) -> None:
    """Store an OpenLineage RunEvent another tool produced (e.g. a training job linking
    its data to a registry model version); validated against the RunEvent schema."""
    import json

    from bastion.core.errors import InputError
    from bastion.privacy.lineage import record_event

    if event.stat().st_size > 1024 * 1024:
        raise InputError(f"{event.name}: larger than 1 MiB")
    try:
        doc = json.loads(event.read_bytes())
    except ValueError:
        raise InputError(f"{event.name}: not JSON") from None
    with workspace() as ws:
        st = record_event(ws, doc, actor=_actor())
    if format is Format.JSON:
        print_json(st.to_dict())
    else:
        out.print(f"stored {st.event_type} event of {st.job} (sequence {st.seq})")


retention_app = typer.Typer(
    help="Retention: items under policy, legal holds, the sweep, erasure requests.",
    no_args_is_help=True,
)
app.add_typer(retention_app, name="retention")


def _when(value: str | None) -> datetime | None:
    if value is None:
        return None
    from bastion.core.errors import InputError

    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise InputError(f"date {value[:40]!r}: expected ISO 8601 (2024-01-31)") from None


@retention_app.command("register")
def retention_register(
    path: Path = typer.Argument(..., help="The file under retention."),
    kind: str = typer.Option(
        "dataset", "--kind", help="dataset, model_artifact, inference_log or evidence_export."
    ),
    category: str = typer.Option(..., "--category", "-c", help="Data category (applicant_pii)."),
    ref: str | None = typer.Option(None, "--ref", help="Its name (default: the file name)."),
    collected: str | None = typer.Option(
        None, "--collected", help="When the data was collected (ISO date; default now)."
    ),
    jurisdiction: str | None = typer.Option(None, "--jurisdiction", help="EU, US-CA, ..."),
    format: Format = FormatOpt,
) -> None:
    """Put a file under retention; its age counts from when it was collected."""
    from bastion.privacy.retention import register_item

    with workspace() as ws:
        it = register_item(
            ws, kind, ref or path.name, category=category, path=path,
            collected_at=_when(collected), jurisdiction=jurisdiction, actor=_actor(),
        )  # fmt: skip
    if format is Format.JSON:
        print_json(it.to_dict())
    else:
        out.print(f"{it.kind} {it.ref} ({it.category}) under retention, {it.digest}")


@retention_app.command("hold")
def retention_hold(
    ref: str = typer.Argument(...),
    reason: str = typer.Option(..., "--reason", help="The matter the legal hold is for."),
    kind: str = typer.Option("dataset", "--kind"),
    release: bool = typer.Option(False, "--release", help="Lift the hold instead."),
    format: Format = FormatOpt,
) -> None:
    """Place (or --release) a legal hold: a held item is never deleted."""
    from bastion.privacy.retention import release_hold, set_hold

    with workspace() as ws:
        it = (
            release_hold(ws, kind, ref, actor=_actor())
            if release
            else set_hold(ws, kind, ref, reason=reason, actor=_actor())
        )
    if format is Format.JSON:
        print_json(it.to_dict())
    else:
        out.print(f"{it.kind} {it.ref}: " + (f"held ({it.hold})" if it.hold else "no hold"))


def _retention_table(entries: list[dict[str, object]]) -> None:
    print_table(
        "retention",
        ["item", "category", "policy", "action", "expires", "status"],
        [(f"{e['kind']}:{e['ref']}", e["category"], e["policy"] or "-", e["action"] or "-",
          str(e["expires_at"] or "-")[:10],
          "HELD" if e["held"] and e["expired"] else "due" if e["due"] else
          "no policy" if e["policy"] is None else "kept")
         for e in entries],
    )  # fmt: skip


@retention_app.command("plan")
def retention_plan(
    policy: Path = typer.Option(..., "--policy", "-p", help="Retention policy YAML."),
    as_of: str | None = typer.Option(None, "--as-of", help="Judge as of this date (ISO)."),
    format: Format = FormatOpt,
) -> None:
    """What a sweep would delete, anonymize or keep (a dry run: nothing changes)."""
    from bastion.privacy.retention import load_policies, plan_retention

    pol = load_policies(policy)
    with workspace() as ws:
        entries = [e.to_dict() for e in plan_retention(ws, pol, now=_when(as_of))]
    if format is Format.JSON:
        print_json({"dry_run": True, "plan": entries})
    else:
        _retention_table(entries)


@retention_app.command("apply")
def retention_apply(
    policy: Path = typer.Option(..., "--policy", "-p", help="Retention policy YAML."),
    as_of: str | None = typer.Option(None, "--as-of", help="Judge as of this date (ISO)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only show what would happen."),
    format: Format = FormatOpt,
) -> None:
    """Delete or anonymize every expired item not under a legal hold; each disposal is a
    proof in the ledger and the run is privacy.retention evidence."""
    from bastion.privacy.retention import apply_retention, load_policies

    pol = load_policies(policy)
    with workspace() as ws:
        run = apply_retention(ws, pol, now=_when(as_of), dry_run=dry_run, actor=_actor())
    if format is Format.JSON:
        print_json(run.to_dict())
        return
    _retention_table([e.to_dict() for e in run.plan])
    for d in run.disposed:
        out.print(f"{d['action']}d {d['kind']}:{d['ref']} under {d['policy']} ({d['digest']})")
    if run.evidence is not None:
        out.print(f"evidence {run.evidence.id} (privacy.retention: {run.evidence.verdict.value})")


@retention_app.command("erase")
def retention_erase(
    identifier: str = typer.Argument(..., help="The data subject (e-mail, customer id, ...)."),
    namespace: list[str] = typer.Option(
        [], "--namespace", "-n", help="Vault namespace whose tokens to join (repeatable)."
    ),
    hash_key: list[str] = typer.Option(
        ["default"], "--hash-key", help="Keyed-hash key names to join (repeatable)."
    ),
    jurisdiction: str | None = typer.Option(None, "--jurisdiction"),
    dry_run: bool = typer.Option(False, "--dry-run", help="Count, change nothing."),
    format: Format = FormatOpt,
) -> None:
    """An erasure request: the subject's rows out of every registered dataset (joined by
    value, vault token and keyed hash), its vault entries deleted, impacted models listed."""
    from bastion.privacy.retention import erase_subject

    with workspace() as ws:
        r = erase_subject(
            ws, identifier, namespaces=namespace, hash_keys=hash_key,
            jurisdiction=jurisdiction, dry_run=dry_run, actor=_actor(),
        )  # fmt: skip
    if format is Format.JSON:
        print_json(r.to_dict())
        return
    d = r.data
    verb = "would remove" if d.dry_run else "removed"
    out.print(f"request {d.request_id}: {verb} {d.rows_removed} row(s), "
              f"{d.vault_entries_removed} vault entr(ies)")  # fmt: skip
    for ds in d.datasets:
        out.print(f"  {ds['ref']}: {ds['rows_removed']} row(s)", highlight=False)
    for m in d.impacted_models:
        out.print(f"  trained on it: {m} (retrain or assess)", highlight=False)


pia_app = typer.Typer(
    help="Privacy impact assessment: questionnaire, scored report, evidence.",
    no_args_is_help=True,
)
app.add_typer(pia_app, name="pia")


@pia_app.command("questionnaire")
def pia_questionnaire(
    manifest: Path = typer.Option(..., "--manifest", "-m", help="System manifest (YAML)."),
    out_path: Path | None = typer.Option(None, "--out", "-o", help="Write it here (YAML)."),
    template: Path | None = typer.Option(None, "--template", help="Questionnaire template."),
) -> None:
    """The answers file to complete: prefilled from the manifest and the evidence."""
    from bastion.privacy.pia import load_template, questionnaire

    t = load_template(template) if template else None
    with workspace() as ws:
        text = questionnaire(ws, manifest, t)
    if out_path is None:
        out.print(text, highlight=False, markup=False, end="")
        return
    from bastion.cli.privacy import _write

    _write(out_path, text.encode())
    err.print(f"questionnaire written to {out_path}; complete it, then: bastion data pia report")


@pia_app.command("report")
def pia_report(
    manifest: Path = typer.Option(..., "--manifest", "-m", help="System manifest (YAML)."),
    answers: Path | None = typer.Option(
        None, "--answers", "-a", help="The completed answers file."
    ),
    out_path: Path | None = typer.Option(
        None, "--out", "-o", help="Write the report (.md or .html)."
    ),
    template: Path | None = typer.Option(None, "--template", help="Questionnaire template."),
    record: bool = typer.Option(True, "--record/--no-record", help="Record privacy.pia."),
    format: Format = FormatOpt,
) -> None:
    """Score the assessment, write the report and record it (exit 1 when it fails: high
    risk or nobody attested)."""
    from bastion.privacy.pia import assess, load_template, render_html, render_markdown

    t = load_template(template) if template else None
    with workspace() as ws:
        a = assess(ws, manifest, answers, template=t, actor=_actor(), record=record)
    if out_path is not None:
        from bastion.cli.privacy import _write

        html = out_path.suffix.lower() in (".html", ".htm")
        _write(out_path, (render_html(a) if html else render_markdown(a)).encode())
    if format is Format.JSON:
        print_json(a.to_dict())
    else:
        print_table(
            f"PIA of {a.system.system.id}: {a.level} risk (score {a.score}), {a.verdict.value}",
            ["risk", "L", "I", "score", "treatment"],
            [(r["title"], r["likelihood"], r["impact"], r["score"], r["treatment"])
             for r in a.risks],
        )  # fmt: skip
        for x in a.open_actions:
            out.print(f"open: {x}", highlight=False)
        if a.evidence is not None:
            out.print(f"evidence {a.evidence.id} (privacy.pia)")
    raise typer.Exit(1 if a.verdict.value == "fail" else 0)
