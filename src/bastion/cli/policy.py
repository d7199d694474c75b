"""`bastion policy ...`: validate a Cedar policy directory, run its tests, decide once.
Each command calls one function of ``bastion.access.policy``."""

from __future__ import annotations

from pathlib import Path

import typer

from bastion.cli._common import Format, FormatOpt, out, print_json, print_table, workspace
from bastion.core.errors import InputError

__all__ = ["app"]

app = typer.Typer(
    help="Authorization policies (Cedar): validate, test, decide.", no_args_is_help=True
)


@app.command("validate")
def validate(directory: Path, format: Format = FormatOpt) -> None:
    """Parse and validate a policy directory against its schema (exit 2 when it does not)."""
    from bastion.access.policy import load_snapshot

    snap = load_snapshot(directory)
    if format is Format.JSON:
        print_json(snap.summary())
        return
    rows = [(p, snap.effects[p], snap.reasons.get(p, "")) for p in snap.effects]
    print_table(f"{directory}: {len(rows)} policies, valid", ["policy", "effect", "reason"], rows)
    out.print(f"digest {snap.digest}")


@app.command("test")
def run_tests(
    directory: Path,
    tests: Path | None = typer.Option(None, "--tests", help="Tests file (default DIR/tests.yaml)."),
    junit: Path | None = typer.Option(None, "--junit", help="Also write JUnit XML here (for CI)."),
    format: Format = FormatOpt,
) -> None:
    """Run the allow/deny expectations of DIR/tests.yaml; exit 1 on any failure."""
    from bastion.access.policy import run_policy_tests

    report = run_policy_tests(directory, tests)
    if junit is not None:
        junit.write_text(report.junit_xml(), encoding="utf-8")
    if format is Format.JSON:
        print_json(report.to_dict())
    else:
        rows = [
            (
                "pass" if r.passed else "FAIL",
                r.name,
                r.got,
                "; ".join(r.problems) or (r.reasons[0] if r.reasons else ""),
            )
            for r in report.results
        ]
        print_table(
            f"{len(report.results) - report.failed}/{len(report.results)} passed",
            ["result", "test", "decision", "detail"],
            rows,
        )
    if not report.ok:
        raise typer.Exit(1)


def _pairs(items: list[str], what: str) -> dict[str, str | int | bool]:
    got: dict[str, str | int | bool] = {}
    for item in items:
        k, sep, v = item.partition("=")
        if not sep or not k:
            raise InputError(f"{what} {item[:60]!r}: expected KEY=VALUE")
        got[k] = int(v) if v.lstrip("-").isdigit() else {"true": True, "false": False}.get(v, v)
    return got


@app.command("decide")
def decide(
    principal: str = typer.Option(..., help="user:ID, workload:ID or vendor:ID."),
    action: str = typer.Option(..., help="invoke, explain, download-weights, read-config, ..."),
    resource: str = typer.Option(..., help="endpoint:ID, model_version:ID or dataset:ID."),
    role: list[str] = typer.Option([], "--role", help="A role of the principal (repeatable)."),
    attr: list[str] = typer.Option([], "--attr", help="Principal attribute KEY=VALUE."),
    context: list[str] = typer.Option([], "--context", help="Request context KEY=VALUE."),
    mfa: bool = typer.Option(False, "--mfa", help="The credential proved a second factor."),
    directory: Path | None = typer.Option(
        None, "--dir", help="Policy directory (default $BASTION_POLICY_DIR, home, or bundled)."
    ),
    format: Format = FormatOpt,
) -> None:
    """Decide one request as the guard would (recorded in the ledger); exit 1 on deny."""
    from bastion.access.policy import decide_request

    with workspace() as ws:
        d = decide_request(
            ws,
            principal,
            principal.partition(":")[0],
            action,
            resource,
            roles=role,
            attributes=_pairs(attr, "--attr"),
            mfa=mfa,
            context=_pairs(context, "--context"),
            directory=directory,
        )
    if format is Format.JSON:
        print_json(d)
    else:
        out.print(("ALLOW" if d["allowed"] else "DENY") + f"  {principal} {action} {resource}")
        for r in d["reasons"]:
            out.print(f"  {r}")
        if d["allowed"]:
            out.print(
                "  obligations: " + ", ".join(f"{k}={v}" for k, v in d["obligations"].items())
            )
    if not d["allowed"]:
        raise typer.Exit(1)
