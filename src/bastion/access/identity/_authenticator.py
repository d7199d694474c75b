"""The one :class:`~bastion.access.interface.Authenticator` the guard uses."""

from __future__ import annotations

from bastion.access.identity._config import IdentityConfig, load_identity_config
from bastion.access.identity._federation import FederatedVerifier
from bastion.access.identity._jwt import TokenService, unverified_issuer
from bastion.access.identity._mtls import MtlsVerifier
from bastion.access.identity._store import JtiStore
from bastion.access.interface import CredentialError, Identity, RequestCredentials
from bastion.core.workspace import Workspace

__all__ = ["BastionAuthenticator"]


class BastionAuthenticator:
    """Client certificate first, then a bearer token (Bastion's own, or a federated
    issuer's chosen by its ``iss``); :class:`CredentialError` otherwise.

    A presented certificate that does not verify is refused outright (no fallback to the
    bearer token: a bad certificate is a signal, not a miss). ``single_use`` makes every
    bearer token good for one request (its ``jti`` is consumed in the shared store)."""

    def __init__(
        self,
        ws: Workspace,
        *,
        audience: str,
        config: IdentityConfig | None = None,
        store: JtiStore | None = None,
        single_use: bool = False,
    ) -> None:
        self.config = config or load_identity_config(ws)
        self.audience = audience
        self.single_use = single_use
        self.tokens = TokenService(ws, config=self.config, store=store)
        self.mtls = MtlsVerifier(ws, config=self.config)
        self.federated = {f.issuer: FederatedVerifier(f) for f in self.config.federation}

    def authenticate(self, credentials: RequestCredentials) -> Identity:
        if credentials.client_cert_der is not None:
            return self.mtls.identity(credentials.client_cert_der, credentials.client_chain_der)
        token = credentials.bearer
        if token:
            iss = unverified_issuer(token)
            if iss == self.tokens.issuer:
                return self.tokens.verify(token, self.audience, single_use=self.single_use)
            fv = self.federated.get(iss)
            if fv is None:
                raise CredentialError("bearer token is from an untrusted issuer")
            claims = fv.decode(token)
            ident = fv.identity(claims)
            if ident.token_id is not None:
                exp = claims.get("exp")
                self.tokens.check_jti(
                    ident.token_id,
                    float(exp) if isinstance(exp, int) else 0.0,
                    single_use=self.single_use,
                )
            return ident
        raise CredentialError("no client certificate or bearer token presented")
