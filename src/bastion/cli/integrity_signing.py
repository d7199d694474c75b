"""`bastion model sign|verify|attest|hash` and `bastion pki`.

Commands register on the shared ``model_app``; heavy imports stay inside commands.
"""

from __future__ import annotations

import os
from pathlib import Path

import typer

from bastion.cli._common import Format, FormatOpt, out, print_json, print_table, progress, workspace
from bastion.cli._groups import model_app

__all__ = ["model_app", "pki_app"]

pki_app = typer.Typer(
    help="In-house PKI for model signing: a root and intermediate CA, short-lived signing certificates.",
    no_args_is_help=True,
)

PASSWORD_ENV = "BASTION_SIGNING_KEY_PASSWORD"
_ALG = typer.Option("sha256", "--algorithm", help="sha256 (default) or blake3.")
_SHARD = typer.Option(None, "--shard-size", min=1, help="Hash files in shards of this many bytes.")
_IGNORE = typer.Option([], "--ignore", help="Relative path or glob to leave out (repeatable).")
_NOGIT = typer.Option(True, "--ignore-git/--no-ignore-git", help="Leave out .git, .gitignore, ...")
_SYMLINKS = typer.Option(
    False, "--allow-symlinks", help="Follow symlinks that stay inside the model."
)
_CACHE = typer.Option(None, "--cache", help="Digest cache file keyed on (dev, inode, size, mtime).")
_NAME = typer.Option(None, "--name", help="Model name for the evidence (default: the path).")


def _alg(value: str) -> object:
    from bastion.core.errors import InputError
    from bastion.integrity import HashAlgorithm

    try:
        return HashAlgorithm(value)
    except ValueError:
        raise InputError(f"--algorithm {value!r}: expected sha256 or blake3") from None


@model_app.command("hash")
def model_hash(
    path: Path = typer.Argument(..., help="Model directory or file."),
    algorithm: str = _ALG,
    shard_size: int | None = _SHARD,
    ignore: list[str] = _IGNORE,
    ignore_git: bool = _NOGIT,
    allow_symlinks: bool = _SYMLINKS,
    cache: Path | None = _CACHE,
    format: Format = FormatOpt,
) -> None:
    """Print the deterministic manifest of a model: every file, its size and digest."""
    from bastion.integrity import hash_model
    from bastion.integrity._hashing import DEFAULT_IGNORE

    with progress("Hashing") as bar:
        m = hash_model(
            path,
            algorithm=_alg(algorithm),  # type: ignore[arg-type]
            shard_size=shard_size,
            ignore=[*(DEFAULT_IGNORE if ignore_git else ()), *ignore],
            allow_symlinks=allow_symlinks,
            cache=cache,
            progress=bar,
        )
    if format is Format.JSON:
        print_json(m.to_dict())
        return
    print_table(
        f"{m.model_name}  sha256:{m.digest}",
        ["name", "size", m.resource_algorithm],
        [(e.name, e.size, e.digest) for e in m.entries],
    )
    if cache is not None:
        out.print(f"{m.from_cache} of {len(m.entries)} digests came from the cache {cache}")


@model_app.command("sign")
def model_sign(
    path: Path = typer.Argument(..., help="Model directory or file."),
    key: str = typer.Option(..., "--key", help="EC private key (PEM) or pkcs11: URI."),
    certificate: Path | None = typer.Option(
        None, "--certificate", help="Signing certificate (PEM)."
    ),
    chain: list[Path] = typer.Option([], "--chain", help="Intermediate certificates (PEM)."),
    signature: Path | None = typer.Option(
        None, "--signature", help="Output (default PATH/model.sig)."
    ),
    name: str | None = _NAME,
    algorithm: str = _ALG,
    shard_size: int | None = _SHARD,
    ignore: list[str] = _IGNORE,
    ignore_git: bool = _NOGIT,
    allow_symlinks: bool = _SYMLINKS,
    cache: Path | None = _CACHE,
    format: Format = FormatOpt,
) -> None:
    """Sign a model (OpenSSF model-signing v1.0); the evidence lands in the ledger.

    A key password is read from $BASTION_SIGNING_KEY_PASSWORD, never from argv.
    """
    from bastion.integrity import record_sign

    with workspace() as ws, progress("Hashing") as bar:
        res, ev = record_sign(
            ws,
            path,
            key,
            name=name,
            password=os.environ.get(PASSWORD_ENV),
            actor="cli",
            progress=bar,
            signature_path=signature,
            certificate=certificate,
            chain=chain,
            algorithm=_alg(algorithm),
            shard_size=shard_size,
            ignore=ignore,
            ignore_git=ignore_git,
            allow_symlinks=allow_symlinks,
            cache=cache,
        )
    d = res.to_dict() | {"evidence": ev.id, "ledger_seq": ev.ledger_seq}
    if format is Format.JSON:
        print_json(d)
        return
    out.print(
        f"Signed {d['model']} ({d['files']} files, {d['bytes']} bytes) {d['digest']}\n"
        f"signature {d['signature']} by {res.signer.get('identities') or res.signer.get('key_hint')}\n"
        f"evidence {ev.id} at ledger #{ev.ledger_seq}",
        highlight=False,
    )


@model_app.command("verify")
def model_verify(
    path: Path = typer.Argument(..., help="Model directory or file."),
    signature: list[Path] = typer.Option(
        [], "--signature", help="Bundle(s) (default PATH/model.sig)."
    ),
    public_key: list[Path] = typer.Option([], "--public-key", help="Allowed public key (PEM)."),
    trust_root: list[Path] = typer.Option(
        [], "--trust-root", help="Trusted root certificate (PEM)."
    ),
    identity: list[str] = typer.Option([], "--identity", help="Allowed certificate identity."),
    sigstore_trust_root: Path | None = typer.Option(
        None,
        "--sigstore-trust-root",
        help="Sigstore trusted_root.json (or ClientTrustConfig): verify keyless bundles offline.",
    ),
    issuer: list[str] = typer.Option(
        [], "--issuer", help="Allowed OIDC issuer of a Sigstore (Fulcio) certificate."
    ),
    policy: Path | None = typer.Option(None, "--policy", help="Verification policy (YAML)."),
    name: str | None = _NAME,
    allow_symlinks: bool = _SYMLINKS,
    trust_cache: bool = typer.Option(False, "--trust-cache", help="Reuse cached digests (unsafe)."),
    cache: Path | None = _CACHE,
    format: Format = FormatOpt,
) -> None:
    """Verify a model's signature(s) and files. Exit 1 when verification fails."""
    from bastion.core.errors import CheckError
    from bastion.integrity import record_verify

    with workspace() as ws, progress("Verifying") as bar:
        res, ev = record_verify(
            ws,
            path,
            signature,
            name=name,
            policy=policy,
            actor="cli",
            progress=bar,
            public_keys=public_key,
            trust_roots=trust_root,
            identities=identity,
            sigstore_trust_root=sigstore_trust_root,
            issuers=issuer,
            allow_symlinks=allow_symlinks,
            trust_cache=trust_cache,
            cache=cache,
        )
    if res is None:
        raise CheckError(str(ev.data.get("error", "verification could not run")))
    d = res.to_dict() | {"evidence": ev.id, "ledger_seq": ev.ledger_seq}
    if format is Format.JSON:
        print_json(d)
    else:
        status = "[green]verified[/]" if res.ok else "[red]FAILED[/]"
        out.print(
            f"{path}: {status} ({len(res.valid_signers)}/{res.required} signers: "
            f"{', '.join(res.valid_signers) or '-'}); cache {d['cache']}; evidence {ev.id} "
            f"at ledger #{ev.ledger_seq}",
            highlight=False,
        )
        for f in res.all_findings:
            out.print(
                f"  [{f.severity.value}] {f.rule_id}: {f.message}", highlight=False, markup=False
            )
    raise typer.Exit(0 if res.ok else 1)


@model_app.command("attest")
def model_attest(
    path: Path = typer.Argument(..., help="The trained model (directory or file)."),
    key: str = typer.Option(..., "--key", help="EC private key (PEM) or pkcs11: URI."),
    builder: str = typer.Option(
        ..., "--builder", help="Builder id, e.g. https://ci.example/train."
    ),
    data: list[Path] = typer.Option([], "--data", help="Training data file or directory."),
    param: list[str] = typer.Option([], "--param", "-p", help="Hyperparameter KEY=VALUE."),
    commit: str | None = typer.Option(None, "--commit", help="Code commit (default: git HEAD)."),
    code_dir: Path | None = typer.Option(None, "--code-dir", help="Training code checkout."),
    entry_point: str | None = typer.Option(None, "--entry-point", help="Training script."),
    output: Path | None = typer.Option(None, "--out", help="Attestation file."),
    packages: bool = typer.Option(
        True, "--packages/--no-packages", help="Record installed packages."
    ),
    certificate: Path | None = typer.Option(
        None, "--certificate", help="Signing certificate (PEM), carried in the bundle."
    ),
    chain: list[Path] = typer.Option([], "--chain", help="Intermediate certificates (PEM)."),
    name: str | None = _NAME,
    format: Format = FormatOpt,
) -> None:
    """Sign SLSA provenance v1 for a training run, over the model's manifest digest."""
    from bastion.core.errors import InputError
    from bastion.integrity import record_attest_training

    hp: dict[str, str] = {}
    for p in param:
        k, sep, v = p.partition("=")
        if not sep or not k:
            raise InputError(f"--param {p!r}: expected KEY=VALUE")
        hp[k] = v
    with workspace() as ws:
        summary, ev = record_attest_training(
            ws,
            path,
            key,
            builder_id=builder,
            data=data,
            hyperparameters=hp,
            code_dir=code_dir,
            code_commit=commit,
            entry_point=entry_point,
            out=output,
            include_packages=packages,
            name=name,
            password=os.environ.get(PASSWORD_ENV),
            certificate=certificate,
            chain=chain,
            actor="cli",
        )
    d = summary | {"evidence": ev.id, "ledger_seq": ev.ledger_seq}
    if format is Format.JSON:
        print_json(d)
        return
    out.print(
        f"Attested {summary['subject']['name']} {summary['subject']['digest']} "
        f"(SLSA provenance v1) → {summary['attestation']}; evidence {ev.id} at ledger #{ev.ledger_seq}",
        highlight=False,
    )


@model_app.command("verify-attestation")
def model_verify_attestation(
    attestation: Path = typer.Argument(..., help="Attestation bundle."),
    model: Path | None = typer.Option(None, "--model", help="Require the model's current digest."),
    public_key: list[Path] = typer.Option([], "--public-key"),
    trust_root: list[Path] = typer.Option([], "--trust-root"),
    identity: list[str] = typer.Option([], "--identity"),
    predicate_type: str | None = typer.Option(None, "--type", help="Required predicate type."),
    name: str | None = _NAME,
    format: Format = FormatOpt,
) -> None:
    """Verify a signed attestation (provenance, scan verdict, AI-BOM). Exit 1 on failure."""
    from bastion.integrity import record_attestation_check

    with workspace() as ws:
        res, ev = record_attestation_check(
            ws,
            attestation,
            model=model,
            name=name,
            actor="cli",
            public_keys=public_key,
            trust_roots=trust_root,
            identities=identity,
            predicate_type=predicate_type,
        )
    d = res.to_dict() | {"evidence": ev.id, "ledger_seq": ev.ledger_seq}
    if format is Format.JSON:
        print_json(d)
    else:
        status = "[green]verified[/]" if res.ok else "[red]FAILED[/]"
        out.print(f"{attestation}: {status} {res.predicate_type}", highlight=False)
        for p in d["problems"]:
            out.print(f"  {p}", highlight=False, markup=False)
    raise typer.Exit(0 if res.ok else 1)


@pki_app.command("init")
def pki_init_cmd(
    organization: str = typer.Option("Bastion", "--organization"),
    format: Format = FormatOpt,
) -> None:
    """Create the root and intermediate CA under the Bastion home's keys (mode 0600)."""
    from bastion.integrity import record_pki_init

    with workspace() as ws:
        info = record_pki_init(ws, organization=organization, actor="cli")
    if format is Format.JSON:
        print_json(info.to_dict())
        return
    verb = "Created" if info.created else "Already present:"
    out.print(
        f"{verb} root CA {info.root.subject} and intermediate {info.intermediate.subject}\n"
        f"trust root: {info.directory / 'root.pem'}",
        highlight=False,
    )


@pki_app.command("issue")
def pki_issue_cmd(
    identity: str = typer.Option(..., "--identity", help="E-mail, URI or DNS-style name."),
    hours: float = typer.Option(8.0, "--hours", help="Validity in hours (short-lived)."),
    out_dir: Path = typer.Option(Path("."), "--out", help="Where to write key, cert and chain."),
    curve: str = typer.Option("P-256", "--curve", help="P-256 or P-384."),
    format: Format = FormatOpt,
) -> None:
    """Issue a short-lived codeSigning certificate; its key is written 0600."""
    from bastion.integrity import record_pki_issue

    with workspace() as ws:
        issued = record_pki_issue(
            ws, identity, hours=hours, out_dir=out_dir, curve=curve, actor="cli"
        )
    if format is Format.JSON:
        print_json(issued.to_dict())
        return
    d = issued.to_dict()
    out.print(
        f"Issued {d['serial']} to {identity}, valid until {d['not_after']}\n"
        f"key {d['key']}\ncertificate {d['certificate']}\nchain {d['chain']}",
        highlight=False,
    )


@pki_app.command("list")
def pki_list_cmd(format: Format = FormatOpt) -> None:
    """List the CA certificates and every certificate issued."""
    from bastion.integrity import list_certificates

    with workspace() as ws:
        certs = list_certificates(ws.settings.key_dir)
    if format is Format.JSON:
        print_json([c.to_dict() for c in certs])
        return
    print_table(
        "PKI",
        ["role", "serial", "identities", "not after", "subject"],
        [
            (
                c.role,
                c.serial,
                ", ".join(c.identities),
                c.not_after.isoformat(timespec="minutes"),
                c.subject,
            )
            for c in certs
        ],
    )
