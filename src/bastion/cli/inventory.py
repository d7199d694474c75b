"""Commands for system manifests and the inventory."""

from __future__ import annotations

from pathlib import Path

import typer

from bastion.cli._common import (
    Format,
    FormatOpt,
    err,
    out,
    print_json,
    print_table,
    settings,
    workspace,
)
from bastion.core.errors import ManifestError, NotFoundError
from bastion.inventory import (
    SystemRecord,
    get_asset,
    get_system,
    import_manifest,
    list_assets,
    list_systems,
)
from bastion.manifest import load_manifest, manifest_json_schema, validate_manifest

manifest_app = typer.Typer(
    help="System manifests: the YAML description of an AI system.", no_args_is_help=True
)
inventory_app = typer.Typer(help="The inventory of systems and assets.", no_args_is_help=True)


@manifest_app.command("schema")
def manifest_schema() -> None:
    """Print the manifest's JSON Schema."""
    print_json(manifest_json_schema())


@manifest_app.command("validate")
def manifest_validate(file: Path, format: Format = FormatOpt) -> None:
    """Validate a manifest; print every problem as file:line:col: path: message. Exit 2 if any."""
    problems = validate_manifest(file, max_bytes=settings().max_manifest_bytes)
    if format is Format.JSON:
        print_json(
            {
                "file": str(file),
                "valid": not problems,
                "problems": [_problem_dict(p) for p in problems],
            }
        )
    elif problems:
        for p in problems:
            err.print(str(p), highlight=False, markup=False)
        err.print(f"{file}: {len(problems)} problem(s)", highlight=False, markup=False)
    else:
        out.print(f"{file}: valid", highlight=False)
    raise typer.Exit(2 if problems else 0)


def _problem_dict(p: object) -> dict[str, object]:
    return {k: getattr(p, k) for k in ("file", "line", "column", "path", "message", "expected")}


@inventory_app.command("import")
def inventory_import(manifest: Path, format: Format = FormatOpt) -> None:
    """Import a manifest: store the system and its assets, versioning what changed."""
    try:
        m = load_manifest(manifest, max_bytes=settings().max_manifest_bytes)
    except ManifestError as exc:
        for p in exc.problems:
            err.print(str(p), highlight=False, markup=False)
        raise
    with workspace() as ws:
        res = import_manifest(ws, m, source=str(manifest), actor="cli")
    if format is Format.JSON:
        print_json(res.to_dict())
        return
    if res.no_change:
        out.print(f"{res.system_id}: unchanged (version {res.version})")
        return
    verb = "created" if res.created else "updated"
    out.print(
        f"{res.system_id}: {verb}, version {res.version} "
        f"({len(res.added)} added, {len(res.changed)} changed, {len(res.removed)} removed)"
    )


@inventory_app.command("list")
def inventory_list(
    kind: str | None = typer.Option(None, help="Only assets of this kind."),
    owner: str | None = typer.Option(None, help="Only assets with this owner."),
    classification: str | None = typer.Option(None, help="Only assets with this classification."),
    system: str | None = typer.Option(None, help="Only assets of this system."),
    systems: bool = typer.Option(False, "--systems", help="List systems instead of assets."),
    format: Format = FormatOpt,
) -> None:
    """List assets (or systems), with filters."""
    with workspace() as ws:
        if systems:
            recs = list_systems(ws)
            if format is Format.JSON:
                print_json([r.to_dict() | {"manifest": None} for r in recs])
            else:
                print_table(
                    "Systems",
                    ["id", "name", "owner", "version", "updated"],
                    [
                        (
                            r.id,
                            r.name,
                            r.owner,
                            r.version,
                            r.updated_at.isoformat(timespec="seconds"),
                        )
                        for r in recs
                    ],
                )
            return
        assets = list_assets(
            ws, system=system, kind=kind, owner=owner, classification=classification
        )
    if format is Format.JSON:
        print_json([a.to_dict() for a in assets])
        return
    print_table(
        "Assets",
        ["ref", "kind", "name", "owner", "classification", "version"],
        [(a.ref, a.kind, a.name, a.owner, a.classification, a.version) for a in assets],
    )


@inventory_app.command("show")
def inventory_show(
    ref: str = typer.Argument(..., help="SYSTEM, SYSTEM/ASSET or ASSET"), format: Format = FormatOpt
) -> None:
    """Show a system or an asset with its version history."""
    with workspace() as ws:
        if "/" not in ref:
            try:
                rec: SystemRecord | None = get_system(ws, ref)
            except NotFoundError:
                rec = None
            if rec is not None:
                if format is Format.JSON:
                    print_json(rec.to_dict())
                else:
                    out.print(
                        f"[bold]{rec.id}[/] {rec.name} — owner {rec.owner}, version {rec.version}"
                    )
                    for v, d, t, a in rec.versions:
                        out.print(f"  v{v}  {t.isoformat(timespec='seconds')}  {d[:23]}  {a}")
                return
        asset = get_asset(ws, ref)
    if format is Format.JSON:
        print_json(asset.to_dict(with_history=True))
        return
    out.print(
        f"[bold]{asset.ref}[/] ({asset.kind}) {asset.name} — owner {asset.owner}, "
        f"{asset.classification}, version {asset.version}"
        + (" [red]removed[/]" if asset.removed else "")
    )
    out.print_json(data=asset.body)
    for h in asset.history:
        when = h.created_at.isoformat(timespec="seconds")
        out.print(f"  v{h.version}  {h.change:<8} {when}  {h.digest[:23]}")
