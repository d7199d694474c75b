"""The access room's identity side: who is calling, proven by a credential.

- Bastion-issued short-lived EdDSA JWTs (:class:`TokenService`), with a ``jti`` cache
  for replay and revocation (in process, or Redis when ``BASTION_REDIS_URL`` is set) and a
  JWKS of the public keys; key rotation keeps the old public key until its tokens expire.
- OAuth 2.0 Token Exchange, RFC 8693 (:func:`exchange_token`), ``act`` chains validated.
- Federation: tokens of external OIDC issuers by their JWKS (:class:`FederatedVerifier`).
- SPIFFE IDs (:func:`parse_spiffe_id`) and X.509-SVIDs from the workspace CA: short-lived
  mTLS certificates, their CRL, rotation, and :func:`identity_from_certificate`.
- :class:`BastionAuthenticator`, the :class:`~bastion.access.interface.Authenticator` the
  guard calls.

Configuration: ``<home>/identity.yaml`` (:class:`IdentityConfig`). Everything issued,
exchanged, revoked or rotated is a ledger event; tokens and keys never are.
"""

from bastion.access.identity._authenticator import BastionAuthenticator
from bastion.access.identity._config import (
    CONFIG_FILE,
    DelegationConfig,
    DelegationRule,
    FederatedIssuerConfig,
    IdentityConfig,
    load_identity_config,
)
from bastion.access.identity._exchange import (
    ACCESS_TOKEN_TYPE,
    GRANT_TYPE,
    JWT_TOKEN_TYPE,
    ExchangeResult,
    TokenExchangeError,
    exchange_token,
)
from bastion.access.identity._federation import FederatedVerifier
from bastion.access.identity._jwt import (
    MAX_TOKEN_BYTES,
    IssuedToken,
    TokenService,
    act_claim,
    identity_to_dict,
    parse_principal,
)
from bastion.access.identity._keys import SigningKeys, jwk_thumbprint
from bastion.access.identity._mtls import (
    MAX_MTLS_HOURS,
    MtlsCertificate,
    MtlsVerifier,
    identity_from_certificate,
    issue_mtls_certificate,
    list_mtls_certificates,
    publish_crl,
    revoke_certificate,
    rotate_certificates,
)
from bastion.access.identity._spiffe import SpiffeId, parse_spiffe_id, spiffe_id_from_certificate
from bastion.access.identity._store import (
    JtiStore,
    MemoryJtiStore,
    RedisJtiStore,
    open_jti_store,
)

__all__ = [
    "ACCESS_TOKEN_TYPE",
    "CONFIG_FILE",
    "GRANT_TYPE",
    "JWT_TOKEN_TYPE",
    "MAX_MTLS_HOURS",
    "MAX_TOKEN_BYTES",
    "BastionAuthenticator",
    "DelegationConfig",
    "DelegationRule",
    "ExchangeResult",
    "FederatedIssuerConfig",
    "FederatedVerifier",
    "IdentityConfig",
    "IssuedToken",
    "JtiStore",
    "MemoryJtiStore",
    "MtlsCertificate",
    "MtlsVerifier",
    "RedisJtiStore",
    "SigningKeys",
    "SpiffeId",
    "TokenExchangeError",
    "TokenService",
    "act_claim",
    "exchange_token",
    "identity_from_certificate",
    "identity_to_dict",
    "issue_mtls_certificate",
    "jwk_thumbprint",
    "list_mtls_certificates",
    "load_identity_config",
    "open_jti_store",
    "parse_principal",
    "parse_spiffe_id",
    "publish_crl",
    "revoke_certificate",
    "rotate_certificates",
    "spiffe_id_from_certificate",
]
