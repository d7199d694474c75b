"""Bastion-issued tokens: short-lived EdDSA (Ed25519) JWTs, and their verification.

Claims: ``iss`` (this Bastion), ``sub`` (the principal id, ``user:alice``,
``workload:scorer``, ``vendor:acme``), ``aud``, ``iat``/``nbf``/``exp``, ``jti`` (128 random
bits), ``kind``, ``roles``, ``attributes``, ``amr`` (RFC 8176 method references) and, after
a token exchange, ``act`` (RFC 8693 nested actors). The header carries ``kid``.

Verification pins the algorithm (EdDSA only: no ``none``, no HS*, no RS/ES so a public key
can never be used as an HMAC secret), refuses header parameters that name keys (``jku``,
``jwk``, ``x5u``, ``x5c``) or ``crit``, checks issuer, audience, ``exp``/``nbf``/``iat``
with a small leeway and a lifetime no longer than the configured maximum, then the ``jti``
cache: revoked ids always fail, and ``single_use`` refuses a second presentation. Tokens
are never logged or ledgered; their ``jti`` is.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from bastion.access.identity._config import IdentityConfig, load_identity_config
from bastion.access.identity._keys import SigningKeys
from bastion.access.identity._rows import RevokedJtiRow
from bastion.access.identity._store import MAX_JTI, JtiStore, open_jti_store
from bastion.access.interface import (
    AuthMethod,
    CredentialError,
    Delegation,
    Identity,
    IdentityKind,
)
from bastion.core.errors import ConflictError, InputError
from bastion.core.ledger import Event
from bastion.core.workspace import Workspace

__all__ = [
    "MAX_TOKEN_BYTES",
    "Attributes",
    "IssuedToken",
    "TokenService",
    "parse_principal",
    "unverified_issuer",
]

#: A token longer than this is refused before it is parsed.
MAX_TOKEN_BYTES = 8192
_PRINCIPAL = re.compile(r"^(user|workload|vendor):[A-Za-z0-9][A-Za-z0-9._@/+-]{0,199}$")
_ATTR_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")
_ROLE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
_AMR = re.compile(r"^[a-z0-9_-]{1,32}$")
_KEYED_HEADERS = frozenset({"jku", "jwk", "x5u", "x5c", "x5t", "x5t#S256", "crit"})
_MFA_AMR = frozenset({"mfa", "otp", "hwk", "sms", "swk"})
MAX_ACT_DEPTH = 10

Attributes = Mapping[str, str | int | bool | list[str]]


def parse_principal(principal: str) -> IdentityKind:
    """The kind a principal id names (``user:alice`` -> USER); refuses a malformed id."""
    if not _PRINCIPAL.match(principal):
        raise InputError(
            f"principal {principal[:80]!r}: expected user:NAME, workload:NAME or vendor:NAME "
            "(letters, digits and ._@/+- ; at most 200)"
        )
    return IdentityKind(principal.split(":", 1)[0])


def _check_attributes(attrs: Attributes) -> dict[str, str | int | bool | list[str]]:
    if len(attrs) > 32:
        raise InputError("at most 32 attributes")
    out: dict[str, str | int | bool | list[str]] = {}
    for k, v in attrs.items():
        if not _ATTR_KEY.match(k):
            raise InputError(f"attribute name {k[:40]!r} is not a simple name")
        if isinstance(v, bool | int) or (isinstance(v, str) and len(v) <= 256):
            out[k] = v
        elif (
            isinstance(v, list)
            and len(v) <= 32
            and all(isinstance(x, str) and len(x) <= 256 for x in v)
        ):
            out[k] = list(v)
        else:
            raise InputError(f"attribute {k}: a string, number, boolean or list of strings")
    return out


_SEGMENT = re.compile(r"[A-Za-z0-9_-]*")


def _segment(seg: str) -> dict[str, Any]:
    if not _SEGMENT.fullmatch(seg):
        raise CredentialError("token is not a well-formed JWT")
    try:
        doc = json.loads(base64.urlsafe_b64decode(seg + "=" * (-len(seg) % 4)))
    except ValueError:
        raise CredentialError("token is not a well-formed JWT") from None
    if not isinstance(doc, dict):
        raise CredentialError("token is not a well-formed JWT")
    return doc


def peek(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and claims of a compact JWS, read WITHOUT verification: only to choose a
    verifier and refuse bad headers early. (One C-speed pass; PyJWT's own parse validates
    base64 a character at a time in Python, so it runs once, for the verification.)"""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_BYTES:
        raise CredentialError("token is missing or too large")
    parts = token.split(".")
    if len(parts) != 3:
        raise CredentialError("token is not a well-formed JWT")
    return _segment(parts[0]), _segment(parts[1])


def unverified_issuer(token: str) -> str:
    """The ``iss`` claim of a token, read WITHOUT verification: only to choose a verifier."""
    iss = peek(token)[1].get("iss")
    if not isinstance(iss, str):
        raise CredentialError("token names no issuer")
    return iss


def verify_signed(
    token: str,
    key: Any,
    *,
    algorithms: Sequence[str],
    audience: str,
    issuer: str,
    leeway: float,
    require: Sequence[str],
) -> dict[str, Any]:
    """PyJWT's verification with its errors as one :class:`CredentialError` each (the
    reason for the audit log), for Bastion's own tokens and federated ones alike."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=list(algorithms),
            audience=audience,
            issuer=issuer,
            leeway=leeway,
            options={"require": list(require)},
        )
    except jwt.ExpiredSignatureError:
        raise CredentialError("token has expired") from None
    except jwt.ImmatureSignatureError:
        raise CredentialError("token is not valid yet") from None
    except jwt.InvalidAudienceError:
        raise CredentialError("token is for another audience") from None
    except jwt.InvalidIssuerError:
        raise CredentialError("token is from another issuer") from None
    except jwt.MissingRequiredClaimError as exc:
        raise CredentialError(f"token lacks the {exc.claim} claim") from None
    except jwt.InvalidSignatureError:
        raise CredentialError("token signature does not verify") from None
    except jwt.PyJWTError as exc:
        raise CredentialError(f"token does not verify ({type(exc).__name__})") from None
    return claims


def _actors(act: object, depth: int = 0) -> tuple[Delegation, ...]:
    if act is None:
        return ()
    if depth >= MAX_ACT_DEPTH or not isinstance(act, dict):
        raise CredentialError("token's act claim is malformed or too deep")
    sub = act.get("sub")
    iss = act.get("iss")
    if not isinstance(sub, str) or (iss is not None and not isinstance(iss, str)):
        raise CredentialError("token's act claim is malformed")
    return (Delegation(sub, iss), *_actors(act.get("act"), depth + 1))


def act_claim(actors: Sequence[Delegation]) -> dict[str, Any] | None:
    """The RFC 8693 ``act`` nesting of a chain, outermost (current) actor first."""
    claim: dict[str, Any] | None = None
    for d in reversed(actors):
        node: dict[str, Any] = {"sub": d.subject}
        if d.issuer:
            node["iss"] = d.issuer
        if claim is not None:
            node["act"] = claim
        claim = node
    return claim


@dataclass(frozen=True)
class IssuedToken:
    """A token as issued: the only time the token itself is at hand."""

    token: str
    jti: str
    kid: str
    subject: str
    audience: str
    issued_at: datetime
    expires_at: datetime
    claims: Mapping[str, Any]

    @property
    def expires_in(self) -> int:
        return max(0, int((self.expires_at - datetime.now(UTC)).total_seconds()))

    def to_dict(self, *, with_token: bool = True) -> dict[str, Any]:
        d: dict[str, Any] = {
            "jti": self.jti,
            "kid": self.kid,
            "subject": self.subject,
            "audience": self.audience,
            "issued_at": self.issued_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
            "claims": dict(self.claims),
        }
        if with_token:
            d["token"] = self.token
        return d


def identity_to_dict(i: Identity) -> dict[str, Any]:
    """An identity as JSON (for the CLI and API)."""
    return {
        "id": i.id,
        "kind": i.kind.value,
        "method": i.method.value,
        "issuer": i.issuer,
        "roles": sorted(i.roles),
        "attributes": dict(i.attributes),
        "spiffe_id": i.spiffe_id,
        "actors": [{"subject": a.subject, "issuer": a.issuer} for a in i.actors],
        "expires_at": i.expires_at.isoformat() if i.expires_at else None,
        "token_id": i.token_id,
        "mfa": i.mfa,
    }


class TokenService:
    """Issues, verifies and revokes Bastion's tokens for one workspace.

    Public keys are cached in memory and re-read when a token names an unknown ``kid`` (at
    most once a second), so verification touches no file on the hot path."""

    def __init__(
        self,
        ws: Workspace,
        *,
        config: IdentityConfig | None = None,
        store: JtiStore | None = None,
    ) -> None:
        self.ws = ws
        self.config = config or load_identity_config(ws)
        self.keys = SigningKeys(ws.settings.key_dir)
        self.store = store or open_jti_store(ws)
        self._pub: dict[str, Ed25519PublicKey] = {}
        self._pub_loaded = 0.0
        self._lock = threading.Lock()

    @property
    def issuer(self) -> str:
        return self.config.issuer

    # -- issuing ---------------------------------------------------------------------------
    def issue(
        self,
        subject: str,
        *,
        audience: str,
        ttl_minutes: float | None = None,
        roles: Sequence[str] = (),
        attributes: Attributes | None = None,
        amr: Sequence[str] = (),
        actors: Sequence[Delegation] = (),
        not_after: datetime | None = None,
        actor: str = "system",
        event_kind: str = "identity.token_issued",
        event_extra: Mapping[str, Any] | None = None,
    ) -> IssuedToken:
        """Sign a token for ``subject``; refuses a lifetime over ``max_ttl_minutes``.
        ``not_after`` caps the expiry (a token exchange never outlives its subject token)."""
        kind = parse_principal(subject)
        ttl = self.config.default_ttl_minutes if ttl_minutes is None else ttl_minutes
        if not 0 < ttl <= self.config.max_ttl_minutes:
            raise InputError(
                f"token lifetime must be in (0, {self.config.max_ttl_minutes}] minutes "
                f"(max_ttl_minutes), got {ttl}"
            )
        if not audience or len(audience) > 500:
            raise InputError("audience must be 1-500 characters")
        for r in roles:
            if not _ROLE.match(r):
                raise InputError(f"role {r[:40]!r} is not a simple name")
        for m in amr:
            if not _AMR.match(m):
                raise InputError(f"amr value {m[:40]!r} is not an RFC 8176 method reference")
        attrs = _check_attributes(attributes or {})
        now = datetime.now(UTC).replace(microsecond=0)
        exp = now + timedelta(minutes=ttl)
        if not_after is not None and not_after < exp:
            exp = not_after.astimezone(UTC).replace(microsecond=0)
        if exp <= now:
            raise InputError("the token would already be expired")
        jti = secrets.token_urlsafe(16)
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": subject,
            "aud": audience,
            "iat": int(now.timestamp()),
            "nbf": int(now.timestamp()),
            "exp": int(exp.timestamp()),
            "jti": jti,
            "kind": kind.value,
        }
        if roles:
            claims["roles"] = sorted(set(roles))
        if attrs:
            claims["attributes"] = attrs
        if amr:
            claims["amr"] = sorted(set(amr))
        act = act_claim(actors)
        if act is not None:
            claims["act"] = act
        kid, key = self.keys.active()
        token = jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": kid, "typ": "JWT"})
        public = {k: v for k, v in claims.items() if k != "attributes"}
        self.ws.ledger.append(
            [Event(event_kind, {"kid": kid, **public, **(event_extra or {})}, actor)]
        )
        return IssuedToken(token, jti, kid, subject, audience, now, exp, claims)

    # -- verifying -------------------------------------------------------------------------
    def _key(self, kid: str) -> Ed25519PublicKey:
        key = self._pub.get(kid)
        if key is not None:
            return key
        with self._lock:
            if time.monotonic() - self._pub_loaded >= 1.0 or not self._pub:
                self._pub = self.keys.public_keys()
                self._pub_loaded = time.monotonic()
            key = self._pub.get(kid)
        if key is None:
            raise CredentialError("token is signed by an unknown or retired key")
        return key

    def decode(self, token: str, audience: str) -> dict[str, Any]:
        """The verified claims of a Bastion-issued token (signature, issuer, audience, time,
        lifetime); the jti cache is not consulted here."""
        header = peek(token)[0]
        if header.get("alg") != "EdDSA":
            raise CredentialError(f"token algorithm {str(header.get('alg'))[:20]!r} is not EdDSA")
        if _KEYED_HEADERS & header.keys():
            raise CredentialError("token header names its own key or critical extensions")
        if header.get("typ") not in (None, "JWT", "at+jwt"):
            raise CredentialError("token type is not JWT")
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise CredentialError("token names no key (kid)")
        leeway = self.config.leeway_seconds
        claims = verify_signed(
            token,
            self._key(kid),
            algorithms=["EdDSA"],
            audience=audience,
            issuer=self.issuer,
            leeway=leeway,
            require=["exp", "iat", "nbf", "iss", "aud", "sub", "jti"],
        )
        iat, exp = claims["iat"], claims["exp"]
        if not isinstance(iat, int) or not isinstance(exp, int):
            raise CredentialError("token times are not integers")
        if iat > time.time() + leeway:
            raise CredentialError("token was issued in the future")
        if exp - iat > self.config.max_ttl_minutes * 60 + leeway:
            raise CredentialError("token lifetime exceeds the configured maximum")
        jti = claims["jti"]
        if not isinstance(jti, str) or not 0 < len(jti) <= MAX_JTI:
            raise CredentialError("token id (jti) is malformed")
        return claims

    def check_jti(self, jti: str, exp: float, *, single_use: bool) -> None:
        if self.store.is_revoked(jti):
            raise CredentialError("token has been revoked")
        if single_use and not self.store.consume(jti, exp):
            raise CredentialError("token has already been used (replay)")

    def verify(self, token: str, audience: str, *, single_use: bool = False) -> Identity:
        """A verified :class:`Identity` (method BEARER), or :class:`CredentialError`."""
        claims = self.decode(token, audience)
        self.check_jti(claims["jti"], float(claims["exp"]), single_use=single_use)
        return claims_identity(claims, AuthMethod.BEARER)

    # -- revoking and keys -----------------------------------------------------------------
    def revoke(
        self,
        jti: str,
        *,
        expires_at: datetime | None = None,
        reason: str = "unspecified",
        actor: str = "system",
    ) -> None:
        """Revoke a token id everywhere (database and the shared store). Without its expiry,
        it stays revoked for the longest lifetime a token may have."""
        if not jti or len(jti) > MAX_JTI:
            raise InputError("jti must be 1-128 characters")
        now = datetime.now(UTC)
        until = expires_at or now + timedelta(
            minutes=self.config.max_ttl_minutes, seconds=self.config.leeway_seconds
        )
        row = RevokedJtiRow(
            jti=jti, expires_at=until, revoked_at=now, reason=reason[:200], actor=actor[:200]
        )
        with self.ws.db.session() as s:
            if s.get(RevokedJtiRow, jti) is not None:
                raise ConflictError(f"token {jti} is already revoked")
            s.add(row)
            s.flush()
            self.ws.ledger.append(
                [
                    Event(
                        "identity.token_revoked",
                        {"jti": jti, "until": until.isoformat(), "reason": reason[:200]},
                        actor,
                    )
                ],
                session=s,
            )
        self.store.revoke(jti, until.timestamp())

    def rotate_key(self, *, actor: str = "system") -> tuple[str, str | None]:
        keep = timedelta(minutes=self.config.max_ttl_minutes, seconds=self.config.leeway_seconds)
        new, old = self.keys.rotate(keep_for=keep)
        with self._lock:
            self._pub = {}
        self.ws.ledger.append(
            [
                Event(
                    "identity.key_rotated",
                    {
                        "kid": new,
                        "previous": old,
                        "previous_verifies_for_s": int(keep.total_seconds()),
                    },
                    actor,
                )
            ]
        )
        return new, old

    def jwks(self) -> dict[str, Any]:
        return self.keys.jwks()


def claims_identity(claims: Mapping[str, Any], method: AuthMethod) -> Identity:
    """The identity a verified Bastion token's claims describe."""
    sub = claims["sub"]
    if not isinstance(sub, str):
        raise CredentialError("token subject is malformed")
    try:
        kind = parse_principal(sub)
    except InputError:
        raise CredentialError("token subject is not a principal id") from None
    roles = claims.get("roles", [])
    amr = claims.get("amr", [])
    attrs = claims.get("attributes", {})
    if (
        not isinstance(roles, list)
        or not all(isinstance(r, str) for r in roles)
        or not isinstance(amr, list)
        or not isinstance(attrs, dict)
    ):
        raise CredentialError("token roles, amr or attributes are malformed")
    try:
        attributes = _check_attributes(attrs)
    except InputError:
        raise CredentialError("token attributes are malformed") from None
    return Identity(
        id=sub,
        kind=kind,
        method=method,
        issuer=str(claims["iss"]),
        roles=frozenset(roles),
        attributes=attributes,
        actors=_actors(claims.get("act")),
        expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC),
        token_id=str(claims["jti"]),
        mfa=bool(_MFA_AMR & set(amr)),
    )
