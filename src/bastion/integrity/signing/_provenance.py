"""Signed in-toto attestations: SLSA provenance v1 for training runs, and any predicate
(scan verdicts, AI-BOMs) over the same model manifest digest the signature names.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import platform
import re
import subprocess
import sys
import urllib.parse
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509

from bastion.core.errors import InputError
from bastion.core.types import Finding
from bastion.integrity._hashing import hash_model
from bastion.integrity.signing._bundle import Bundle, read_bundle
from bastion.integrity.signing._pki import load_certificates
from bastion.integrity.signing._policy import VerificationPolicy
from bastion.integrity.signing._sign import (
    STATEMENT_TYPE,
    SigningKey,
    authenticate_bundle,
    load_public_key,
    sign_statement,
    write_bundle,
)

__all__ = [
    "SLSA_PROVENANCE_V1",
    "TRAINING_BUILD_TYPE",
    "AttestationCheck",
    "attest",
    "environment_packages",
    "file_digest",
    "git_commit",
    "normalise_remote",
    "slsa_training_predicate",
    "source_uri",
    "training_summary",
    "verify_attestation",
]

SLSA_PROVENANCE_V1 = "https://slsa.dev/provenance/v1"
TRAINING_BUILD_TYPE = "https://bastion.dev/ml-training/v1"
MAX_PACKAGES = 2000


def attest(
    statement_predicate_type: str,
    predicate: Mapping[str, Any],
    subject_digests: Mapping[str, str],
    key: SigningKey,
    *,
    chain: Sequence[x509.Certificate] = (),
    out: Path | None = None,
) -> Bundle:
    """Sign ``predicate`` about subjects ``{name: sha256 hex}`` as an in-toto DSSE bundle.

    The generic entry point for the other parts: scan verdicts and AI-BOMs are attested
    over the model's manifest digest, the same digest its signature names.
    """
    if not subject_digests:
        raise InputError("an attestation needs at least one subject digest")
    subjects = []
    for name, digest in sorted(subject_digests.items()):
        d = digest.removeprefix("sha256:")
        if len(d) != 64 or any(c not in "0123456789abcdef" for c in d):
            raise InputError(f"subject {name!r}: digest must be 64 hex characters of SHA-256")
        subjects.append({"name": name, "digest": {"sha256": d}})
    statement = {
        "_type": STATEMENT_TYPE,
        "subject": subjects,
        "predicateType": statement_predicate_type,
        "predicate": dict(predicate),
    }
    bundle = sign_statement(statement, key, chain)
    if out is not None:
        write_bundle(bundle, out)
    return bundle


def file_digest(path: Path) -> str:
    """SHA-256 of a file, or the manifest root digest of a directory."""
    if path.is_dir():
        return hash_model(path).digest
    h = hashlib.sha256()
    try:
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(8 << 20), b""):
                h.update(chunk)
    except OSError:
        raise InputError(f"{path}: training data not found or unreadable") from None
    return h.hexdigest()


#: Git configuration that could run a program is switched off for every git we start;
#: the commands below (rev-parse, config --get) run no hooks, and these make sure of it.
_GIT_SAFE = ("-c", "core.fsmonitor=false", "-c", "core.hooksPath=/dev/null")
_GIT_ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0", "GIT_CONFIG_NOSYSTEM": "1"}
MAX_URI = 2048


def _git(directory: Path, *args: str) -> str | None:
    """Stdout of a read-only git command in ``directory``; None when git fails or is absent."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")} | _GIT_ENV
    try:
        r = subprocess.run(
            ["git", *_GIT_SAFE, "-C", str(directory), *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
            env=env,
        )
    except (OSError, subprocess.TimeoutExpired, UnicodeDecodeError):
        return None
    return r.stdout if r.returncode == 0 else None


def git_commit(directory: Path) -> str | None:
    """The checked-out commit, read by git itself (no hooks run); None outside a repo."""
    out = (_git(directory, "rev-parse", "HEAD") or "").strip()
    return out if len(out) in (40, 64) and all(c in "0123456789abcdef" for c in out) else None


_SCP_LIKE = re.compile(r"(?:[^@/:\s]+@)?(?P<host>[A-Za-z0-9.-]+):(?P<path>(?!//)[^\s]+)")
_HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\]")


def _quote_path(path: str) -> str:
    # Keep what RFC 3986 allows in a path; percent-encode the rest (spaces, '@', ...).
    return urllib.parse.quote(urllib.parse.unquote(path), safe="/-._~!$&'()*+,;=:")


def normalise_remote(url: str) -> str | None:
    """A git remote as an ``https://`` (or ``file://``) URI without credentials.

    ``git@host:org/repo`` and ``ssh://user@host[:port]/org/repo`` become
    ``https://host/org/repo``; ``https://user:token@host/...`` loses its user
    information, query and fragment; a local path becomes a ``file://`` URI. None when
    the remote is not one of these (the caller then names the checkout itself).
    """
    url = url.strip()
    if not url or len(url) > MAX_URI or any(c.isspace() or ord(c) < 32 for c in url):
        return None
    parsed = urllib.parse.urlsplit(url)
    scheme = parsed.scheme.lower()
    if scheme in ("http", "https", "ssh", "git", "git+ssh", "ssh+git"):
        try:
            host, port = parsed.hostname, parsed.port
        except ValueError:
            return None
        if not host or not _HOST.fullmatch(host if ":" not in host else f"[{host}]"):
            return None
        if ":" in host:
            host = f"[{host}]"
        path = parsed.path or "/"
        if not path.startswith("/"):
            path = "/" + path
        if scheme in ("http", "https"):
            netloc = host + (f":{port}" if port is not None else "")
            return urllib.parse.urlunsplit((scheme, netloc, _quote_path(path), "", ""))
        # ssh/git transports: the same repository over https (ssh ports do not carry over)
        return urllib.parse.urlunsplit(("https", host, _quote_path(path), "", ""))
    if scheme == "file":
        return Path(urllib.parse.unquote(parsed.path)).resolve().as_uri() if parsed.path else None
    m = _SCP_LIKE.fullmatch(url)
    if m and "/" not in url.split(":", 1)[0]:
        host, path = str(m["host"]), str(m["path"])
        if not _HOST.fullmatch(host):
            return None
        return urllib.parse.urlunsplit(("https", host, _quote_path("/" + path.lstrip("/")), "", ""))
    return None  # a path remote (resolved against the checkout by source_uri) or unknown


def _remote_url(directory: Path) -> str | None:
    """The fetch URL of ``origin``, else of the first remote by name (git config only)."""
    listing = _git(directory, "config", "--get-regexp", r"^remote\..*\.url$")
    if not listing:
        return None
    urls: dict[str, str] = {}
    for line in listing.splitlines():
        key, _, value = line.partition(" ")
        name = key[len("remote.") : -len(".url")]
        urls.setdefault(name, value)
    if not urls:
        return None
    return urls.get("origin") or urls[sorted(urls)[0]]


def source_uri(directory: Path) -> str:
    """The URI of the repository checked out in ``directory``, for SLSA provenance.

    Its remote (``origin`` first) when it has one, normalised by :func:`normalise_remote`;
    a ``file://`` URI of the checkout's top level (or of ``directory``) otherwise.
    Git's configuration is read by ``git config``; no hook or fsmonitor runs.
    """
    directory = directory.resolve()
    top = (_git(directory, "rev-parse", "--show-toplevel") or "").strip()
    checkout = Path(top) if top else directory
    remote = _remote_url(directory)
    if remote:
        uri = normalise_remote(remote)
        if uri is None and remote.startswith(("/", "./", "../")):
            uri = (checkout / remote).resolve().as_uri()
        if uri is not None:
            return uri
    return checkout.as_uri()


def _rfc3339_utc(ts: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ``: in-toto's Timestamp type (RFC 3339, UTC, "Z")."""
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise InputError("provenance timestamps must be timezone-aware datetimes")
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def environment_packages() -> list[dict[str, Any]]:
    pkgs = {}
    for d in importlib.metadata.distributions():
        name = d.name
        if name:
            pkgs[name.lower()] = d.version
    return [
        {"uri": f"pkg:pypi/{n}@{v}", "name": n, "annotations": {"version": v}}
        for n, v in sorted(pkgs.items())[:MAX_PACKAGES]
    ]


def slsa_training_predicate(
    *,
    builder_id: str,
    entry_point: str | None = None,
    code_repo: str | None = None,
    code_commit: str | None = None,
    training_data: Mapping[str, str] | None = None,
    hyperparameters: Mapping[str, Any] | None = None,
    packages: Sequence[Mapping[str, Any]] | None = None,
    started: datetime | None = None,
    finished: datetime | None = None,
    invocation_id: str | None = None,
) -> dict[str, Any]:
    """SLSA provenance v1 for a training run: builder, code, data digests, parameters, env.

    ``code_repo`` is a repository URL or a local checkout (its remote, else a ``file://``
    URI, see :func:`source_uri`); the code dependency's ``uri`` is ``git+URI@COMMIT``.
    Times are written as RFC 3339 in UTC with "Z", as in-toto's Timestamp requires.
    """
    deps: list[dict[str, Any]] = []
    if code_commit:
        dep: dict[str, Any] = {"digest": {"gitCommit": code_commit}}
        repo = _repo_uri(code_repo)
        if repo is not None:
            dep = {"uri": f"git+{repo}@{code_commit}"} | dep
        deps.append(dep)
    for name, digest in sorted((training_data or {}).items()):
        deps.append(
            {"name": name, "digest": {"sha256": digest}, "annotations": {"role": "training-data"}}
        )
    deps.extend(dict(p) for p in (packages or ()))
    now = datetime.now(UTC)
    return {
        "buildDefinition": {
            "buildType": TRAINING_BUILD_TYPE,
            "externalParameters": {
                "entryPoint": entry_point,
                "hyperparameters": dict(hyperparameters or {}),
            },
            "internalParameters": {
                "python": sys.version.split()[0],
                "platform": platform.platform(),
            },
            "resolvedDependencies": deps,
        },
        "runDetails": {
            "builder": {"id": builder_id},
            "metadata": {
                "invocationId": invocation_id or str(uuid.uuid4()),
                "startedOn": _rfc3339_utc(started or now),
                "finishedOn": _rfc3339_utc(finished or now),
            },
        },
    }


def _repo_uri(code_repo: str | None) -> str | None:
    if not code_repo:
        return None
    if Path(code_repo).is_dir():
        return source_uri(Path(code_repo))
    uri = normalise_remote(code_repo)
    if uri is None:
        raise InputError(
            "code repository: expected a local checkout or an https, ssh, git or file URL"
        )
    return uri


def training_summary(
    path: Path, predicate: Mapping[str, Any], manifest: Any, key: SigningKey
) -> dict[str, Any]:
    """What ``integrity.provenance`` evidence of a training attestation records."""
    deps = predicate["buildDefinition"]["resolvedDependencies"]
    commit = next(
        (d["digest"]["gitCommit"] for d in deps if "gitCommit" in d.get("digest", {})), None
    )
    return {
        "attestation": str(path),
        "predicate_type": SLSA_PROVENANCE_V1,
        "subject": {"name": manifest.model_name, "digest": f"sha256:{manifest.digest}"},
        "builder": predicate["runDetails"]["builder"]["id"],
        "code_commit": commit,
        "training_data": {
            d["name"]: f"sha256:{d['digest']['sha256']}"
            for d in deps
            if d.get("annotations", {}).get("role") == "training-data"
        },
        "hyperparameters": dict(
            predicate["buildDefinition"]["externalParameters"]["hyperparameters"]
        ),
        "packages": sum(1 for d in deps if str(d.get("uri", "")).startswith("pkg:")),
        "key": key.description,
    }


def default_attestation_path(model: Path) -> Path:
    return (
        model.parent / f"{model.name}.provenance.sigstore.json"
        if model.is_dir()
        else model.with_name(model.name + ".provenance.sigstore.json")
    )


@dataclass(frozen=True)
class AttestationCheck:
    source: str
    predicate_type: str | None
    subjects: dict[str, str]
    signer: dict[str, Any]
    predicate: dict[str, Any]
    findings: tuple[Finding, ...]

    @property
    def ok(self) -> bool:
        return not self.findings

    def to_dict(self) -> dict[str, Any]:
        return {
            "attestation": self.source,
            "ok": self.ok,
            "predicate_type": self.predicate_type,
            "subjects": {k: f"sha256:{v}" for k, v in self.subjects.items()},
            "signer": self.signer,
            "problems": [f.message for f in self.findings],
        }


def verify_attestation(
    path: Path,
    *,
    public_keys: Sequence[Path] = (),
    trust_roots: Sequence[Path] = (),
    identities: Sequence[str] = (),
    expected_digest: str | None = None,
    predicate_type: str | None = None,
    policy: VerificationPolicy | None = None,
) -> AttestationCheck:
    """Authenticate an attestation; optionally require its subject digest and type."""
    source = str(path)
    bundle = read_bundle(path)
    roots = [c for p in trust_roots for c in load_certificates(p)]
    auth = authenticate_bundle(
        bundle,
        source,
        public_keys=[load_public_key(p) for p in public_keys],
        roots=roots,
        identities=identities,
        policy=policy,
    )
    findings = list(auth.findings)
    st = auth.statement
    subjects: dict[str, str] = {}
    for s in st.get("subject") or []:
        if isinstance(s, dict) and isinstance(s.get("digest"), dict):
            subjects[str(s.get("name"))] = str(s["digest"].get("sha256", ""))
    ptype = st.get("predicateType")
    from bastion.core.types import Severity

    def f(rule: str, msg: str) -> Finding:
        return Finding(
            f"integrity.provenance.{rule}", "Attestation rejected", Severity.HIGH, msg, source
        )

    if predicate_type is not None and ptype != predicate_type:
        findings.append(f("type", f"{source}: predicate {ptype!r}, expected {predicate_type!r}"))
    if (
        expected_digest is not None
        and expected_digest.removeprefix("sha256:") not in subjects.values()
    ):
        findings.append(
            f(
                "subject",
                f"{source}: attests {sorted(subjects)} with other digests, not sha256:{expected_digest.removeprefix('sha256:')[:16]}…",
            )
        )
    pred = st.get("predicate")
    return AttestationCheck(
        source,
        ptype if isinstance(ptype, str) else None,
        subjects,
        auth.signer,
        pred if isinstance(pred, dict) else {},
        tuple(findings),
    )
