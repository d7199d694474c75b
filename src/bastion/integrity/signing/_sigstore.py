"""Sigstore bundles (keyless model signatures) verified fully offline.

A model signed with model-signing's Sigstore signer carries, in its bundle v0.3, a
short-lived Fulcio leaf certificate (identity in the SAN, OIDC issuer in an extension, an
embedded SCT) and one Rekor entry with its inclusion proof, signed checkpoint, integrated
time and signed entry timestamp. This module checks all of it against a trusted root
given as a file (Sigstore ``TrustedRoot`` JSON, or a ``ClientTrustConfig`` holding one):
no TUF, no network.

The cryptography is sigstore-python's (``Verifier.verify_dsse``: chain at the log's
integrated time, SCT, Rekor inclusion proof and checkpoint signature, signed entry
timestamp, DSSE signature, entry-to-envelope consistency). This module adds the policy
(allowed identities and OIDC issuers, both required), a second, independent inclusion
proof check with the ledger's RFC 9162 code, the checkpoint's tree size, and one clear
reason per refusal. Signing keyless needs OIDC, Fulcio and Rekor online and is not here.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.x509.oid import ObjectIdentifier

from bastion.core.errors import InputError
from bastion.core.types import Finding, Severity
from bastion.integrity.signing._bundle import MAX_BUNDLE_BYTES
from bastion.integrity.signing._dsse import INTOTO_PAYLOAD_TYPE, STATEMENT_TYPE

__all__ = [
    "MAX_TRUST_ROOT_BYTES",
    "SigstoreTrust",
    "authenticate_sigstore",
    "load_sigstore_trust",
    "oidc_issuer",
    "sigstore_identities",
]

MAX_TRUST_ROOT_BYTES = 4 * 1024 * 1024
_ISSUER_V1 = ObjectIdentifier("1.3.6.1.4.1.57264.1.1")
_ISSUER_V2 = ObjectIdentifier("1.3.6.1.4.1.57264.1.8")
_OTHERNAME = ObjectIdentifier("1.3.6.1.4.1.57264.1.7")
_TRUSTED_ROOT = "application/vnd.dev.sigstore.trustedroot+json"
_CLIENT_CONFIG = "application/vnd.dev.sigstore.clienttrustconfig"
_MAX_REASON = 240


@dataclass(frozen=True)
class SigstoreTrust:
    """A parsed Sigstore trusted root: Fulcio CAs, CT logs, transparency logs."""

    root: Any  # sigstore.models.TrustedRoot (kept opaque: sigstore is imported lazily)
    source: str
    digest: str
    #: validFor of each Fulcio CA, and of each transparency log key by its log id.
    ca_windows: tuple[tuple[datetime, datetime | None], ...] = ()
    log_windows: tuple[tuple[bytes, datetime, datetime | None], ...] = ()


def _utc(t: datetime) -> datetime:
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def _window(r: Any) -> tuple[datetime, datetime | None]:
    return _utc(r.start), _utc(r.end) if r.end is not None else None


def _within(t: datetime, w: tuple[datetime, datetime | None]) -> bool:
    return w[0] <= t and (w[1] is None or t <= w[1])


def _fields(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        try:
            locs = {".".join(str(x) for x in e.get("loc", ())) for e in errors()[:3]}
        except Exception:  # pragma: no cover - a foreign error type
            locs = set()
        if locs:
            return ", ".join(sorted(x or "(root)" for x in locs))
    return "(unknown field)"


def load_sigstore_trust(path: Path) -> SigstoreTrust:
    """Read a trusted root file (size-limited, strict); every defect is an InputError."""
    source = str(path)
    try:
        with path.open("rb") as f:
            data = f.read(MAX_TRUST_ROOT_BYTES + 1)
    except OSError:
        raise InputError(f"{source}: Sigstore trust root not found or unreadable") from None
    if len(data) > MAX_TRUST_ROOT_BYTES:
        raise InputError(f"{source}: Sigstore trust root larger than {MAX_TRUST_ROOT_BYTES} bytes")
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise InputError(f"{source}: the Sigstore trust root is not JSON") from None
    media = doc.get("mediaType") if isinstance(doc, dict) else None
    if not isinstance(media, str):
        raise InputError(f"{source}: the Sigstore trust root has no mediaType")
    if media.startswith(_CLIENT_CONFIG):
        inner = doc.get("trustedRoot")
        if not isinstance(inner, dict):
            raise InputError(f"{source}: the client trust config holds no trustedRoot")
        doc = inner
        media = doc.get("mediaType")
    if not isinstance(media, str) or not media.startswith(_TRUSTED_ROOT):
        raise InputError(
            f"{source}: mediaType {str(media)[:80]!r} is not a Sigstore TrustedRoot "
            f"({_TRUSTED_ROOT};version=0.1) or ClientTrustConfig"
        )
    from sigstore.errors import Error as SigstoreError
    from sigstore.models import TrustedRoot
    from sigstore_models.trustroot import v1 as trustroot_v1

    try:
        inner = trustroot_v1.TrustedRoot.from_json(json.dumps(doc))
        root = TrustedRoot(inner)
    except ValueError as exc:
        raise InputError(
            f"{source}: not a valid Sigstore TrustedRoot (field {_fields(exc)})"
        ) from None
    except SigstoreError:
        raise InputError(f"{source}: unsupported Sigstore TrustedRoot format") from None
    for key, what in (
        ("certificateAuthorities", "no Fulcio certificate authority"),
        ("tlogs", "no transparency log"),
        ("ctlogs", "no CT log"),
    ):
        if not isinstance(doc.get(key), list) or not doc[key]:
            raise InputError(f"{source}: the Sigstore trust root has {what} ({key})")
    try:
        root.get_fulcio_certs()
    except (SigstoreError, ValueError):
        raise InputError(
            f"{source}: the Sigstore trust root has no usable Fulcio certificate"
        ) from None
    logs = []
    for tlog in inner.tlogs:
        vf = tlog.public_key.valid_for
        start, end = _window(vf) if vf is not None else (datetime.min.replace(tzinfo=UTC), None)
        logs.append((bytes(tlog.log_id.key_id), start, end))
    return SigstoreTrust(
        root,
        source,
        hashlib.sha256(data).hexdigest(),
        tuple(_window(ca.valid_for) for ca in inner.certificate_authorities),
        tuple(logs),
    )


def _der_utf8(raw: bytes) -> str | None:
    """A DER UTF8String (tag 12), or None."""
    if len(raw) < 2 or raw[0] != 0x0C:
        return None
    n, at = raw[1], 2
    if n & 0x80:
        k = n & 0x7F
        if k == 0 or k > 4 or len(raw) < 2 + k:
            return None
        n, at = int.from_bytes(raw[2 : 2 + k], "big"), 2 + k
    if len(raw) != at + n:
        return None
    try:
        return raw[at:].decode("utf-8")
    except UnicodeDecodeError:
        return None


def sigstore_identities(cert: x509.Certificate) -> tuple[str, ...]:
    """The identities Fulcio certifies: SAN e-mails, URIs and Sigstore other names."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return ()
    out = [str(v) for v in san.get_values_for_type(x509.RFC822Name)]
    out += [str(v) for v in san.get_values_for_type(x509.UniformResourceIdentifier)]
    for on in san.get_values_for_type(x509.OtherName):
        if on.type_id == _OTHERNAME and (text := _der_utf8(on.value)) is not None:
            out.append(text)
    return tuple(out)


def _ext(cert: x509.Certificate, oid: ObjectIdentifier) -> bytes | None:
    try:
        value = cert.extensions.get_extension_for_oid(oid).value
    except x509.ExtensionNotFound:
        return None
    raw = getattr(value, "value", None)
    return raw if isinstance(raw, bytes) else None


def oidc_issuer(cert: x509.Certificate) -> tuple[str | None, str | None]:
    """(issuer, problem): the OIDC issuer Fulcio recorded (1.3.6.1.4.1.57264.1.8, else the
    deprecated 1.1); a problem when it is unreadable or the two disagree."""
    v2_raw, v1_raw = _ext(cert, _ISSUER_V2), _ext(cert, _ISSUER_V1)
    v2 = _der_utf8(v2_raw) if v2_raw is not None else None
    if v2_raw is not None and v2 is None:
        return None, "the OIDC issuer extension (1.3.6.1.4.1.57264.1.8) is not a UTF8String"
    v1: str | None = None
    if v1_raw is not None:
        try:
            v1 = v1_raw.decode("utf-8")
        except UnicodeDecodeError:
            return None, "the OIDC issuer extension (1.3.6.1.4.1.57264.1.1) is not UTF-8"
    if v1 is not None and v2 is not None and v1 != v2:
        return None, "the certificate's two OIDC issuer extensions disagree"
    issuer = v2 if v2 is not None else v1
    if issuer is None:
        return None, "the certificate carries no OIDC issuer extension (not a Fulcio certificate?)"
    return issuer, None


def _f(rule: str, title: str, msg: str, source: str, sev: Severity = Severity.HIGH) -> Finding:
    return Finding(
        rule_id=f"integrity.signature.{rule}",
        title=title,
        severity=sev,
        message=f"{source}: {msg}",
        location=source,
        remediation="Do not deploy this model until its signature verifies under the policy.",
    )


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_REASON else text[: _MAX_REASON - 1] + "…"


def _classify(exc: Exception) -> tuple[str, str, str]:
    """sigstore-python's refusal as (rule, title, reason), never echoing bundle bytes."""
    from sigstore.errors import CertValidationError

    msg = str(exc)
    low = msg.lower()
    if isinstance(exc, CertValidationError) or "certificate chain" in low:
        detail = msg.split(":", 1)[1] if ":" in msg else msg
        return (
            "certificate",
            "Certificate rejected",
            "the signing certificate does not chain to a Fulcio CA of the trust root, valid "
            f"at the signing time ({_short(detail)})",
        )
    if "sct" in low:
        return (
            "sct",
            "SCT rejected",
            "the certificate's embedded SCT is missing or not signed by a CT log of the trust root",
        )
    if "verified time" in low:
        return (
            "timestamp",
            "No trusted signing time",
            "no signed entry timestamp or trusted timestamp establishes when it was signed",
        )
    if "expired at time of signing" in low:
        return (
            "timestamp",
            "Certificate not valid at signing time",
            "the signing certificate was not valid at the time the log recorded",
        )
    if low.startswith("invalid log entry:"):
        sub = low.removeprefix("invalid log entry:").strip()
        if sub.startswith("inclusion proof"):
            return (
                "inclusion-proof",
                "Inclusion proof rejected",
                "the transparency log inclusion proof does not lead to its root hash "
                "(forged or damaged)",
            )
        if sub.startswith("set:"):
            return (
                "entry-timestamp",
                "Signed entry timestamp rejected",
                "the signed entry timestamp (inclusion promise) is not signed by a "
                "transparency log of the trust root",
            )
        return (
            "checkpoint",
            "Checkpoint not signed by the trusted log",
            "the inclusion proof's checkpoint is not signed by a transparency log of the "
            "trust root (or does not commit to the proof's root hash)",
        )
    if "checkpoint" in low:
        return (
            "checkpoint",
            "Checkpoint not signed by the trusted log",
            "the inclusion proof's checkpoint is not signed by a transparency log of the "
            "trust root (or does not commit to the proof's root hash)",
        )
    if "inclusion proof" in low:
        return (
            "inclusion-proof",
            "Inclusion proof rejected",
            "the transparency log inclusion proof does not lead to the checkpoint's root "
            "hash (forged or damaged)",
        )
    if "set:" in low or "inclusion promise" in low:
        return (
            "entry-timestamp",
            "Signed entry timestamp rejected",
            "the signed entry timestamp (inclusion promise) is not signed by a transparency "
            "log of the trust root",
        )
    if "dsse" in low and "signature" in low:
        return (
            "invalid",
            "Invalid signature",
            "the DSSE signature does not verify over its payload with the certificate's key",
        )
    if "log entry" in low or "inconsistent" in low:
        return (
            "tlog-mismatch",
            "Log entry for another signature",
            "the transparency log entry does not record this envelope and signature",
        )
    if "usage" in low:
        return (
            "certificate",
            "Certificate rejected",
            f"the signing certificate is not a code-signing certificate ({_short(msg)})",
        )
    return "sigstore", "Sigstore verification failed", _short(msg)


class _PolicyError(Exception):
    pass


class _IdentityPolicy:
    """sigstore-python policy: an allowed SAN identity and an allowed OIDC issuer."""

    def __init__(self, identities: set[str], issuers: set[str]) -> None:
        self.identities = identities
        self.issuers = issuers

    def problems(self, cert: x509.Certificate) -> list[tuple[str, str, str]]:
        out: list[tuple[str, str, str]] = []
        ids = sigstore_identities(cert)
        if not self.identities:
            out.append(
                (
                    "identity",
                    "No allowed identities",
                    "no allowed identities configured (give --identity or policy "
                    "allowed_identities); refusing any signer",
                )
            )
        elif not self.identities.intersection(ids):
            out.append(
                (
                    "identity",
                    "Signer not allowed",
                    f"signed by {', '.join(ids) or 'a certificate without identity'}, not one "
                    f"of the allowed identities {sorted(self.identities)}",
                )
            )
        issuer, problem = oidc_issuer(cert)
        if not self.issuers:
            out.append(
                (
                    "issuer",
                    "No allowed OIDC issuers",
                    "no allowed OIDC issuers configured (give --issuer or policy "
                    "allowed_issuers); a Sigstore identity means nothing without its issuer",
                )
            )
        elif problem is not None:
            out.append(("issuer", "OIDC issuer unreadable", problem))
        elif issuer not in self.issuers:
            out.append(
                (
                    "issuer",
                    "OIDC issuer not allowed",
                    f"identity issued by {issuer!r}, not one of the allowed OIDC issuers "
                    f"{sorted(self.issuers)}",
                )
            )
        return out

    def verify(self, cert: x509.Certificate) -> None:
        found = self.problems(cert)
        if found:
            raise _PolicyError("; ".join(p[2] for p in found))


def _checkpoint_size(envelope: str) -> int | None:
    lines = envelope.split("\n")
    if len(lines) < 3:
        return None
    try:
        return int(lines[1])
    except ValueError:
        return None


def _own_log_checks(
    entry: Any, leaf: x509.Certificate, trust: SigstoreTrust
) -> list[tuple[str, str, str]]:
    """Checks beyond sigstore-python's: the inclusion proof again with the ledger's RFC 9162
    code, the checkpoint's tree size, the entry's log among the trusted logs, and the
    integrated time inside the leaf's validity and the validFor windows of the root."""
    from bastion.core.ledger import ProofError, leaf_hash, verify_inclusion

    out: list[tuple[str, str, str]] = []
    proof = entry.inclusion_proof
    try:
        verify_inclusion(
            leaf_hash(bytes(entry.canonicalized_body)),
            int(proof.log_index),
            int(proof.tree_size),
            [bytes(h) for h in proof.hashes],
            bytes(proof.root_hash),
        )
    except ProofError as exc:
        out.append(
            (
                "inclusion-proof",
                "Inclusion proof rejected",
                f"the transparency log inclusion proof does not verify ({exc}; forged or damaged)",
            )
        )
    size = _checkpoint_size(str(proof.checkpoint.envelope)) if proof.checkpoint else None
    if size is None or size != int(proof.tree_size):
        out.append(
            (
                "checkpoint",
                "Checkpoint for another tree",
                f"the checkpoint's tree size ({size}) is not the inclusion proof's "
                f"({int(proof.tree_size)})",
            )
        )
    log_id = bytes(entry.log_id.key_id)
    windows = [(start, end) for lid, start, end in trust.log_windows if lid == log_id]
    if not windows:
        out.append(
            (
                "tlog",
                "Entry of an unknown log",
                f"the entry names transparency log {log_id.hex()[:16]}…, which is not a "
                "transparency log of the trust root",
            )
        )
    t = entry.integrated_time
    if t:
        at = datetime.fromtimestamp(int(t), tz=UTC)
        if windows and not any(_within(at, w) for w in windows):
            out.append(
                (
                    "tlog",
                    "Log key not valid then",
                    f"the transparency log's key was not valid (validFor) at the integrated "
                    f"time {at.isoformat()}",
                )
            )
        if trust.ca_windows and not any(_within(at, w) for w in trust.ca_windows):
            out.append(
                (
                    "certificate",
                    "Fulcio CA not valid then",
                    f"no Fulcio CA of the trust root was valid (validFor) at the signing "
                    f"time {at.isoformat()}",
                )
            )
        nb, na = leaf.not_valid_before_utc, leaf.not_valid_after_utc
        if not nb <= at <= na:
            out.append(
                (
                    "timestamp",
                    "Certificate not valid at signing time",
                    f"the signing certificate was valid from {nb.isoformat()} to "
                    f"{na.isoformat()}, but the transparency log integrated the entry at "
                    f"{at.isoformat()}: it was {'expired' if at > na else 'not yet valid'} "
                    "when signed, and no trusted timestamp shows otherwise",
                )
            )
    return out


def _parse(raw: bytes) -> tuple[Any, Any] | tuple[str, str, str]:
    """(sigstore Bundle, its protobuf model), or (rule, title, reason) of the refusal."""
    from sigstore.errors import Error as SigstoreError
    from sigstore.models import Bundle
    from sigstore_models.bundle.v1 import Bundle as BundleModel

    no_proof = ("tlog", "No transparency log proof")
    try:
        inner = BundleModel.from_json(raw)
    except ValueError as exc:
        where = _fields(exc)
        if "tlogEntries" in where:
            return (*no_proof, f"no valid transparency log inclusion proof (field {where})")
        return "bundle", "Not a Sigstore bundle", f"not a valid Sigstore bundle (field {where})"
    if not inner.verification_material.tlog_entries:
        return (
            *no_proof,
            "no transparency log entry: not a Sigstore (keyless) signature (an in-house "
            "PKI bundle verifies with --trust-root)",
        )
    try:
        bundle = Bundle(inner)
    except ValueError:
        return "bundle", "Not a Sigstore bundle", "the bundle's certificate is not valid DER"
    except SigstoreError as exc:
        msg = str(exc)
        if "inclusion promise" in msg:
            return (
                "timestamp",
                "No trusted signing time",
                "no signed entry timestamp (inclusion promise) or trusted timestamp "
                "establishes when it was signed",
            )
        if "inclusion proof" in msg or "checkpoint" in msg or "log entry" in msg:
            return (
                *no_proof,
                f"no transparency log inclusion proof with a checkpoint ({_short(msg)})",
            )
        return "bundle", "Not a Sigstore bundle", _short(msg)
    return bundle, inner


def authenticate_sigstore(
    raw: bytes,
    source: str,
    trust: SigstoreTrust | None,
    *,
    identities: Sequence[Sequence[str]],
    issuers: Sequence[Sequence[str]],
) -> tuple[dict[str, Any], dict[str, Any], str, tuple[Finding, ...]]:
    """Verify a Sigstore bundle offline: (statement, signer, signer_id, findings).

    ``identities`` and ``issuers`` are lists of allowed values, one list per source (the
    policy file, the caller): each non-empty list restricts; none widens another. With no
    identity or no issuer at all, every signer is refused.
    """
    findings: list[Finding] = []
    signer: dict[str, Any] = {"method": "sigstore"}
    if len(raw) > MAX_BUNDLE_BYTES:
        raise InputError(f"{source}: signature larger than {MAX_BUNDLE_BYTES} bytes; refusing")
    parsed = _parse(raw)
    if len(parsed) == 3:
        rule, title, reason = parsed
        return {}, signer, "", (_f(rule, title, reason, source),)
    bundle, inner = parsed
    leaf: x509.Certificate = bundle.signing_certificate
    try:
        # Parsed lazily: a damaged field raises when first read, so read them all here.
        _ = (leaf.extensions, leaf.issuer, leaf.subject, leaf.public_key())
        _ = (leaf.not_valid_before_utc, leaf.not_valid_after_utc, leaf.serial_number)
        for ext in leaf.extensions:
            _ = ext.value
    except (ValueError, UnsupportedAlgorithm):
        reason = "the signing certificate's fields are malformed (damaged certificate)"
        return {}, signer, "", (_f("certificate", "Certificate rejected", reason, source),)
    entry = inner.verification_material.tlog_entries[0]
    ids = sigstore_identities(leaf)
    issuer, _problem = oidc_issuer(leaf)
    signer |= {
        "identities": list(ids),
        "issuer": issuer,
        "serial": format(leaf.serial_number, "x"),
        "ca": leaf.issuer.rfc4514_string(),
        "log_index": int(entry.log_index),
        "integrated_time": datetime.fromtimestamp(int(entry.integrated_time), tz=UTC).isoformat()
        if entry.integrated_time
        else None,
    }
    if trust is None:
        return (
            {},
            signer,
            "",
            (
                _f(
                    "untrusted",
                    "No Sigstore trust root",
                    "a Sigstore bundle (Fulcio certificate, transparency log entry) but no "
                    "Sigstore trust root was supplied (--sigstore-trust-root or policy "
                    "sigstore_trust_root)",
                    source,
                ),
            ),
        )
    signer["trust_root"] = f"sha256:{trust.digest}"
    given_ids = [set(x) for x in identities if x]
    given_iss = [set(x) for x in issuers if x]
    allowed_ids = set.intersection(*given_ids) if given_ids else set()
    allowed_iss = set.intersection(*given_iss) if given_iss else set()
    policy = _IdentityPolicy(allowed_ids, allowed_iss)
    own = policy.problems(leaf) + _own_log_checks(entry, leaf, trust)
    findings.extend(_f(rule, title, msg, source) for rule, title, msg in own)
    rules = {r for r, _t, _m in own}
    from sigstore.errors import Error as SigstoreError
    from sigstore.verify import Verifier

    statement: dict[str, Any] = {}
    try:
        ptype, payload = Verifier(trusted_root=trust.root).verify_dsse(bundle, policy)
    except _PolicyError:
        pass  # already reported, reason by reason
    except Exception as exc:  # every refusal, expected or not, fails closed with a reason
        if isinstance(exc, SigstoreError | ValueError):
            rule, title, msg = _classify(exc)
        else:
            rule, title = "sigstore", "Sigstore verification failed"
            msg = f"the bundle could not be verified ({type(exc).__name__})"
        shadowed = rule in rules or (rule == "certificate" and "timestamp" in rules)
        if not shadowed:
            sev = Severity.CRITICAL if rule == "invalid" else Severity.HIGH
            findings.append(_f(rule, title, msg, source, sev))
        if not findings:  # pragma: no cover - a refusal is never silent
            findings.append(_f("sigstore", "Sigstore verification failed", msg, source))
    else:
        if findings:
            # sigstore-python passed what our own checks refused: keep the refusal.
            pass
        elif ptype != INTOTO_PAYLOAD_TYPE:
            findings.append(
                _f(
                    "payload",
                    "Not an in-toto payload",
                    f"payload type {ptype[:80]!r}, expected {INTOTO_PAYLOAD_TYPE}",
                    source,
                )
            )
        else:
            try:
                obj = json.loads(payload)
            except (ValueError, UnicodeDecodeError):
                raise InputError(f"{source}: the signed payload is not JSON") from None
            if not isinstance(obj, dict) or obj.get("_type") != STATEMENT_TYPE:
                findings.append(
                    _f(
                        "payload",
                        "Not an in-toto statement",
                        "payload is not an in-toto Statement v1",
                        source,
                    )
                )
            else:
                statement = obj
    signer_id = f"sigstore:{','.join(sorted(ids)) or format(leaf.serial_number, 'x')}|{issuer}"
    return statement, signer, signer_id, tuple(findings)
