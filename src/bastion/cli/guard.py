"""``bastion guard``: serve the runtime guard, check its configuration, read its decisions."""

from __future__ import annotations

from pathlib import Path

import typer

from bastion.cli._common import Format, FormatOpt, out, print_json, print_table, workspace

app = typer.Typer(
    help="The runtime guard in front of model endpoints: run, check, decisions, revoke.",
    no_args_is_help=True,
)

ConfigArg = typer.Argument(..., help="The guard's YAML configuration.", exists=False)


@app.command("run")
def run(
    config: Path = ConfigArg,
    host: str | None = typer.Option(None, help="Address to bind (default: the config's)."),
    port: int | None = typer.Option(None, min=1, max=65535, help="Port (default: the config's)."),
) -> None:
    """Serve the guard. Refuses to start when a fronted model version's signature or gate
    does not verify, or when no authorizer (policy_dir) is configured."""
    from bastion.guard import run_guard

    with workspace() as ws:
        run_guard(ws, config, host=host, port=port)


@app.command("check")
def check(config: Path = ConfigArg, format: Format = FormatOpt) -> None:
    """Validate CONFIG and run every start-up check without serving. Exit 1 on a problem."""
    from bastion.guard import check_guard_file

    with workspace() as ws:
        res = check_guard_file(ws, config)
    if format is Format.JSON:
        print_json(res.to_dict())
    else:
        rows = [(m.endpoint, m.model, "ok" if m.ok else "refused", (m.digest or "")[:23])
                for m in res.models]  # fmt: skip
        print_table(
            f"guard {res.name} ({res.digest[:19]}…)", ["endpoint", "model", "", "digest"], rows
        )
        for p in res.problems:
            out.print(f"[red]✗[/] {p}", highlight=False)
        if res.ok:
            out.print("[green]✓[/] the guard can start", highlight=False)
    if not res.ok:
        raise typer.Exit(1)


@app.command("decisions")
def decisions(
    limit: int = typer.Option(50, min=1, max=10_000, help="How many (newest first)."),
    endpoint: str | None = typer.Option(None, help="Only this endpoint."),
    guard: str | None = typer.Option(None, help="Only this guard (its config name)."),
    denied: bool = typer.Option(False, "--denied", help="Only refusals."),
    format: Format = FormatOpt,
) -> None:
    """Recent decisions of the guard, from the ledger."""
    from bastion.guard import recent_decisions

    with workspace() as ws:
        rows = recent_decisions(ws, limit=limit, guard=guard, endpoint=endpoint, denied_only=denied)
    if format is Format.JSON:
        print_json(rows)
        return
    print_table(
        "guard decisions",
        ["seq", "time", "endpoint", "principal", "status", "decision", "reason", "ms"],
        [(d["seq"], d["time"][:19], d["endpoint"], d["principal"], d["status"], d["decision"],
          d.get("reason") or "", d.get("latency_ms")) for d in rows],
    )  # fmt: skip


@app.command("revoke")
def revoke(
    config: Path = ConfigArg,
    token_id: str = typer.Argument(..., help="The token id, jti or certificate serial."),
    ttl: float = typer.Option(86_400.0, min=1, help="How long the revocation holds (seconds)."),
) -> None:
    """Refuse a credential at once on every replica sharing the config's state store."""
    from bastion.guard import revoke_credential

    with workspace() as ws:
        revoke_credential(ws, config, token_id, ttl_s=ttl, actor="cli")
    out.print(f"revoked {token_id}", highlight=False)


@app.command("egress-policy")
def egress_policy(
    config: Path = ConfigArg,
    namespace: str = typer.Option("default", help="The Kubernetes namespace."),
) -> None:
    """The config's egress allowlist as a Kubernetes NetworkPolicy (YAML)."""
    import yaml

    from bastion.guard import egress_network_policy

    doc = egress_network_policy(config, namespace=namespace)
    typer.echo(yaml.safe_dump(doc, sort_keys=False), nl=False)
