"""The ``bastion`` command. Thin: each command calls one public function of a room."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from bastion import __version__
from bastion.cli import access as access_cmds
from bastion.cli import core as core_cmds
from bastion.cli import custody as custody_cmds
from bastion.cli import governance, risk, threats
from bastion.cli import guard as guard_cmds
from bastion.cli import identity as identity_cmds
from bastion.cli import incident as incident_cmds
from bastion.cli import monitor as monitor_cmds
from bastion.cli import pki as pki_cmds
from bastion.cli import policy as policy_cmds
from bastion.cli import privacy as privacy_cmds
from bastion.cli import redteam as redteam_cmds
from bastion.cli import redteam_campaign as redteam_campaign_cmds  # noqa: F401 - adds redteam run
from bastion.cli import redteam_llm as redteam_llm_cmds  # noqa: F401 - adds redteam llm, llm-serve
from bastion.cli import tabletop as tabletop_cmds
from bastion.cli._common import err, state
from bastion.cli._compat import Abort, ClickException
from bastion.cli._groups import model_app
from bastion.cli.compliance import control_app
from bastion.cli.data import app as data_app
from bastion.cli.inventory import inventory_app, manifest_app
from bastion.core.errors import BastionError

# isort: off
# Import order is the order of `bastion model --help`: signing, then registry, then scanning
# (each registers its commands on model_app).
from bastion.cli import integrity_signing, registry, integrity_scanning, integrity_supply

# isort: on

app = typer.Typer(
    name="bastion",
    help="Bastion: the AI security control plane.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"bastion {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    home: Path | None = typer.Option(
        None, "--home", envvar="BASTION_HOME", help="Bastion home directory."
    ),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True),
) -> None:
    state.home = home
    state.debug = debug


app.command("init")(core_cmds.init)
app.add_typer(manifest_app, name="manifest")
app.add_typer(inventory_app, name="inventory")
app.add_typer(core_cmds.evidence_app, name="evidence")
app.add_typer(core_cmds.checks_app, name="checks")
app.add_typer(core_cmds.ledger_app, name="ledger")
app.add_typer(core_cmds.token_app, name="token")
app.add_typer(threats.app, name="threats")
app.add_typer(risk.app, name="risk")
app.add_typer(model_app, name="model")
# `bastion pki` is the one workspace PKI (bastion.integrity.signing._pki: root + intermediate
# CA, chain verification, CRLs). The access room's mTLS certificates (SPIFFE SVIDs) extend this
# group and issue from this CA: never a second PKI or a second `pki` group.
app.add_typer(integrity_signing.pki_app, name="pki")
del pki_cmds  # imported for its effect: mtls, revoke, crl and rotate register on the pki group
app.add_typer(identity_cmds.app, name="identity")
app.add_typer(integrity_supply.deps_app, name="deps")
integrity_supply.register(app)
app.add_typer(registry.gate_app, name="gate")
app.add_typer(governance.app, name="governance")
app.add_typer(control_app, name="control")
app.add_typer(monitor_cmds.app, name="monitor")
app.add_typer(policy_cmds.app, name="policy")
app.add_typer(access_cmds.app, name="access")
app.add_typer(guard_cmds.app, name="guard")
app.add_typer(incident_cmds.app, name="incident")
app.add_typer(custody_cmds.app, name="custody")
app.add_typer(tabletop_cmds.app, name="tabletop")
app.add_typer(redteam_cmds.app, name="redteam")
app.add_typer(privacy_cmds.app, name="privacy")
app.add_typer(data_app, name="data")
del integrity_scanning  # imported for its effect: its commands register on model_app


@app.command("serve")
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to bind."),
    port: int = typer.Option(8700, min=1, max=65535),
) -> None:
    """Run the REST API and the web console."""
    import uvicorn

    from bastion.api import create_app
    from bastion.cli._common import settings

    cfg = settings()
    bind = host.strip("[]").lower()
    if bind not in ("0.0.0.0", "::") and bind not in cfg.allowed_hosts:
        # The console answers to the bind address too (beside BASTION_ALLOWED_HOSTS).
        cfg = cfg.model_copy(update={"allowed_hosts": (*cfg.allowed_hosts, bind)})
    uvicorn.run(create_app(cfg), host=host, port=port, log_level="info", proxy_headers=False)


@app.command("demo")
def demo(
    keep: Path | None = typer.Option(None, help="Use this directory as the demo home and keep it."),
    rows: int = typer.Option(5000, min=1000, max=200_000, help="Applicants to generate."),
) -> None:
    """Run everything Bastion has on the bundled credit-scoring example, in a fresh home."""
    from bastion.demo import run_demo

    raise typer.Exit(run_demo(keep, rows=rows))


def main(argv: list[str] | None = None) -> int:
    """Entry point: one clear line for a BastionError, a traceback only with --debug."""
    args = sys.argv[1:] if argv is None else argv
    try:
        rc = app(args, standalone_mode=False)
        return rc if isinstance(rc, int) else 0
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    except SystemExit as exc:  # click usage errors in non-standalone mode surface as this
        return int(exc.code or 0) if isinstance(exc.code, int) else 2
    except BastionError as exc:
        if "--debug" in args:
            raise
        err.print(f"[bold red]error:[/] {exc.message}", highlight=False)
        return exc.exit_code
    except KeyboardInterrupt:
        err.print("interrupted")
        return 130
    except (ClickException, Abort) as exc:
        if isinstance(exc, Abort):
            return 1
        exc.show()
        return exc.exit_code
    except Exception as exc:  # the last line of defence
        if "--debug" in args:
            raise
        err.print(
            f"[bold red]internal error:[/] {type(exc).__name__}: {exc} (rerun with --debug)",
            highlight=False,
        )
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
