"""`bastion pki mtls issue|list`, `bastion pki revoke|crl|rotate`: the access room's part of
the one workspace PKI (the integrity room's ``bastion pki init|issue|list``; same CA).

Importing this module registers the commands on the existing ``pki`` group.
"""

from __future__ import annotations

from pathlib import Path

import typer

from bastion.cli._common import Format, FormatOpt, out, print_json, print_table, workspace
from bastion.cli.integrity_signing import pki_app

__all__ = ["mtls_app", "pki_app"]

mtls_app = typer.Typer(
    help="Short-lived mTLS certificates (X.509-SVIDs with a SPIFFE ID) from the workspace CA.",
    no_args_is_help=True,
)
pki_app.add_typer(mtls_app, name="mtls")


@mtls_app.command("issue")
def mtls_issue_cmd(
    service: str = typer.Option(..., "--service", help="Service name (lower case)."),
    dns: list[str] = typer.Option([], "--dns", help="A DNS SAN (repeatable)."),
    spiffe_id: str | None = typer.Option(
        None, "--spiffe-id", help="Default spiffe://TRUST-DOMAIN/workload/SERVICE."
    ),
    hours: float = typer.Option(24.0, "--hours", help="Validity in hours (at most 72)."),
    out_dir: Path = typer.Option(Path("."), "--out", help="Where to write key and certificate."),
    format: Format = FormatOpt,
) -> None:
    """Issue an mTLS certificate (clientAuth + serverAuth); its key is written 0600."""
    from bastion.access.identity import issue_mtls_certificate

    with workspace() as ws:
        c = issue_mtls_certificate(
            ws,
            service,
            out_dir=out_dir,
            dns_names=dns,
            spiffe_id=spiffe_id,
            hours=hours,
            actor="cli",
        )
    if format is Format.JSON:
        print_json(c.to_dict())
        return
    out.print(
        f"Issued {c.serial} to {c.spiffe_id}, valid until {c.not_after.isoformat()}\n"
        f"key {c.key_path}\ncertificate {c.cert_path} (with its intermediate)\n"
        f"trust root {c.ca_path}",
        highlight=False,
    )


@mtls_app.command("list")
def mtls_list_cmd(format: Format = FormatOpt) -> None:
    """List the mTLS certificates issued, with their state."""
    from bastion.access.identity import list_mtls_certificates

    with workspace() as ws:
        certs = list_mtls_certificates(ws)
    if format is Format.JSON:
        print_json([c.to_dict() for c in certs])
        return
    print_table(
        "mTLS certificates",
        ["serial", "service", "spiffe id", "not after", "state"],
        [
            (
                c.serial,
                c.service,
                c.spiffe_id,
                c.not_after.isoformat(timespec="minutes"),
                "revoked"
                if c.revoked
                else (f"replaced by {c.replaced_by}" if c.replaced_by else "current"),
            )
            for c in certs
        ],
    )


@pki_app.command("revoke")
def revoke_cmd(
    serial: str = typer.Argument(..., help="Serial (hex) of a certificate this CA issued."),
    reason: str = typer.Option(
        "unspecified", "--reason", help="keyCompromise, superseded, cessationOfOperation, ..."
    ),
    format: Format = FormatOpt,
) -> None:
    """Revoke a certificate and publish the new CRL."""
    from bastion.access.identity import revoke_certificate

    with workspace() as ws:
        path = revoke_certificate(ws, serial, reason=reason, actor="cli")
    if format is Format.JSON:
        print_json({"serial": serial, "revoked": True, "crl": str(path)})
        return
    out.print(f"Revoked {serial}; CRL published at {path}", highlight=False)


@pki_app.command("crl")
def crl_cmd(format: Format = FormatOpt) -> None:
    """Sign and publish a fresh CRL (good for 7 days)."""
    from bastion.access.identity import publish_crl

    with workspace() as ws:
        path = publish_crl(ws, actor="cli")
    if format is Format.JSON:
        print_json({"crl": str(path)})
        return
    out.print(f"CRL published at {path}", highlight=False)


@pki_app.command("rotate")
def rotate_cmd(
    serial: str | None = typer.Option(None, "--serial", help="Only this certificate."),
    force: bool = typer.Option(False, "--force", help="Renew even with over 1/3 of life left."),
    format: Format = FormatOpt,
) -> None:
    """Renew mTLS certificates with less than a third of their life left, in place."""
    from bastion.access.identity import rotate_certificates

    with workspace() as ws:
        pairs = rotate_certificates(ws, serial=serial, force=force, actor="cli")
    if format is Format.JSON:
        print_json([{"old": o.serial, "new": n.to_dict()} for o, n in pairs])
        return
    if not pairs:
        out.print("Nothing to rotate: every certificate has over a third of its life left.")
    for o, n in pairs:
        out.print(
            f"{n.service}: {o.serial} -> {n.serial}, valid until {n.not_after.isoformat()}",
            highlight=False,
        )
