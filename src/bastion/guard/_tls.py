"""mTLS identity for ASGI apps under uvicorn, and serving the guard.

uvicorn verifies client certificates (``ssl_cert_reqs``, ``ssl_ca_certs``) but does not
pass the verified certificate to the application. :class:`TlsHttpProtocol` is uvicorn's
own HTTP protocol with one addition: on each TLS connection it reads the peer certificate
the handshake verified and puts it into every request's scope as the ASGI TLS extension
(``scope["extensions"]["tls"]``: ``client_cert_chain`` as PEM, leaf first,
``client_cert_name`` as the RFC 4514 subject, ``client_cert_error``, ``tls_version``,
``cipher_suite``), so the guard fills ``RequestCredentials.client_cert_der``.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from uvicorn.protocols.http.auto import AutoHTTPProtocol

__all__ = ["TlsHttpProtocol", "serve", "tls_extension"]

_VERSIONS = {"TLSv1.2": 0x0303, "TLSv1.3": 0x0304}


def tls_extension(ssl_object: ssl.SSLObject | ssl.SSLSocket | None) -> dict[str, Any] | None:
    """The ASGI TLS extension for a connection (None when it is not TLS)."""
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    chain: list[str] = []
    name: str | None = None
    if der:
        chain = [ssl.DER_cert_to_PEM_cert(der)]
        from cryptography import x509

        name = x509.load_der_x509_certificate(der).subject.rfc4514_string()
    cipher = ssl_object.cipher()
    return {
        "server_cert": None,
        "client_cert_chain": chain,
        "client_cert_name": name,
        "client_cert_error": None,  # the handshake refuses unverified certificates outright
        "tls_version": _VERSIONS.get(ssl_object.version() or ""),
        "cipher_suite": None if cipher is None else cipher[0],
    }


App = Callable[[MutableMapping[str, Any], Any, Any], Awaitable[None]]


class TlsHttpProtocol(AutoHTTPProtocol):  # type: ignore[misc,valid-type]
    app: Any

    def connection_made(self, transport: asyncio.Transport) -> None:
        super().connection_made(transport)
        ext = tls_extension(transport.get_extra_info("ssl_object"))
        if ext is None:
            return
        inner: App = self.app

        async def with_tls(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
            if scope.get("type") in ("http", "websocket"):
                extensions = scope.setdefault("extensions", {})
                extensions["tls"] = ext
            await inner(scope, receive, send)

        self.app = with_tls


def serve(
    app: Any,
    *,
    host: str,
    port: int,
    certfile: str | None = None,
    keyfile: str | None = None,
    client_ca: str | None = None,
    require_client_cert: bool = False,
    log_level: str = "warning",
) -> None:
    """Serve ``app`` with uvicorn (TLS and client certificates when given)."""
    import uvicorn

    kwargs: dict[str, Any] = {}
    if certfile:
        kwargs.update(ssl_certfile=certfile, ssl_keyfile=keyfile)
        if client_ca:
            kwargs.update(
                ssl_ca_certs=client_ca,
                ssl_cert_reqs=ssl.CERT_REQUIRED if require_client_cert else ssl.CERT_OPTIONAL,
            )
    config = uvicorn.Config(
        app, host=host, port=port, http=TlsHttpProtocol, lifespan="on", log_level=log_level,
        access_log=False, server_header=False, timeout_keep_alive=5, **kwargs,
    )  # fmt: skip
    uvicorn.Server(config).run()
