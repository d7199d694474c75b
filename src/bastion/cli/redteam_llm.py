"""`bastion redteam llm` and `bastion redteam llm-serve`: red-team an LLM endpoint with
the probe families, and run the vulnerable or hardened test chat server for demos.
Thin: each command calls one public function of the robustness room's llm part (and
the recorder when the result is stored)."""

from __future__ import annotations

import enum
import json
import sys
from pathlib import Path
from typing import Any

import typer

from bastion.cli._common import out, print_json, print_table, progress, workspace
from bastion.cli.redteam import app

__all__ = ["llm", "llm_serve"]


class LlmFormat(enum.StrEnum):
    TABLE = "table"
    JSON = "json"
    SARIF = "sarif"


@app.command("llm")
def llm(
    url: str = typer.Argument(
        "", help="The endpoint: an OpenAI-compatible base or /v1/chat/completions URL."
    ),
    probes: str | None = typer.Option(
        None, "--probes", help="Families or probe ids, comma-separated (default: all)."
    ),
    template: Path | None = typer.Option(
        None, "--template", help="Request template (YAML/JSON) for a non-OpenAI endpoint."
    ),
    model: str = typer.Option("default", "--model", help="Model name sent to the endpoint."),
    api_key_env: str | None = typer.Option(
        None, "--api-key-env", help="Environment variable holding the endpoint's API key."
    ),
    canary: list[str] = typer.Option(
        [], "--canary", help="A string known to be in the target's system prompt (repeatable)."
    ),
    allow_host: list[str] = typer.Option(
        [], "--allow-host", help="A non-loopback host you are authorised to test (repeatable)."
    ),
    image_host: list[str] = typer.Option(
        [], "--image-host", help="An image/link host that is not exfiltration (repeatable)."
    ),
    tool: list[str] = typer.Option(
        [], "--tool", help="An allowlisted tool offered to the target (default lookup_order)."
    ),
    seed: int | None = typer.Option(None, "--seed", min=0, help="Reproduce a run's codes."),
    concurrency: int = typer.Option(4, "--concurrency", min=1, max=32),
    max_requests: int = typer.Option(1000, "--max-requests", min=1, max=10_000),
    timeout: float = typer.Option(60.0, "--timeout", min=0.1, max=3600, help="Read timeout, s."),
    retries: int = typer.Option(2, "--retries", min=0, max=10),
    report: list[Path] = typer.Option(
        [], "--report", help="Write the report: .json, .md, .html or .sarif (repeatable)."
    ),
    garak_report: Path | None = typer.Option(
        None, "--garak-report", help="Merge a garak report.jsonl or hitlog.jsonl."
    ),
    garak: bool = typer.Option(False, "--garak", help="Also run garak (when it is installed)."),
    judge_url: str | None = typer.Option(
        None, "--judge-url", help="An optional judge model (OpenAI-compatible); never decisive."
    ),
    record: bool = typer.Option(
        True, "--record/--no-record", help="Store evidence and ledger it (needs `bastion init`)."
    ),
    name: str | None = typer.Option(
        None, "--name", help="Subject reference for the evidence (default: the target)."
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Send one harmless request and show it whole; no probes."
    ),
    json_out: bool = typer.Option(False, "--json", help="Same as --format json."),
    format: LlmFormat = typer.Option(
        LlmFormat.TABLE, "--format", "-f", help="Output format (sarif: the findings)."
    ),
) -> None:
    """Send the probe families to an LLM endpoint and report what each one found.

    Loopback targets only unless --allow-host names the host. Exit 0 when no probe
    showed its weakness, 1 when one did (or probes got no usable reply), 2 bad input
    (refused before any request).
    """
    from bastion.core.types import Verdict
    from bastion.robustness.llm import (
        Limits,
        llm_verdict,
        probe_endpoint,
        record_llm_probes,
        to_sarif,
        write_report,
    )

    if not url and template is None:
        raise typer.BadParameter("give the endpoint URL (or a template with url:)")
    if dry_run:
        from bastion.robustness.llm import preview_endpoint

        shown = preview_endpoint(
            url, template=template, model=model, api_key_env=api_key_env,
            limits=Limits(read_timeout=timeout, retries=retries), allow_hosts=tuple(allow_host),
        )  # fmt: skip
        if json_out or format is LlmFormat.JSON:
            print_json(shown)
        else:
            for key, value in shown.items():
                text = value if isinstance(value, str) else json.dumps(value, indent=2)
                out.print(f"{key}: {text}", highlight=False, markup=False)
        raise typer.Exit(0 if shown["error"] is None else 1)
    with progress("probing", None) as bar:
        result = probe_endpoint(
            url,
            template=template,
            model=model,
            api_key_env=api_key_env,
            probes=probes,
            seed=seed,
            canaries=tuple(canary),
            allow_hosts=tuple(allow_host),
            image_hosts=tuple(image_host),
            tools=tuple(tool),
            concurrency=concurrency,
            max_requests=max_requests,
            limits=Limits(read_timeout=timeout, retries=retries),
            garak_report=garak_report,
            garak=garak,
            judge_url=judge_url,
            reports=tuple(report),
            progress=bar,
        )
    evidence_id: str | None = None
    if record:
        with workspace() as ws:
            ev = record_llm_probes(ws, result, ref=name, actor="cli")
        verdict, evidence_id = ev.verdict, ev.id
    else:
        verdict, _f = llm_verdict(result)
    for path in report:
        write_report(result, path)
    data: dict[str, Any] = result.to_data()
    if json_out or format is LlmFormat.JSON:
        print_json(data | {"verdict": verdict.value, "evidence": evidence_id})
    elif format is LlmFormat.SARIF:
        print_json(to_sarif(result))
    else:
        print_table(
            f"LLM probes against {data['target']}: {verdict.value}, {data['found']} of "
            f"{data['probes_run']} showed their weakness",
            ["family", "probes", "found", "clear", "errors", "skipped", "OWASP", "ATLAS"],
            [
                (
                    fam,
                    c["probes"],
                    c["found"],
                    c["clear"],
                    c["errors"],
                    c["skipped"],
                    ", ".join(o.rsplit(":", 1)[-1] for o in c["owasp"]),
                    ", ".join(c["atlas"]),
                )
                for fam, c in data["families"].items()
            ],
        )
        for f in data["findings"]:
            out.print(
                f"  {f['severity']:<8} {f['probe']} [{f['detector']}]: {f['detail']}",
                highlight=False,
                markup=False,
            )
        for note in data["notes"]:
            out.print(f"  note: {note}", highlight=False, markup=False)
        out.print(
            f"  cost: {data['cost']['requests']} requests, {data['cost']['wall_seconds']} s"
            + (f"; evidence {evidence_id}" if evidence_id else ""),
            highlight=False,
        )
    raise typer.Exit(0 if verdict is Verdict.PASS else 1)


@app.command("llm-serve")
def llm_serve(
    vulnerable: bool = typer.Option(
        ..., "--vulnerable/--hardened", help="Serve the vulnerable or the hardened chat server."
    ),
    port: int = typer.Option(8765, "--port", min=0, max=65535, help="Port on 127.0.0.1."),
) -> None:
    """Run a test chat server on 127.0.0.1 until interrupted (for demos): OpenAI
    /v1/chat/completions and POST /chat."""
    from bastion.robustness.llm.testservers import make_server

    mode = "vulnerable" if vulnerable else "hardened"
    srv = make_server(mode, port)
    host, bound = str(srv.server_address[0]), int(srv.server_address[1])
    out.print(
        f"{mode} LLM test server on http://{host}:{bound} (Ctrl-C to stop)",
        highlight=False,
    )
    sys.stdout.flush()
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        srv.server_close()
