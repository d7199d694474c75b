"""OAuth 2.0 Token Exchange (RFC 8693): a subject token (and an actor token) in, a new
short-lived Bastion token out, its ``act`` claim nesting the delegation chain.

The subject token is a Bastion token whose audience is this Bastion (its issuer URL, the
token service's own identifier) or a token of a configured federated issuer; the actor
token is a Bastion token for the same audience. The chain is checked before anything is
issued: at most ``delegation.max_depth`` actors, every actor allowed by a configured rule to
act for the subject (deny by default), no actor twice and none the subject itself (no
cycles), an actor token that is not itself delegated. The new token never outlives the
subject token (nor the actor token), and ``scope`` may only narrow the subject's roles.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bastion.access.identity._federation import FederatedVerifier
from bastion.access.identity._jwt import IssuedToken, TokenService, unverified_issuer
from bastion.access.interface import CredentialError, Delegation, Identity
from bastion.core.errors import InputError
from bastion.core.ledger import Event

__all__ = [
    "ACCESS_TOKEN_TYPE",
    "GRANT_TYPE",
    "JWT_TOKEN_TYPE",
    "ExchangeResult",
    "TokenExchangeError",
    "exchange_token",
]

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
_INPUT_TYPES = frozenset({JWT_TOKEN_TYPE, ACCESS_TOKEN_TYPE})


class TokenExchangeError(InputError):
    """A token exchange refused; ``error`` is the RFC 6749 / RFC 8693 error code."""

    def __init__(self, error: str, message: str, public: str | None = None) -> None:
        super().__init__(message)
        self.error = error
        #: what the wire may say (a credential's failure reason stays in the ledger)
        self.public = public or message


@dataclass(frozen=True)
class ExchangeResult:
    issued: IssuedToken
    subject: Identity
    actors: tuple[Delegation, ...]
    #: the requested type (access_token by default; the token is a JWT either way)
    issued_token_type: str = ACCESS_TOKEN_TYPE

    def response(self) -> dict[str, Any]:
        """The RFC 8693 section 2.2.1 response."""
        return {
            "access_token": self.issued.token,
            "issued_token_type": self.issued_token_type,
            "token_type": "Bearer",
            "expires_in": self.issued.expires_in,
            **(
                {"scope": " ".join(self.issued.claims["roles"])}
                if "roles" in self.issued.claims
                else {}
            ),
        }


def _verify_any(
    svc: TokenService, federated: dict[str, FederatedVerifier], token: str, what: str
) -> Identity:
    try:
        iss = unverified_issuer(token)
        if iss == svc.issuer:
            return svc.verify(token, svc.issuer)
        fv = federated.get(iss)
        if fv is None:
            raise CredentialError("token is from an untrusted issuer")
        ident = fv.identity(fv.decode(token))
        if ident.token_id:
            svc.check_jti(ident.token_id, 0, single_use=False)
        return ident
    except CredentialError as exc:
        raise TokenExchangeError(
            "invalid_request", f"{what} does not verify: {exc.message}", f"{what} does not verify"
        ) from None


def exchange_token(
    svc: TokenService,
    *,
    subject_token: str,
    subject_token_type: str,
    audience: str,
    actor_token: str | None = None,
    actor_token_type: str | None = None,
    requested_token_type: str | None = None,
    scope: Sequence[str] | None = None,
    ttl_minutes: float | None = None,
    federated: dict[str, FederatedVerifier] | None = None,
    actor: str = "system",
) -> ExchangeResult:
    """Exchange per RFC 8693 ; a refusal is a ledger
    event (``identity.exchange_refused``, with its reason, never a token) and raises
    :class:`TokenExchangeError` with its error code."""
    try:
        return _exchange(
            svc,
            subject_token=subject_token,
            subject_token_type=subject_token_type,
            audience=audience,
            actor_token=actor_token,
            actor_token_type=actor_token_type,
            requested_token_type=requested_token_type,
            scope=scope,
            ttl_minutes=ttl_minutes,
            federated=federated,
            actor=actor,
        )
    except TokenExchangeError as exc:
        svc.ws.ledger.append(
            [
                Event(
                    "identity.exchange_refused",
                    {
                        "error": exc.error,
                        "reason": exc.message[:500],
                        "audience": audience[:500],
                    },
                    actor,
                )
            ]
        )
        raise


def _exchange(
    svc: TokenService,
    *,
    subject_token: str,
    subject_token_type: str,
    audience: str,
    actor_token: str | None = None,
    actor_token_type: str | None = None,
    requested_token_type: str | None = None,
    scope: Sequence[str] | None = None,
    ttl_minutes: float | None = None,
    federated: dict[str, FederatedVerifier] | None = None,
    actor: str = "system",
) -> ExchangeResult:
    if subject_token_type not in _INPUT_TYPES:
        raise TokenExchangeError(
            "invalid_request", "subject_token_type must be jwt or access_token"
        )
    if actor_token is not None and actor_token_type not in _INPUT_TYPES:
        raise TokenExchangeError("invalid_request", "actor_token_type must be jwt or access_token")
    if actor_token is None and actor_token_type is not None:
        raise TokenExchangeError("invalid_request", "actor_token_type without actor_token")
    if requested_token_type not in (None, ACCESS_TOKEN_TYPE, JWT_TOKEN_TYPE):
        raise TokenExchangeError(
            "invalid_request", "requested_token_type must be access_token or jwt"
        )
    if not audience or len(audience) > 500:
        raise TokenExchangeError("invalid_target", "audience must be 1-500 characters")
    feds = (
        federated
        if federated is not None
        else {f.issuer: FederatedVerifier(f) for f in svc.config.federation}
    )
    subject = _verify_any(svc, feds, subject_token, "subject_token")
    chain: tuple[Delegation, ...] = subject.actors
    not_after: datetime | None = subject.expires_at
    if actor_token is not None:
        act = _verify_any(svc, feds, actor_token, "actor_token")
        if act.actors:
            raise TokenExchangeError(
                "invalid_request", "actor_token is itself delegated; an actor acts for itself"
            )
        chain = (Delegation(act.id, act.issuer), *chain)
        if act.expires_at is not None and (not_after is None or act.expires_at < not_after):
            not_after = act.expires_at
    rules = svc.config.delegation
    if len(chain) > rules.max_depth:
        raise TokenExchangeError(
            "invalid_request",
            f"delegation chain of {len(chain)} exceeds max_depth {rules.max_depth}",
        )
    ids = [d.subject for d in chain]
    if subject.id in ids or len(set(ids)) != len(ids):
        raise TokenExchangeError("invalid_request", "delegation chain has a cycle")
    for d in chain:
        if not rules.allows(d.subject, subject.id):
            raise TokenExchangeError(
                "invalid_request", f"{d.subject} is not allowed to act for {subject.id}"
            )
    roles = sorted(subject.roles)
    if scope is not None:
        extra = set(scope) - subject.roles
        if extra:
            raise TokenExchangeError(
                "invalid_scope", f"scope asks for roles the subject lacks: {sorted(extra)}"
            )
        roles = sorted(set(scope))
    try:
        issued = svc.issue(
            subject.id,
            audience=audience,
            ttl_minutes=ttl_minutes,
            roles=roles,
            attributes=dict(subject.attributes) if subject.issuer == svc.issuer else None,
            amr=["mfa"] if subject.mfa else (),
            actors=chain,
            not_after=not_after,
            actor=actor,
            event_kind="identity.token_exchanged",
            event_extra={
                "subject_jti": subject.token_id,
                "subject_issuer": subject.issuer,
                "actors": ids,
            },
        )
    except InputError as exc:
        raise TokenExchangeError("invalid_request", exc.message) from None
    return ExchangeResult(issued, subject, chain, requested_token_type or ACCESS_TOKEN_TYPE)
