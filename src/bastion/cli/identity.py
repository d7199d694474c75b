"""`bastion identity issue|exchange|verify|jwks|revoke|rotate-key`: Bastion-issued tokens.

A token argument may be ``-`` to read it from stdin (keeps it out of the process list).
"""

from __future__ import annotations

import sys

import typer

from bastion.cli._common import Format, FormatOpt, out, print_json, print_table, workspace

__all__ = ["app"]

app = typer.Typer(
    help="Identities: short-lived EdDSA tokens, RFC 8693 token exchange, the JWKS.",
    no_args_is_help=True,
)

_TOKEN_MAX = 8192
_JSON = typer.Option(False, "--json", help="Same as --format json.")


def _token(value: str) -> str:
    from bastion.core.errors import InputError

    if value == "-":
        value = sys.stdin.read(_TOKEN_MAX + 2).strip()
    if not value or len(value) > _TOKEN_MAX:
        raise InputError(f"a token must be 1-{_TOKEN_MAX} characters")
    return value


def _attrs(pairs: list[str]) -> dict[str, str | int | bool | list[str]]:
    from bastion.core.errors import InputError

    out_: dict[str, str | int | bool | list[str]] = {}
    for p in pairs:
        k, sep, v = p.partition("=")
        if not sep:
            raise InputError(f"--attr {p[:40]!r}: expected NAME=VALUE")
        out_[k] = v
    return out_


@app.command("issue")
def issue_cmd(
    subject: str = typer.Option(..., "--subject", help="user:NAME, workload:NAME or vendor:NAME."),
    audience: str = typer.Option(..., "--audience", help="Who the token is for."),
    ttl: float | None = typer.Option(None, "--ttl", help="Minutes (at most max_ttl_minutes)."),
    role: list[str] = typer.Option([], "--role", help="A role claim (repeatable)."),
    attr: list[str] = typer.Option([], "--attr", help="An attribute NAME=VALUE (repeatable)."),
    amr: list[str] = typer.Option([], "--amr", help="An RFC 8176 method, e.g. mfa (repeatable)."),
    format: Format = FormatOpt,
    as_json: bool = _JSON,
) -> None:
    """Issue a short-lived token; prints the token (JSON: the token and its claims)."""
    from bastion.access.identity import TokenService

    with workspace() as ws:
        issued = TokenService(ws).issue(
            subject,
            audience=audience,
            ttl_minutes=ttl,
            roles=role,
            attributes=_attrs(attr),
            amr=amr,
            actor="cli",
        )
    if as_json or format is Format.JSON:
        print_json(issued.to_dict())
        return
    sys.stdout.write(issued.token + "\n")


@app.command("exchange")
def exchange_cmd(
    subject_token: str = typer.Option(..., "--subject-token", help="The token, or - for stdin."),
    audience: str = typer.Option(..., "--audience", help="Audience of the new token."),
    actor_token: str | None = typer.Option(None, "--actor-token", help="The actor's token."),
    scope: list[str] = typer.Option([], "--scope", help="Narrow to these roles (repeatable)."),
    ttl: float | None = typer.Option(None, "--ttl", help="Minutes (never past the subject's)."),
    format: Format = FormatOpt,
    as_json: bool = _JSON,
) -> None:
    """RFC 8693 token exchange; prints the new token (JSON: the RFC 8693 response)."""
    from bastion.access.identity import JWT_TOKEN_TYPE, TokenService, exchange_token

    sub = _token(subject_token)
    act = _token(actor_token) if actor_token is not None else None
    with workspace() as ws:
        res = exchange_token(
            TokenService(ws),
            subject_token=sub,
            subject_token_type=JWT_TOKEN_TYPE,
            actor_token=act,
            actor_token_type=JWT_TOKEN_TYPE if act else None,
            audience=audience,
            scope=scope or None,
            ttl_minutes=ttl,
            actor="cli",
        )
    if as_json or format is Format.JSON:
        print_json(res.response())
        return
    sys.stdout.write(res.issued.token + "\n")


@app.command("verify")
def verify_cmd(
    token: str = typer.Argument(..., help="The token, or - for stdin."),
    audience: str = typer.Option(..., "--audience", help="The audience it must be for."),
    format: Format = FormatOpt,
    as_json: bool = _JSON,
) -> None:
    """Verify a Bastion-issued or federated token; prints the identity it proves."""
    from bastion.access.identity import BastionAuthenticator, identity_to_dict
    from bastion.access.interface import RequestCredentials

    value = _token(token)
    with workspace() as ws:
        ident = BastionAuthenticator(ws, audience=audience).authenticate(
            RequestCredentials(bearer=value)
        )
    d = identity_to_dict(ident)
    if as_json or format is Format.JSON:
        print_json(d)
        return
    print_table(
        "Identity", ["field", "value"], [(k, v) for k, v in d.items() if v not in (None, [], {})]
    )


@app.command("jwks")
def jwks_cmd() -> None:
    """Print the JWK Set of the public keys that verify Bastion's tokens."""
    from bastion.access.identity import TokenService

    with workspace() as ws:
        print_json(TokenService(ws).jwks())


@app.command("revoke")
def revoke_cmd(
    jti: str = typer.Argument(..., help="The token id (jti) to revoke."),
    reason: str = typer.Option("unspecified", "--reason"),
    format: Format = FormatOpt,
    as_json: bool = _JSON,
) -> None:
    """Revoke a token id (shared through Redis when BASTION_REDIS_URL is set)."""
    from bastion.access.identity import TokenService

    with workspace() as ws:
        TokenService(ws).revoke(jti, reason=reason, actor="cli")
    if as_json or format is Format.JSON:
        print_json({"jti": jti, "revoked": True})
        return
    out.print(f"Revoked {jti}", highlight=False)


@app.command("rotate-key")
def rotate_key_cmd(format: Format = FormatOpt, as_json: bool = _JSON) -> None:
    """Make a new signing key; the old one keeps verifying until its tokens expire."""
    from bastion.access.identity import TokenService

    with workspace() as ws:
        new, old = TokenService(ws).rotate_key(actor="cli")
    if as_json or format is Format.JSON:
        print_json({"kid": new, "previous": old})
        return
    out.print(
        f"New signing key {new}"
        + (f" (previous {old} verifies until its tokens expire)" if old else ""),
        highlight=False,
    )
