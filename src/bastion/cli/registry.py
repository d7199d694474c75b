"""`bastion model register|list|show|download|history|alias|promote|rollback|approve` and
`bastion gate`.

Model commands register on the shared ``model_app``; each calls one public function of the
registry room. Approvals authenticate a token with a TOTP code (MFA), like the API.

The CLI works on the local workspace files and database: whoever can run it there is a
local administrator, and ``--actor``/``--author`` are self-declared names recorded as such
(``$BASTION_ACTOR`` or the OS user by default). Approvals and votes are the exception:
they authenticate a token with a TOTP code. Over the API the actor is always the
authenticated token's identity, and policy changes and rollbacks need admin or approver
tokens with MFA.
"""

from __future__ import annotations

import getpass
import os
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from bastion.cli._common import Format, FormatOpt, out, print_json, print_table, progress, workspace
from bastion.cli._groups import model_app

if TYPE_CHECKING:
    from bastion.access import Principal
    from bastion.core.workspace import Workspace

__all__ = ["gate_app", "model_app"]

gate_app = typer.Typer(
    help="Promotion gates: evaluate a model version against its tier's policy.",
    no_args_is_help=True,
)
policy_app = typer.Typer(help="The versioned gate policy.", no_args_is_help=True)
gate_app.add_typer(policy_app, name="policy")


def _actor(value: str | None) -> str:
    return value or os.environ.get("BASTION_ACTOR") or getpass.getuser()


ActorOpt = typer.Option(
    None,
    "--actor",
    help="Who acts (default $BASTION_ACTOR or the OS user). Self-declared: the CLI is for "
    "local administrators; over the API the actor is the token's identity.",
)


def _privileged(ws: Workspace, token: str | None, otp: str | None) -> Principal | None:
    """The principal of ``--token``/``--otp`` (None without a token); set_alias decides
    whether it is privileged (an admin or approver with MFA)."""
    if token is None:
        return None
    from bastion.access import authenticate
    from bastion.core.errors import InputError

    if not otp:
        raise InputError("--token needs --otp: an alias on an ungated version needs MFA")
    return authenticate(ws, token, otp)


TokenOpt = typer.Option(
    None,
    "--token",
    envvar="BASTION_TOKEN",
    help="An admin's or approver's API token: needed (with --otp) to point an alias at a "
    "version that passed no gate.",
)
OtpOpt = typer.Option(None, "--otp", help="Current TOTP code of --token.")


def _print_gate(gate: object, title: str) -> None:
    from bastion.registry import GateResult

    assert isinstance(gate, GateResult)
    status = "[green]satisfied[/]" if gate.satisfied else f"[red]{len(gate.unmet)} unmet[/]"
    out.print(
        f"{title}: {gate.model}@{gate.version} -> {gate.stage.value} (tier {gate.tier} from "
        f"{gate.tier_source}, policy v{gate.policy_version}): {status}"
    )
    print_table(
        None,
        ["requirement", "ok", "reason", "what would satisfy it"],
        [
            (r.description, "yes" if r.satisfied else "NO", r.reason, r.remedy or "")
            for r in gate.requirements
        ],
    )


@model_app.command("register")
def register(
    name: str = typer.Argument(..., help="Model name (lowercase)."),
    path: Path = typer.Argument(..., help="Model directory or file (or MLflow dir with --mlflow)."),
    version: str | None = typer.Option(None, help="Version label (default: next integer)."),
    system: str | None = typer.Option(None, help="System id the model belongs to."),
    asset: str | None = typer.Option(None, help="Asset id of the model in the system."),
    tier: int | None = typer.Option(None, min=1, max=4, help="Override the risk tier."),
    dataset: list[str] = typer.Option([], "--dataset", help="Training dataset (repeatable)."),
    author: list[str] = typer.Option([], "--author", help="Author (repeatable)."),
    alias: str | None = typer.Option(None, help="Alias to point at this version."),
    mlflow: bool = typer.Option(
        False, "--mlflow", help="PATH is an MLflow run/model/registry dir."
    ),
    sign_key: Path | None = typer.Option(
        None, "--sign-key", help="With --mlflow: sign the imported files with this key."
    ),
    certificate: Path | None = typer.Option(
        None, "--certificate", help="With --sign-key: the signing certificate (PEM)."
    ),
    chain: list[Path] = typer.Option(
        [], "--chain", help="With --certificate: intermediate certificates (repeatable)."
    ),
    token: str | None = TokenOpt,
    otp: str | None = OtpOpt,
    actor: str | None = ActorOpt,
    format: Format = FormatOpt,
) -> None:
    """Hash a model's files (never loading them) and register a new version in development.

    With --mlflow, PATH is read as an MLflow run, model or registry-version directory; the
    run's author, datasets, parameters, MLflow aliases and stage are imported (the stage as
    provenance only), and --sign-key signs the files first. A new version has passed no
    gate: --alias (and applying MLflow aliases) needs --token of an admin or approver with
    --otp; without it MLflow aliases are kept as provenance only."""
    from bastion.core.errors import InputError
    from bastion.registry import import_mlflow, register_model

    if not mlflow and (sign_key or certificate or chain):
        raise InputError("--sign-key, --certificate and --chain go with --mlflow")
    with workspace() as ws, progress("Hashing model files"):
        p = _privileged(ws, token, otp)
        if mlflow:
            v = import_mlflow(
                ws,
                path,
                name=name,
                system=system,
                asset=asset,
                tier=tier,
                version=version,
                alias=alias,
                authors=author,
                datasets=dataset,
                sign_key=sign_key,
                certificate=certificate,
                chain=chain,
                actor=_actor(actor),
                principal=p,
            )
        else:
            v = register_model(
                ws,
                name,
                path,
                version=version,
                system=system,
                asset=asset,
                tier=tier,
                datasets=dataset,
                authors=author,
                alias=alias,
                actor=_actor(actor),
                principal=p,
            )
    if format is Format.JSON:
        print_json(v.to_dict())
    else:
        out.print(f"Registered {v.ref} ({len(v.files)} files) digest {v.digest}")


@model_app.command("list")
def list_(format: Format = FormatOpt) -> None:
    """List registered models with their versions, stages and aliases."""
    from bastion.registry import list_models

    with workspace() as ws:
        models = list_models(ws)
    if format is Format.JSON:
        print_json([m.to_dict() for m in models])
        return
    print_table(
        "Models",
        ["model", "version", "stage", "aliases", "digest", "system"],
        [
            (m.name, v.version, v.stage.value, ",".join(v.aliases), v.digest[:23], m.system_id)
            for m in models
            for v in m.versions
        ],
    )


@model_app.command("show")
def show(name: str, version: str, format: Format = FormatOpt) -> None:
    """Show one version (by number or alias): files, provenance, stage, gate record."""
    from bastion.registry import get_version

    with workspace() as ws:
        v = get_version(ws, name, version)
    if format is Format.JSON:
        print_json(v.to_dict())
        return
    out.print_json(data=v.to_dict())


@model_app.command("download")
def download(
    name: str,
    version: str,
    path: str = typer.Argument(..., help="The file's path in the version's manifest."),
    purpose: str = typer.Option(..., "--purpose", help="Why you read it (ledgered)."),
    output: Path = typer.Option(..., "--out", "-o", help="Where to write the file."),
    token: str = typer.Option(..., envvar="BASTION_TOKEN", help="Your API token."),
    otp: str | None = typer.Option(None, "--otp", help="Current TOTP code, if policy needs MFA."),
    format: Format = FormatOpt,
) -> None:
    """Download one file of a version: decided by the access policies, ledgered with your
    purpose and the file's digest, verified against the manifest; a refusal is a detection."""
    from bastion.access import authenticate
    from bastion.registry import download_file

    with workspace() as ws:
        f = download_file(
            ws, name, version, path, principal=authenticate(ws, token, otp), purpose=purpose
        )
    output.write_bytes(f.data)
    if format is Format.JSON:
        print_json({"ref": f.ref, "path": f.path, "digest": f.digest, "bytes": len(f.data)})
    else:
        out.print(f"Wrote {f.ref}/{f.path} ({len(f.data)} bytes, {f.digest}) to {output}")


@model_app.command("history")
def history_(name: str, format: Format = FormatOpt) -> None:
    """Every stage transition of a model, with who, why and the evidence relied on."""
    from bastion.registry import history

    with workspace() as ws:
        items = history(ws, name)
    if format is Format.JSON:
        print_json([t.to_dict() for t in items])
        return
    print_table(
        f"History of {name}",
        ["when", "action", "version", "from", "to", "actor", "reason", "evidence"],
        [
            (
                t.created_at.isoformat(timespec="seconds"),
                t.action,
                t.version,
                t.from_stage,
                t.to_stage,
                t.actor,
                t.reason,
                len(t.evidence_ids),
            )
            for t in items
        ],
    )


@model_app.command("alias")
def alias_(
    name: str,
    alias: str = typer.Argument(..., help="Alias, e.g. champion or challenger."),
    version: str = typer.Argument(..., help="Version (or another alias) it points at."),
    token: str | None = TokenOpt,
    otp: str | None = OtpOpt,
    actor: str | None = ActorOpt,
    format: Format = FormatOpt,
) -> None:
    """Point an alias at a version (it leaves any other version of the model).

    Only at a version that passed a gate; at any other version as a privileged action:
    --token of an admin or approver with --otp."""
    from bastion.registry import set_alias

    with workspace() as ws:
        p = _privileged(ws, token, otp)
        v = set_alias(ws, name, alias, version, actor=_actor(actor), principal=p)
    if format is Format.JSON:
        print_json(v.to_dict())
    else:
        out.print(f"{name}:{alias} -> {v.ref}")


@model_app.command("promote")
def promote_(
    name: str,
    version: str,
    to: str = typer.Option("production", "--to", help="Target stage."),
    reason: str | None = typer.Option(None, help="Why."),
    actor: str | None = ActorOpt,
    format: Format = FormatOpt,
) -> None:
    """Evaluate the gate and promote, or list every unmet requirement (exit 1)."""
    from bastion.registry import promote

    with workspace() as ws:
        res = promote(ws, name, version, to, actor=_actor(actor), reason=reason)
    if format is Format.JSON:
        print_json(res.to_dict())
    elif res.gate is not None:
        _print_gate(res.gate, "Promoted" if res.promoted else "Refused")
    else:
        out.print(f"Moved {name}@{version} to {to}")
    raise typer.Exit(0 if res.promoted else 1)


@model_app.command("rollback")
def rollback_(
    name: str,
    to: str = typer.Option(..., "--to", help="Version to put back in production."),
    reason: str = typer.Option(..., "--reason", help="Why (recorded in the ledger)."),
    policy: Path | None = typer.Option(
        None,
        "--policy",
        help="Verification policy for re-verifying the signature (default: the last "
        "passing verification's signers under the workspace PKI root).",
    ),
    actor: str | None = ActorOpt,
    format: Format = FormatOpt,
) -> None:
    """Roll production back to a version that passed its gate and whose signature verifies
    again, now, against its files."""
    from bastion.registry import rollback

    with workspace() as ws:
        t = rollback(ws, name, to, reason=reason, actor=_actor(actor), policy=policy)
    if format is Format.JSON:
        print_json(t.to_dict())
    else:
        out.print(f"Rolled {name} back to {t.version} (ledger #{t.ledger_seq})")


@model_app.command("approve")
def approve_(
    name: str,
    version: str,
    kind: str = typer.Option("security_signoff", help="Approval kind named by the policy."),
    stage: str = typer.Option("production", help="Stage the approval is for."),
    comment: str | None = typer.Option(None),
    token: str = typer.Option(..., envvar="BASTION_TOKEN", help="Approver's API token."),
    otp: str = typer.Option(..., "--otp", help="Current TOTP code (approvals need MFA)."),
    format: Format = FormatOpt,
) -> None:
    """Approve a version for a stage, as the token's person, with MFA."""
    from bastion.access import authenticate
    from bastion.registry import approve

    with workspace() as ws:
        principal = authenticate(ws, token, otp)
        a = approve(ws, name, version, principal, kind=kind, stage=stage, comment=comment)
    if format is Format.JSON:
        print_json(a.to_dict())
    else:
        out.print(
            f"{a.approver} approved {name}@{a.version} ({a.kind}) until {a.expires_at:%Y-%m-%d}"
        )


@gate_app.command("check")
def check(
    name: str,
    version: str,
    stage: str = typer.Option("production", "--stage"),
    format: Format = FormatOpt,
) -> None:
    """Evaluate the gate without side effects (for CI): exit 1 when not satisfied."""
    from bastion.registry import evaluate_gate

    with workspace() as ws:
        gate = evaluate_gate(ws, name, version, stage)
    if format is Format.JSON:
        print_json(gate.to_dict())
    else:
        _print_gate(gate, "Gate")
    raise typer.Exit(0 if gate.satisfied else 1)


@policy_app.command("set")
def policy_set(file: Path, actor: str | None = ActorOpt, format: Format = FormatOpt) -> None:
    """Validate and store a gate policy as a new version (a ledger event)."""
    from bastion.registry import load_policy, set_policy

    policy = load_policy(file)
    with workspace() as ws:
        version, changed = set_policy(ws, policy, actor=_actor(actor))
    if format is Format.JSON:
        print_json({"version": version, "changed": changed})
    else:
        out.print(f"Gate policy v{version}" + ("" if changed else " (unchanged)"))


@policy_app.command("show")
def policy_show(format: Format = FormatOpt) -> None:
    """Print the current gate policy."""
    from bastion.registry import current_policy

    with workspace() as ws:
        version, policy = current_policy(ws)
    print_json({"version": version, "policy": policy.model_dump(mode="json")})
    _ = format
