"""SPIFFE IDs (``spiffe://trust-domain/path``) and the one an X.509 SVID carries.

Validation follows the SPIFFE ID specification: scheme ``spiffe`` (lower case); a trust
domain of lower-case letters, digits, ``.``, ``-`` and ``_`` only (so no userinfo, no port,
no percent-encoding); a path of ``/``-separated segments of letters, digits, ``.``, ``-``
and ``_``, none empty, none ``.`` or ``..``, no trailing ``/``; no query, no fragment; at
most 2048 bytes. An X.509-SVID has exactly one URI SAN, and it is a SPIFFE ID.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cryptography import x509

from bastion.access.interface import CredentialError
from bastion.core.errors import InputError

__all__ = ["SpiffeId", "parse_spiffe_id", "spiffe_id_from_certificate"]

MAX_SPIFFE_ID = 2048
_TD = re.compile(r"^[a-z0-9._-]{1,255}$")
_SEGMENT = re.compile(r"^[A-Za-z0-9._-]+$")


@dataclass(frozen=True)
class SpiffeId:
    trust_domain: str
    path: str  # "" or "/seg/seg"

    def __str__(self) -> str:
        return f"spiffe://{self.trust_domain}{self.path}"


def parse_spiffe_id(value: str) -> SpiffeId:
    """A validated SPIFFE ID; :class:`InputError` naming the first rule it breaks."""
    if len(value.encode()) > MAX_SPIFFE_ID:
        raise InputError(f"SPIFFE ID is longer than {MAX_SPIFFE_ID} bytes")
    prefix = "spiffe://"
    if not value.startswith(prefix):
        raise InputError("SPIFFE ID must start with spiffe:// (lower-case scheme)")
    rest = value[len(prefix) :]
    if "?" in rest or "#" in rest:
        raise InputError("SPIFFE ID may not have a query or fragment")
    td, slash, path = rest.partition("/")
    if not td:
        raise InputError("SPIFFE ID has an empty trust domain")
    if "@" in td:
        raise InputError("SPIFFE ID trust domain may not contain userinfo")
    if ":" in td:
        raise InputError("SPIFFE ID trust domain may not contain a port")
    if not _TD.match(td):
        raise InputError(
            "SPIFFE ID trust domain may contain only lower-case letters, digits, '.', '-', '_'"
        )
    if not slash:
        return SpiffeId(td, "")
    segments = path.split("/")
    for seg in segments:
        if seg == "":
            raise InputError("SPIFFE ID path has an empty segment or a trailing '/'")
        if seg in (".", ".."):
            raise InputError("SPIFFE ID path may not contain '.' or '..' segments")
        if not _SEGMENT.match(seg):
            raise InputError(
                "SPIFFE ID path segments may contain only letters, digits, '.', '-', '_'"
            )
    return SpiffeId(td, "/" + path)


def spiffe_id_from_certificate(cert: x509.Certificate) -> SpiffeId:
    """The SPIFFE ID of an X.509-SVID: its one URI SAN; :class:`CredentialError` otherwise."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        raise CredentialError("certificate has no subjectAltName, so no SPIFFE ID") from None
    uris = san.get_values_for_type(x509.UniformResourceIdentifier)
    if len(uris) != 1:
        raise CredentialError(f"an X.509-SVID has exactly one URI SAN; this one has {len(uris)}")
    try:
        return parse_spiffe_id(uris[0])
    except InputError as exc:
        raise CredentialError(f"certificate URI SAN is not a SPIFFE ID: {exc.message}") from None
