"""Signing and verification of model directories in the OpenSSF model-signing v1.0 format.

An in-toto Statement v1 (predicate ``https://model_signing/signature/v1.0``) in a DSSE
envelope inside a Sigstore bundle v0.3, signed with an ECDSA key (PEM file or PKCS#11),
optionally with an X.509 chain. Verification authenticates the bundle first, then rehashes
the directory with the signed serialization and names every file that differs.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from bastion.core.errors import InputError
from bastion.core.types import Finding, Severity
from bastion.integrity._hashing import (
    DEFAULT_IGNORE,
    HashAlgorithm,
    ModelManifest,
    hash_model,
    root_digest,
    sort_key,
    validate_resource_name,
)
from bastion.integrity.signing._bundle import Bundle, key_hint, read_bundle
from bastion.integrity.signing._dsse import INTOTO_PAYLOAD_TYPE, STATEMENT_TYPE, Envelope, pae
from bastion.integrity.signing._pki import load_certificates, load_crl, verify_chain
from bastion.integrity.signing._policy import TimeMode, VerificationPolicy

__all__ = [
    "MODEL_SIGNATURE_PREDICATE",
    "STATEMENT_TYPE",
    "SignResult",
    "SignedPayload",
    "SigningKey",
    "VerifiedSignature",
    "VerifyResult",
    "authenticate_bundle",
    "hash_for",
    "load_public_key",
    "load_signing_key",
    "sign_model",
    "sign_statement",
    "signed_manifest",
    "verify_model",
    "write_bundle",
]

MODEL_SIGNATURE_PREDICATE = "https://model_signing/signature/v1.0"
_CURVES = {"secp256r1", "secp384r1", "secp521r1"}
MAX_REPORTED = 50


class SigningKey(Protocol):
    """A private key that signs without handing out its secret (file or HSM)."""

    @property
    def description(self) -> str:
        """Where the key lives, without secrets (file name, token and object label)."""
        ...

    def public_key(self) -> ec.EllipticCurvePublicKey: ...

    def sign(self, data: bytes) -> bytes:
        """A DER-encoded ECDSA signature over ``data`` (hashed per the curve)."""
        ...


def hash_for(public_key: ec.EllipticCurvePublicKey) -> hashes.HashAlgorithm:
    size = public_key.curve.key_size
    if size == 256:
        return hashes.SHA256()
    if size == 384:
        return hashes.SHA384()
    return hashes.SHA512()


def _check_curve(key: ec.EllipticCurvePublicKey, source: str) -> None:
    if key.curve.name not in _CURVES:
        raise InputError(f"{source}: curve {key.curve.name} is not supported (use P-256 or P-384)")


@dataclass(frozen=True)
class _FileKey:
    key: ec.EllipticCurvePrivateKey
    description: str

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self.key.public_key()

    def sign(self, data: bytes) -> bytes:
        return self.key.sign(data, ec.ECDSA(hash_for(self.key.public_key())))


def load_signing_key(ref: str | Path, password: str | None = None) -> SigningKey:
    """A PEM EC private key file, or an RFC 7512 ``pkcs11:`` URI of a key in an HSM."""
    text = str(ref)
    if text.startswith("pkcs11:"):
        from bastion.integrity.signing._pkcs11 import Pkcs11Key

        return Pkcs11Key.open(text)
    path = Path(text)
    try:
        data = path.read_bytes()
    except OSError:
        raise InputError(f"{path}: private key file not found or unreadable") from None
    if os.name == "posix" and path.stat().st_mode & 0o077:
        raise InputError(f"{path}: private key is readable by group or others; chmod 600 it")
    try:
        key = serialization.load_pem_private_key(
            data, password.encode() if password is not None else None
        )
    except TypeError:
        raise InputError(f"{path}: the key is encrypted; give its password") from None
    except ValueError:
        raise InputError(f"{path}: not a PEM private key (or wrong password)") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise InputError(
            f"{path}: a {type(key).__name__.removeprefix('_')} key; model signatures need an "
            "ECDSA P-256 or P-384 key"
        )
    _check_curve(key.public_key(), str(path))
    return _FileKey(key, f"file:{path.name}")


def load_public_key(path: Path) -> ec.EllipticCurvePublicKey:
    try:
        data = path.read_bytes()
    except OSError:
        raise InputError(f"{path}: public key file not found or unreadable") from None
    try:
        if b"CERTIFICATE" in data:
            key: Any = x509.load_pem_x509_certificate(data).public_key()
        else:
            key = serialization.load_pem_public_key(data)
    except ValueError:
        raise InputError(f"{path}: not a PEM public key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise InputError(
            f"{path}: wrong key type ({type(key).__name__.removeprefix('_')}); model signatures "
            "use ECDSA P-256 or P-384 keys"
        )
    _check_curve(key, str(path))
    return key


def sign_statement(
    statement: dict[str, Any], key: SigningKey, chain: Sequence[x509.Certificate] = ()
) -> Bundle:
    """Sign an in-toto statement as DSSE and wrap it in a Sigstore bundle v0.3."""
    payload = json.dumps(statement, indent=2).encode("utf-8")
    pub = key.public_key()
    if chain:
        leaf_key = chain[0].public_key()
        if not isinstance(leaf_key, ec.EllipticCurvePublicKey) or leaf_key != pub:
            raise InputError("the signing certificate's public key does not match the signing key")
    sig = key.sign(pae(INTOTO_PAYLOAD_TYPE, payload))
    env = Envelope(INTOTO_PAYLOAD_TYPE, payload, (sig,))
    if chain:
        return Bundle(env, chain=tuple(chain))
    return Bundle(env, key_hint=key_hint(pub))


def write_bundle(bundle: Bundle, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(bundle.dumps(), encoding="utf-8")
    os.replace(tmp, path)


def model_statement(manifest: ModelManifest) -> dict[str, Any]:
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": manifest.model_name, "digest": {"sha256": manifest.digest}}],
        "predicateType": MODEL_SIGNATURE_PREDICATE,
        "predicate": {"serialization": manifest.serialization(), "resources": manifest.resources()},
    }


def _signer_info(bundle: Bundle) -> dict[str, Any]:
    if bundle.chain:
        from bastion.integrity.signing._pki import cert_identities

        leaf = bundle.chain[0]
        return {
            "method": "certificate",
            "identities": list(cert_identities(leaf)),
            "serial": format(leaf.serial_number, "x"),
            "issuer": leaf.issuer.rfc4514_string(),
        }
    return {"method": "key", "key_hint": bundle.key_hint}


@dataclass(frozen=True)
class SignResult:
    manifest: ModelManifest
    signature_path: Path
    signer: dict[str, Any]
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        m = self.manifest
        return {
            "model": m.model_name,
            "digest": f"sha256:{m.digest}",
            "signature": str(self.signature_path),
            "signer": self.signer,
            "files": len({e.path for e in m.entries}),
            "bytes": m.total_size,
            "from_cache": m.from_cache,
            "serialization": m.serialization(),
            "seconds": round(self.seconds, 3),
        }


def default_signature_path(model: Path) -> Path:
    return model / "model.sig" if model.is_dir() else model.with_name(model.name + ".sig")


def signed_manifest(model: Path) -> ModelManifest:
    """The manifest a default ``sign_model`` covers: git files and ``model.sig`` left out.

    Attestations use it, so provenance, scan verdicts and AI-BOMs name the same digest
    as the model's signature.
    """
    return hash_model(model, ignore=[*DEFAULT_IGNORE, "model.sig"])


def _relative_inside(path: Path, root: Path) -> str | None:
    if not root.is_dir():
        return None
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return None


def sign_model(
    model: Path,
    key: SigningKey,
    *,
    signature_path: Path | None = None,
    certificate: Path | None = None,
    chain: Sequence[Path] = (),
    algorithm: HashAlgorithm = HashAlgorithm.SHA256,
    shard_size: int | None = None,
    ignore: Sequence[str] = (),
    ignore_git: bool = True,
    allow_symlinks: bool = False,
    cache: Path | None = None,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SignResult:
    """Hash ``model``, sign its manifest and write the bundle (``model.sig`` by default)."""
    import time

    t0 = time.perf_counter()
    sig_path = signature_path or default_signature_path(model)
    patterns = [*(DEFAULT_IGNORE if ignore_git else ()), *ignore]
    rel = _relative_inside(sig_path, model)
    if rel is not None:
        patterns.append(rel)
    certs: list[x509.Certificate] = []
    if certificate is not None:
        certs = load_certificates(certificate)[:1]
        for p in chain:
            certs.extend(load_certificates(p))
        # The trust root itself stays out of the bundle; verifiers supply their own.
        certs = [certs[0], *(c for c in certs[1:] if c.subject != c.issuer)]
    manifest = hash_model(
        model,
        algorithm=algorithm,
        shard_size=shard_size,
        ignore=patterns,
        allow_symlinks=allow_symlinks,
        workers=workers,
        cache=cache,
        progress=progress,
    )
    bundle = sign_statement(model_statement(manifest), key, certs)
    write_bundle(bundle, sig_path)
    signer = _signer_info(bundle) | {"key": key.description}
    return SignResult(manifest, sig_path, signer, time.perf_counter() - t0)


@dataclass(frozen=True)
class SignedPayload:
    """An authenticated DSSE payload and who signed it."""

    statement: dict[str, Any]
    signer: dict[str, Any]
    signer_id: str
    findings: tuple[Finding, ...]

    @property
    def ok(self) -> bool:
        return not self.findings


def _f(
    rule: str, title: str, msg: str, loc: str | None = None, sev: Severity = Severity.HIGH
) -> Finding:
    return Finding(
        rule_id=f"integrity.signature.{rule}",
        title=title,
        severity=sev,
        message=msg,
        location=loc,
        remediation="Do not deploy this model until its signature verifies under the policy.",
    )


def authenticate_bundle(
    bundle: Bundle,
    source: str,
    *,
    public_keys: Sequence[ec.EllipticCurvePublicKey] = (),
    roots: Sequence[x509.Certificate] = (),
    identities: Sequence[str] = (),
    policy: VerificationPolicy | None = None,
    now: datetime | None = None,
) -> SignedPayload:
    """Check the bundle's signature, chain and signer against keys, roots and policy."""
    pol = policy or VerificationPolicy()
    findings: list[Finding] = []
    env = bundle.envelope
    now = now or datetime.now(UTC)
    signer = _signer_info(bundle)
    signer_id = ""
    verify_key: ec.EllipticCurvePublicKey | None = None
    if bundle.chain:
        leaf = bundle.chain[0]
        lk = leaf.public_key()
        if not isinstance(lk, ec.EllipticCurvePublicKey):
            raise InputError(f"{source}: the signing certificate holds a non-EC key")
        if not roots:
            findings.append(
                _f(
                    "untrusted",
                    "No trust root",
                    f"{source}: signed with a certificate but no trust root was supplied (--trust-root or policy trust_roots)",
                    source,
                )
            )
        else:
            at = now if pol.time is TimeMode.NOW else leaf.not_valid_before_utc
            crls = [load_crl(Path(p)) for p in pol.crls]
            res = verify_chain(
                bundle.chain, roots, at=at, revoked_serials=pol.revoked_serials, crls=crls
            )
            signer["checked_at"] = at.isoformat(timespec="seconds")
            signer["time_mode"] = pol.time.value
            findings.extend(
                _f("certificate", "Certificate rejected", f"{source}: {p}", source)
                for p in res.problems
            )
            if res.root is not None and pol.max_trust_root_age_days is not None:
                age = now - res.root.not_valid_before_utc
                if age > timedelta(days=pol.max_trust_root_age_days):
                    findings.append(
                        _f(
                            "root-age",
                            "Trust root too old",
                            f"{source}: trust root '{res.root.subject.rfc4514_string()}' is {age.days} days old; the policy allows {pol.max_trust_root_age_days:g}",
                            source,
                        )
                    )
        ids = signer["identities"]
        # Each source of allowed identities restricts: the policy's list and the caller's
        # (--identity) must both admit the signer; neither widens the other.
        lists = [("policy allowed_identities", set(pol.allowed_identities))]
        lists += [("--identity", set(identities))]
        given = [(what, allowed) for what, allowed in lists if allowed]
        if not given:
            findings.append(
                _f(
                    "identity",
                    "No allowed identities",
                    f"{source}: no allowed identities configured (give --identity or policy allowed_identities); refusing any signer",
                    source,
                )
            )
        for what, allowed in given:
            if not allowed.intersection(ids):
                findings.append(
                    _f(
                        "identity",
                        "Signer not allowed",
                        f"{source}: signed by {', '.join(ids) or 'a certificate without identity'}, not one of the allowed identities {sorted(allowed)} ({what})",
                        source,
                    )
                )
        verify_key = lk
        signer_id = "cert:" + (",".join(sorted(ids)) or format(leaf.serial_number, "x"))
    else:
        # Keys given by the caller (--public-key) are material to verify with; when the
        # policy lists allowed keys, the signing key must also be one of them.
        candidates = list(public_keys)
        policy_hints: set[str] = set()
        for k in pol.allowed_keys:
            if len(k) == 64 and all(c in "0123456789abcdef" for c in k):
                policy_hints.add(k)
            else:
                pk = load_public_key(Path(k))
                policy_hints.add(key_hint(pk))
                candidates.append(pk)
        hints = {key_hint(k): k for k in candidates}
        if bundle.key_hint:
            verify_key = hints.get(bundle.key_hint)
            if verify_key is None:
                findings.append(
                    _f(
                        "key",
                        "Unknown signing key",
                        f"{source}: signed by key {bundle.key_hint[:16]}…, which is not an allowed key",
                        source,
                    )
                )
        elif len(hints) == 1:
            verify_key = next(iter(hints.values()))
        else:
            findings.append(
                _f(
                    "key",
                    "Unknown signing key",
                    f"{source}: the bundle names no key and {len(hints)} candidate keys were given",
                    source,
                )
            )
        used = bundle.key_hint or (key_hint(verify_key) if verify_key is not None else "")
        if verify_key is not None and policy_hints and used not in policy_hints:
            findings.append(
                _f(
                    "key",
                    "Signing key not allowed by the policy",
                    f"{source}: signed by key {used[:16]}…, which the policy's allowed_keys do not list (a key given with --public-key verifies, it does not widen the policy)",
                    source,
                )
            )
        signer_id = f"key:{bundle.key_hint or (key_hint(verify_key) if verify_key else '')}"
    if verify_key is not None:
        try:
            verify_key.verify(
                env.signatures[0],
                pae(env.payload_type, env.payload),
                ec.ECDSA(hash_for(verify_key)),
            )
        except InvalidSignature:
            findings.append(
                _f(
                    "invalid",
                    "Invalid signature",
                    f"{source}: the DSSE signature does not verify over its payload (tampered, or a bundle for another payload)",
                    source,
                    Severity.CRITICAL,
                )
            )
    statement: dict[str, Any] = {}
    if env.payload_type != INTOTO_PAYLOAD_TYPE:
        findings.append(
            _f(
                "payload",
                "Not an in-toto payload",
                f"{source}: payload type {env.payload_type!r}, expected {INTOTO_PAYLOAD_TYPE}",
                source,
            )
        )
    else:
        try:
            obj = json.loads(env.payload)
        except (ValueError, UnicodeDecodeError):
            raise InputError(f"{source}: the signed payload is not JSON") from None
        if not isinstance(obj, dict) or obj.get("_type") != STATEMENT_TYPE:
            findings.append(
                _f(
                    "payload",
                    "Not an in-toto statement",
                    f"{source}: payload is not an in-toto Statement v1",
                    source,
                )
            )
        else:
            statement = obj
    return SignedPayload(statement, signer, signer_id, tuple(findings))


@dataclass(frozen=True)
class VerifiedSignature:
    source: str
    signer: dict[str, Any]
    signer_id: str
    subject: str | None
    digest: str | None
    findings: tuple[Finding, ...]

    @property
    def ok(self) -> bool:
        return not self.findings

    def to_dict(self) -> dict[str, Any]:
        return {
            "signature": self.source,
            "ok": self.ok,
            "signer": self.signer,
            "subject": self.subject,
            "digest": f"sha256:{self.digest}" if self.digest else None,
            "problems": [f.message for f in self.findings],
        }


@dataclass(frozen=True)
class VerifyResult:
    model: Path
    signatures: tuple[VerifiedSignature, ...]
    required: int
    valid_signers: tuple[str, ...]
    manifest_digest: str | None
    trusted_cache: bool
    findings: tuple[Finding, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return len(self.valid_signers) >= self.required and not self.findings

    @property
    def all_findings(self) -> tuple[Finding, ...]:
        return (*self.findings, *(f for s in self.signatures for f in s.findings))

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": str(self.model),
            "ok": self.ok,
            "digest": f"sha256:{self.manifest_digest}" if self.manifest_digest else None,
            "required_signatures": self.required,
            "valid_signers": list(self.valid_signers),
            "cache": "trusted (digests of unchanged files were not recomputed)"
            if self.trusted_cache
            else "not trusted (every file was rehashed)",
            "signatures": [s.to_dict() for s in self.signatures],
            "findings": [f.to_dict() for f in self.all_findings],
        }


def _compare(
    expected: dict[str, str], manifest: ModelManifest, source: str, subject: str
) -> list[Finding]:
    out: list[Finding] = []
    actual = {e.name: e.digest for e in manifest.entries}
    files_expected = {n.split(":")[0] if manifest.shard_size else n for n in expected}
    for p in manifest.problems:
        out.append(  # noqa: PERF401
            _f(
                p.kind,
                "Refused path",
                f"{manifest.model_name}: {p.message}",
                p.path,
                Severity.CRITICAL,
            )
        )
    if expected and actual and not set(expected.values()) & set(actual.values()):
        out.append(
            _f(
                "another-model",
                "Signature for another model",
                f"{source} signs model '{subject}' and none of its {len(files_expected)} files match this directory; it is a signature for another model",
                source,
                Severity.CRITICAL,
            )
        )
    missing = sorted(set(expected) - set(actual), key=sort_key)
    added = sorted(set(actual) - set(expected), key=sort_key)
    by_digest_added: dict[str, list[str]] = {}
    for n in added:
        by_digest_added.setdefault(actual[n], []).append(n)
    renamed_to: dict[str, str] = {}
    for n in missing:
        cands = by_digest_added.get(expected[n])
        if cands:
            renamed_to[n] = cands.pop(0)
    consumed = set(renamed_to.values())
    items: list[Finding] = []
    for n, m in renamed_to.items():
        items.append(_f("renamed", "File renamed", f"'{n}' was renamed to '{m}' after signing", m))
    for n in missing:
        if n not in renamed_to:
            items.append(_f("missing", "File missing", f"'{n}' is signed but missing", n))  # noqa: PERF401
    for n in added:
        if n not in consumed:
            items.append(  # noqa: PERF401
                _f(
                    "added",
                    "File added",
                    f"'{n}' is not covered by the signature (added after signing)",
                    n,
                )
            )
    for n in sorted(set(expected) & set(actual), key=sort_key):
        if expected[n] != actual[n]:
            items.append(  # noqa: PERF401
                _f(
                    "modified",
                    "File modified",
                    f"'{n}' was modified after signing (digest {actual[n][:16]}…, signed {expected[n][:16]}…)",
                    n,
                    Severity.CRITICAL,
                )
            )
    if len(items) > MAX_REPORTED:
        rest = len(items) - MAX_REPORTED
        items = items[:MAX_REPORTED]
        items.append(
            _f("more", "More differences", f"{rest} more differing files not listed", None)
        )
    return out + items


def verify_model(
    model: Path,
    signatures: Sequence[Path] = (),
    *,
    public_keys: Sequence[Path] = (),
    trust_roots: Sequence[Path] = (),
    identities: Sequence[str] = (),
    policy: VerificationPolicy | None = None,
    sigstore_trust_root: Path | None = None,
    issuers: Sequence[str] = (),
    allow_symlinks: bool = False,
    trust_cache: bool = False,
    cache: Path | None = None,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    now: datetime | None = None,
) -> VerifyResult:
    """Verify ``model`` against each signature; ok when enough distinct allowed signers verify.

    The digest cache is used only with ``trust_cache`` (or the policy's ``trust_cache``),
    and the result says whether it was.

    A bundle with a transparency log entry (a Sigstore, keyless signature), or any
    certificate bundle when a Sigstore trust root is given and no in-house root is, is
    verified offline against ``sigstore_trust_root`` (or the policy's), identities and
    OIDC ``issuers``: see ``_sigstore.py``.
    """
    pol = policy or VerificationPolicy()
    if not model.exists():
        raise InputError(f"{model}: no such model file or directory")
    sig_paths = list(signatures) or [default_signature_path(model)]
    keys = [load_public_key(p) for p in public_keys]
    roots = [
        c for p in [*trust_roots, *(Path(r) for r in pol.trust_roots)] for c in load_certificates(p)
    ]
    sig_root = sigstore_trust_root or (
        Path(pol.sigstore_trust_root) if pol.sigstore_trust_root else None
    )
    sig_trust = None
    if sig_root is not None:
        from bastion.integrity.signing._sigstore import load_sigstore_trust

        sig_trust = load_sigstore_trust(sig_root)
    use_cache = (trust_cache or pol.trust_cache) and cache is not None
    sig_rel = [r for r in (_relative_inside(p, model) for p in sig_paths) if r is not None]
    hashed: dict[str, ModelManifest] = {}
    results: list[VerifiedSignature] = []
    digest: str | None = None
    for sp in sig_paths:
        source = str(sp)
        bundle = read_bundle(sp)
        if bundle.chain and (bundle.tlog_entries or (sig_trust is not None and not roots)):
            auth = _authenticate_sigstore(sp, source, sig_trust, pol, identities, issuers)
        else:
            auth = authenticate_bundle(
                bundle,
                source,
                public_keys=keys,
                roots=roots,
                identities=identities,
                policy=pol,
                now=now,
            )
        findings = list(auth.findings)
        st = auth.statement
        subject_name: str | None = None
        signed_digest: str | None = None
        if st:
            if st.get("predicateType") != MODEL_SIGNATURE_PREDICATE:
                findings.append(
                    _f(
                        "payload",
                        "Not a model signature",
                        f"{source}: predicate {st.get('predicateType')!r} is not a model signature ({MODEL_SIGNATURE_PREDICATE})",
                        source,
                    )
                )
            else:
                subject_name, signed_digest, expected, ser = _parse_predicate(st, source)
                if pol.model is not None and subject_name != pol.model:
                    findings.append(
                        _f(
                            "another-model",
                            "Signature for another model",
                            f"{source}: signs model '{subject_name}', the policy expects '{pol.model}'",
                            source,
                            Severity.CRITICAL,
                        )
                    )
                alg = HashAlgorithm(ser["hash_type"])
                shard = ser.get("shard_size")
                sym = bool(ser.get("allow_symlinks")) and (allow_symlinks or pol.allow_symlinks)
                ign = [*(str(x) for x in ser.get("ignore_paths") or []), *sig_rel]
                ck = json.dumps([alg, shard, sym, sorted(ign)])
                if ck not in hashed:
                    hashed[ck] = hash_model(
                        model,
                        algorithm=alg,
                        shard_size=shard,
                        ignore=ign,
                        allow_symlinks=sym,
                        workers=workers,
                        cache=cache if use_cache else None,
                        strict=False,
                        progress=progress,
                    )
                man = hashed[ck]
                digest = man.digest
                findings.extend(_compare(expected, man, source, subject_name or "?"))
        results.append(
            VerifiedSignature(
                source, auth.signer, auth.signer_id, subject_name, signed_digest, tuple(findings)
            )
        )
    valid = tuple(sorted({r.signer_id for r in results if r.ok}))
    top: list[Finding] = []
    if len(valid) < pol.required_signatures:
        top.append(
            _f(
                "insufficient",
                "Not enough valid signatures",
                f"{model}: {len(valid)} valid signer(s), the policy requires {pol.required_signatures}",
                str(model),
            )
        )
    return VerifyResult(
        model, tuple(results), pol.required_signatures, valid, digest, use_cache, tuple(top)
    )


def _authenticate_sigstore(
    path: Path,
    source: str,
    trust: Any,
    pol: VerificationPolicy,
    identities: Sequence[str],
    issuers: Sequence[str],
) -> SignedPayload:
    from bastion.integrity.signing._bundle import MAX_BUNDLE_BYTES
    from bastion.integrity.signing._sigstore import authenticate_sigstore

    with path.open("rb") as f:
        raw = f.read(MAX_BUNDLE_BYTES + 1)
    st, signer, signer_id, findings = authenticate_sigstore(
        raw,
        source,
        trust,
        identities=[pol.allowed_identities, list(identities)],
        issuers=[pol.allowed_issuers, list(issuers)],
    )
    return SignedPayload(st, signer, signer_id, findings)


def _parse_predicate(
    st: dict[str, Any], source: str
) -> tuple[str, str, dict[str, str], dict[str, Any]]:
    subj = st.get("subject")
    if not isinstance(subj, list) or len(subj) != 1 or not isinstance(subj[0], dict):
        raise InputError(f"{source}: a model signature has exactly one subject")
    name = str(subj[0].get("name", ""))
    dig = subj[0].get("digest")
    signed = dig.get("sha256") if isinstance(dig, dict) else None
    pred = st.get("predicate")
    if not isinstance(pred, dict):
        raise InputError(f"{source}: the statement has no predicate")
    ser = pred.get("serialization")
    res = pred.get("resources")
    if not isinstance(ser, dict) or not isinstance(res, list):
        raise InputError(f"{source}: predicate lacks serialization or resources")
    if ser.get("method") not in ("files", "shards") or ser.get("hash_type") not in (
        "sha256",
        "blake3",
    ):
        raise InputError(
            f"{source}: serialization {ser.get('method')!r}/{ser.get('hash_type')!r} is not supported (files|shards with sha256|blake3)"
        )
    size = ser.get("shard_size")
    if isinstance(size, float) and size.is_integer() and 0 < size < 2**53:
        # model_signing writes it through a protobuf Struct: a JSON number, as a double.
        ser = {**ser, "shard_size": int(size)}
    if ser.get("method") == "shards" and not (
        type(ser.get("shard_size")) is int and ser["shard_size"] > 0
    ):
        raise InputError(f"{source}: shard serialization without a valid shard_size")
    expected: dict[str, str] = {}
    for r in res:
        if (
            not isinstance(r, dict)
            or not isinstance(r.get("name"), str)
            or not isinstance(r.get("digest"), str)
        ):
            raise InputError(f"{source}: a resource lacks its name or digest")
        n = r["name"]
        validate_resource_name(n.split(":")[0] if ser["method"] == "shards" else n, source)
        try:
            bytes.fromhex(r["digest"])
        except ValueError:
            raise InputError(f"{source}: resource '{n}' has a non-hex digest") from None
        expected[n] = r["digest"]
    for p in ser.get("ignore_paths") or []:
        validate_resource_name(str(p).strip("/"), source)
    if signed != root_digest(expected.values()):
        raise InputError(
            f"{source}: the subject digest does not match the listed resources (inconsistent manifest)"
        )
    return name, signed, expected, ser


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
