"""``bastion monitor``: drift reports, and OCSF event logs formatted and shipped to sinks."""

from __future__ import annotations

import enum
import json
import os
import sys
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

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
from bastion.core.checks import run_check
from bastion.core.errors import InputError
from bastion.core.types import Subject, Verdict
from bastion.monitor.interface import Sink
from bastion.monitor.sinks import SinkKind

app = typer.Typer(
    help="Monitoring: drift reports, OCSF event logs (ECS, CEF, syslog) and sinks.",
    no_args_is_help=True,
)

MAX_LINE = 256 * 1024


class EventFormat(enum.StrEnum):
    OCSF = "ocsf"
    ECS = "ecs"
    CEF = "cef"
    SYSLOG = "syslog"


@app.command("drift")
def drift(
    reference: Path = typer.Argument(..., help="Reference table (CSV or Parquet)."),
    current: Path = typer.Argument(..., help="Current table (CSV or Parquet)."),
    prediction: str | None = typer.Option(None, help="The prediction column."),
    confidence: str | None = typer.Option(None, help="The confidence column."),
    categorical: list[str] = typer.Option([], "--categorical", "-c", help="Category column."),
    column: list[str] = typer.Option([], "--column", help="Compare only these columns."),
    alpha: float = typer.Option(0.05, min=1e-6, max=0.5, help="False discovery rate (BH)."),
    psi_threshold: float = typer.Option(0.1, min=0.0, max=10.0, help="PSI a drift must reach."),
    bins: int = typer.Option(10, min=2, max=100, help="Reference quantile bins."),
    html: Path | None = typer.Option(None, "--html", help="Also write an HTML report here."),
    format: Format = FormatOpt,
) -> None:
    """Drift of CURRENT against REFERENCE; the report is monitor.drift evidence in the
    ledger. Exit 1 when anything drifted (or the check failed)."""
    from bastion.monitor import DriftCheck, drift_html

    params: dict[str, Any] = {
        "reference": str(reference.resolve()),
        "alpha": alpha,
        "psi_threshold": psi_threshold,
        "bins": bins,
    }
    if prediction:
        params["prediction"] = prediction
    if confidence:
        params["confidence"] = confidence
    if categorical:
        params["categorical"] = list(categorical)
    if column:
        params["columns"] = list(column)
    with workspace() as ws:
        ev = run_check(ws, DriftCheck, Subject("dataset", str(current.resolve())), actor="cli",
                       params=params)  # fmt: skip
    if ev.verdict is Verdict.ERROR:
        err.print(
            f"[bold red]error:[/] {ev.data.get('error', 'the check failed')}", highlight=False
        )
        raise typer.Exit(1)
    data = DriftCheck.read(ev)
    if html is not None:
        doc = drift_html(data.model_dump(mode="json"), title=f"Drift of {data.current.name}")
        try:
            html.write_text(doc, encoding="utf-8")
        except OSError as exc:
            raise InputError(f"--html {html.name}: cannot write ({exc.strerror})") from None
    if format is Format.JSON:
        print_json({"evidence": ev.id, "verdict": ev.verdict.value, "ledger_seq": ev.ledger_seq}
                   | data.model_dump(mode="json"))  # fmt: skip
    else:
        print_table(
            f"Drift of {data.current.name} against {data.reference.name}",
            ["column", "role", "test", "psi", "js", "p (BH)", "drifted"],
            [
                (f.name, f.role, f.test, f"{f.psi:.4f}", f"{f.js:.4f}", f"{f.p_adjusted:.2e}",
                 "yes" if f.drifted else "")
                for f in data.features
            ],
        )  # fmt: skip
        out.print(
            f"monitor.drift: [bold]{ev.verdict.value}[/] ({len(data.drifted)} drifted), "
            f"evidence {ev.id} at ledger #{ev.ledger_seq}"
        )
    raise typer.Exit(0 if ev.verdict is Verdict.PASS else 1)


def _lines(source: Path) -> Iterator[tuple[int, str]]:
    f = sys.stdin if str(source) == "-" else source.open(encoding="utf-8", errors="replace")
    try:
        for no, line in enumerate(f, 1):
            if line.strip():
                yield no, line
    finally:
        if f is not sys.stdin:
            f.close()


def _events(
    source: Path, bad: list[str], seen: Callable[[int], None] | None = None
) -> Iterator[dict[str, Any]]:
    """OCSF events of a JSON-lines file; every line that is not one is reported in ``bad``
    (by line number and reason, never its content). ``seen`` is told each line's size."""
    from bastion.monitor import as_ocsf

    for no, line in _lines(source):
        if seen is not None:
            seen(len(line))
        if len(line) > MAX_LINE:
            bad.append(f"line {no}: longer than {MAX_LINE} bytes")
            continue
        try:
            yield as_ocsf(json.loads(line))
        except ValueError:
            bad.append(f"line {no}: not valid JSON")
        except InputError as exc:
            bad.append(f"line {no}: {exc.message}")


def _render(event: dict[str, Any], fmt: EventFormat) -> str:
    from bastion.monitor import to_cef, to_ecs, to_json, to_syslog

    if fmt is EventFormat.ECS:
        return json.dumps(to_ecs(event), separators=(",", ":"), default=str)
    if fmt is EventFormat.CEF:
        return to_cef(event)
    if fmt is EventFormat.SYSLOG:
        return to_syslog(event)
    return to_json(event)


def _report_bad(bad: list[str]) -> None:
    for b in bad[:50]:
        err.print(f"[bold red]bad event:[/] {b}", highlight=False)
    if len(bad) > 50:
        err.print(f"... and {len(bad) - 50} more bad lines", highlight=False)


@app.command("tail")
def tail(
    source: Path = typer.Argument(..., help="A JSON-lines OCSF log (a file sink's output)."),
    lines: int = typer.Option(20, "-n", "--lines", min=1, max=100_000, help="Last N events."),
    as_: EventFormat = typer.Option(EventFormat.OCSF, "--as", help="Output format."),
) -> None:
    """Print the last events of an OCSF log as OCSF, ECS, CEF or syslog lines. Lines that
    are not OCSF events are reported on stderr by number (exit 2)."""
    if str(source) != "-" and not source.is_file():
        raise InputError(f"{source.name}: no such log file")
    bad: list[str] = []
    last: deque[dict[str, Any]] = deque(maxlen=lines)
    for ev in _events(source, bad):
        last.append(ev)
    for ev in last:
        sys.stdout.write(_render(ev, as_) + "\n")
    _report_bad(bad)
    raise typer.Exit(2 if bad else 0)


def _sink(kind: SinkKind, target: str, style: str, token_env: str | None) -> Sink:
    from bastion.monitor import open_sink

    token = None
    if token_env:
        token = os.environ.get(token_env)
        if not token:
            raise InputError(f"--token-env {token_env}: the variable is not set")
    return open_sink(kind, target, style=style, token=token)


@app.command("emit")
def emit(
    source: Path = typer.Argument(..., help="JSON-lines OCSF events ('-' for stdin)."),
    sink: SinkKind = typer.Option(..., "--sink", help="Where to send them."),
    target: str = typer.Option(
        ...,
        help="file: PATH; http: URL; syslog: udp|tcp|tls://HOST:PORT; redis: URL#STREAM; "
        "nats: URL#SUBJECT (URL#js:SUBJECT for JetStream acknowledgements).",
    ),
    style: str = typer.Option("splunk_hec", help="http: splunk_hec, elastic_bulk or ndjson."),
    token_env: str | None = typer.Option(
        None, "--token-env", help="Environment variable holding the collector's token."
    ),
    spool: Path | None = typer.Option(None, help="Spool directory (at-least-once delivery)."),
    spool_max_bytes: int = typer.Option(64 << 20, min=4096, help="Spool size limit."),
    format: Format = FormatOpt,
) -> None:
    """Send OCSF events to a sink, through a bounded on-disk spool when --spool is given
    (what the sink does not take waits there for the next run). Exit 0 when all were
    delivered, 1 when some wait in the spool, 2 on bad lines, 3 when the spool is full or
    the sink is down without a spool."""
    from bastion.monitor import SinkError, SpooledSink, SpoolFullError

    if str(source) != "-" and not source.is_file():
        raise InputError(f"{source.name}: no such event file")
    s = _sink(sink, target, style, token_env)
    bad: list[str] = []
    sent = pending = 0
    code = 0
    if spool is None:
        try:
            batch: list[dict[str, Any]] = []
            for ev in _events(source, bad):
                batch.append(ev)
                if len(batch) >= 500:
                    s.send(batch)
                    sent += len(batch)
                    batch = []
            if batch:
                s.send(batch)
                sent += len(batch)
        finally:
            s.close()
    else:
        # one try per run: after a failure the rest of this run only spools (a blackholed
        # collector costs one timeout, not one per event); the next run flushes first
        sp = SpooledSink(s, spool, max_bytes=spool_max_bytes, retry_interval=86_400)
        try:
            sp.flush()
            for ev in _events(source, bad):
                try:
                    sp.emit(ev)
                except SpoolFullError as exc:
                    err.print(f"[bold red]error:[/] {exc.message}", highlight=False)
                    code = 3
                    break
            sent, pending = sp.delivered, sp.pending()
        except SinkError:
            raise
        finally:
            sp.close()
    _report_bad(bad)
    if format is Format.JSON:
        print_json({"delivered": sent, "spooled": pending, "bad_lines": len(bad)})
    else:
        out.print(f"{sent} delivered, {pending} waiting in the spool, {len(bad)} bad lines")
    raise typer.Exit(code or (2 if bad else 1 if pending else 0))


@app.command("detect")
def detect(
    source: Path = typer.Argument(..., help="JSON-lines OCSF events ('-' for stdin)."),
    config: Path | None = typer.Option(None, "--config", help="Detection settings (YAML)."),
    rules: list[Path] = typer.Option(
        [], "--rules", help="Sigma rule files or directories (default: the shipped pack)."
    ),
    sigma: bool = typer.Option(True, "--sigma/--no-sigma", help="Also run the Sigma rules."),
    findings: Path | None = typer.Option(
        None, "--findings", help="Write the detections here as OCSF Detection Findings."
    ),
    format: Format = FormatOpt,
) -> None:
    """Run the detection rules (probing and extraction findings, denial bursts, unusual
    weight exports, off-hours access, drift with a new client) and the Sigma rules over an
    OCSF log; every detection is a ledger event. Exit 0 nothing found, 1 detections or
    Sigma matches, 2 bad lines (reported by number; the others are still examined)."""
    from bastion.monitor import load_detection_config, load_rules
    from bastion.monitor.correlate import correlate

    if str(source) != "-" and not source.is_file():
        raise InputError(f"{source.name}: no such event file")
    cfg = None
    if config is not None:
        try:
            text = config.read_bytes()
        except OSError as exc:
            raise InputError(f"--config {config.name}: cannot read ({exc.strerror})") from None
        cfg = load_detection_config(text, what=f"detection config {config.name}")
    pack = load_rules(rules) if rules else None
    bad: list[str] = []
    total = source.stat().st_size if str(source) != "-" else None
    read = [0, 0]  # bytes, lines
    with workspace() as ws, progress(f"detect {source.name}", total) as update:

        def seen(n: int) -> None:
            read[0] += n
            read[1] += 1
            if total is not None and read[1] % 1000 == 0:  # the bar moves every 1,000 lines
                update(min(read[0], total), total)

        run = correlate(ws, _events(source, bad, seen), config=cfg, sigma_rules=pack,
                        use_sigma=sigma, actor="cli", source=source.name)  # fmt: skip
    if findings is not None:
        try:
            with findings.open("w", encoding="utf-8") as f:
                for d in run.detections:
                    f.write(json.dumps(d.to_ocsf(), separators=(",", ":")) + "\n")
        except OSError as exc:
            raise InputError(f"--findings {findings.name}: cannot write ({exc.strerror})") from None
    _report_bad(bad)
    if format is Format.JSON:
        print_json(run.to_dict() | {"bad_lines": len(bad)})
    else:
        print_table(
            f"Detections in {source.name} ({run.events} events)",
            ["time", "kind", "who", "severity", "ATLAS", "title"],
            [
                (str(d.time_ms), d.kind.value, d.principal or d.client_ip or d.model or "",
                 d.severity.name.lower(), " ".join(d.techniques), d.title)
                for d in run.detections
            ],
        )  # fmt: skip
        if sigma:
            print_table(
                "Sigma matches",
                ["time", "rule", "level", "group"],
                [
                    (str(m.time_ms), m.title, m.level,
                     " ".join(f"{k}={v}" for k, v in m.group.items()))
                    for m in run.sigma
                ],
            )  # fmt: skip
        out.print(
            f"{len(run.detections)} detections, {len(run.sigma)} Sigma matches, "
            f"{len(bad)} bad lines"
        )
    raise typer.Exit(2 if bad else 1 if run.detections or run.sigma else 0)


class SigmaTarget(enum.StrEnum):
    SPLUNK = "splunk"
    ELASTIC = "elastic"
    LUCENE = "lucene"


sigma_app = typer.Typer(help="The Sigma rule pack for logsource ai_gateway.", no_args_is_help=True)
app.add_typer(sigma_app, name="sigma")


@sigma_app.command("export")
def sigma_export(
    target: SigmaTarget = typer.Option(
        ..., "--target", help="splunk (SPL), elastic (ES|QL) or lucene (query strings)."
    ),
    rules: list[Path] = typer.Option(
        [], "--rules", help="Sigma rule files or directories (default: the shipped pack)."
    ),
    format: Format = FormatOpt,
) -> None:
    """Convert the Sigma rules to SIEM queries with pySigma (the 'sigma' extra)."""
    from bastion.monitor import load_rules
    from bastion.monitor.sigma import convert

    chosen = load_rules(rules) if rules else None
    queries = convert(target.value, chosen)
    if format is Format.JSON:
        print_json({"target": target.value, "queries": queries})
    else:
        for q in queries:
            sys.stdout.write(q + "\n\n")


@sigma_app.command("list")
def sigma_list(
    rules: list[Path] = typer.Option([], "--rules", help="Rule files or directories."),
    format: Format = FormatOpt,
) -> None:
    """The rules (the shipped pack unless --rules), each parsed by the native evaluator."""
    from bastion.monitor import load_rules, rule_pack

    chosen = load_rules(rules) if rules else rule_pack()
    rows: list[dict[str, Any]] = [
        {"id": r.id, "title": r.title, "level": r.level, "techniques": list(r.techniques),
         "file": r.source, "correlation": r.correlation is not None}
        for r in chosen
    ]  # fmt: skip
    if format is Format.JSON:
        print_json(rows)
    else:
        print_table(
            "Sigma rules (logsource ai_gateway)",
            ["id", "title", "level", "ATLAS", "file"],
            [(r["id"], r["title"], r["level"], " ".join(r["techniques"]), r["file"]) for r in rows],
        )
