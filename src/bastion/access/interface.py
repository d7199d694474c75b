"""The access room's contract for the rooms that enforce it (the guard, the API, the registry).

Data types and protocols only; no implementation is imported here. The identity side
(``bastion.access.identity``: Bastion-issued EdDSA JWTs, RFC 8693 token exchange, OIDC
federation by JWKS, SPIFFE X.509 SVIDs, the internal CA) produces an :class:`Identity`;
the authorization side (``bastion.access.policy``: Cedar policies, obligations, JIT
grants) turns an identity, an :class:`Action` and a :class:`ResourceRef` into a
:class:`Decision`. The guard calls both through :class:`Authenticator` and
:class:`Authorizer`, so either can be swapped (or run in-process in tests) without the
guard importing an implementation.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from bastion.core.errors import AuthError, InputError

__all__ = [
    "Action",
    "AuthMethod",
    "Authenticator",
    "Authorizer",
    "CredentialError",
    "Decision",
    "Delegation",
    "Identity",
    "IdentityKind",
    "LogLevel",
    "Obligations",
    "PolicyError",
    "RequestCredentials",
    "ResourceKind",
    "ResourceRef",
]


class CredentialError(AuthError):
    """A credential is missing, malformed, expired, revoked, replayed or from an untrusted issuer.

    The message names the reason for the audit log; the enforcing edge answers 401 with one
    generic text so nothing about the credential leaks to the caller.
    """


class PolicyError(InputError):
    """A policy set does not parse or validate; the previously loaded set stays active."""


class IdentityKind(enum.StrEnum):
    USER = "user"
    WORKLOAD = "workload"  # a service: training job, inference server, pipeline
    VENDOR = "vendor"  # a third party, usually on a just-in-time grant


class AuthMethod(enum.StrEnum):
    BEARER = "bearer"  # a Bastion-issued JWT
    FEDERATED = "federated"  # a JWT from a configured external OIDC issuer
    API_TOKEN = "api_token"  # a bst_ token (access to Bastion itself)
    MTLS = "mtls"  # a client certificate (SPIFFE X.509 SVID or internal-CA cert)
    SESSION = "session"  # a console session
    ANONYMOUS = "anonymous"  # nothing presented; every policy denies it unless it says otherwise


@dataclass(frozen=True, slots=True)
class Delegation:
    """One hop of an RFC 8693 ``act`` chain: who acts on behalf of the subject."""

    subject: str
    issuer: str | None = None


@dataclass(frozen=True, slots=True)
class Identity:
    """Who is calling, as established by a verified credential. Never built from unverified input."""

    id: str  # stable principal id, e.g. "user:alice", "workload:scorer", "vendor:acme"
    kind: IdentityKind
    method: AuthMethod
    issuer: str | None = None
    roles: frozenset[str] = frozenset()
    attributes: Mapping[str, str | int | bool | list[str]] = field(default_factory=dict)
    spiffe_id: str | None = None
    #: delegation chain, outermost actor first (RFC 8693 ``act`` nesting, flattened)
    actors: tuple[Delegation, ...] = ()
    expires_at: datetime | None = None
    token_id: str | None = None  # jti or certificate serial, for revocation and audit
    mfa: bool = False  # the credential proves a second factor (amr contains "mfa"/"otp")


@dataclass(frozen=True, slots=True)
class RequestCredentials:
    """What a request presented, before verification (the guard fills it from the transport)."""

    bearer: str | None = None
    client_cert_der: bytes | None = None  # the leaf, as the TLS layer verified it
    client_chain_der: tuple[bytes, ...] = ()
    session: str | None = None
    remote_addr: str | None = None


class Action(enum.StrEnum):
    INVOKE = "invoke"
    EXPLAIN = "explain"
    DOWNLOAD_WEIGHTS = "download-weights"
    READ_CONFIG = "read-config"
    READ_LOGS = "read-logs"
    EXPORT = "export"
    ADMINISTER = "administer"


class ResourceKind(enum.StrEnum):
    ENDPOINT = "endpoint"
    MODEL_VERSION = "model_version"
    DATASET = "dataset"


@dataclass(frozen=True, slots=True)
class ResourceRef:
    kind: ResourceKind
    id: str
    #: classification, owner, tier, ... from the inventory
    attributes: Mapping[str, str | int | bool | list[str]] = field(default_factory=dict)


class LogLevel(enum.StrEnum):
    MINIMAL = "minimal"  # metadata only
    STANDARD = "standard"  # metadata, input hash, output
    FULL = "full"  # inputs too (masked by the input policy)


@dataclass(frozen=True, slots=True)
class Obligations:
    """What the enforcing edge must do with an allowed request."""

    redact_fields: frozenset[str] = frozenset()
    coarsen_scores: bool = False  # return labels, not probabilities
    rate_class: str = "default"
    log_level: LogLevel = LogLevel.STANDARD
    require_mfa: bool = False  # step-up: allowed only if the identity carries mfa


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    #: policy ids that determined the outcome, and human-readable reasons
    policies: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()
    obligations: Obligations = Obligations()
    #: a just-in-time grant that allowed it, if any
    grant_id: str | None = None


@runtime_checkable
class Authenticator(Protocol):
    def authenticate(self, credentials: RequestCredentials) -> Identity:
        """Verify what was presented; raise :class:`CredentialError` when it does not verify."""
        ...


@runtime_checkable
class Authorizer(Protocol):
    def decide(
        self,
        identity: Identity,
        action: Action,
        resource: ResourceRef,
        context: Mapping[str, object] | None = None,
    ) -> Decision:
        """Deny by default: any error inside the engine is a denial with its reason."""
        ...
