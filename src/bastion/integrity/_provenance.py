"""Signed in-toto attestations: SLSA provenance v1 for training runs, and any predicate
(scan verdicts, AI-BOMs) over the same model manifest digest the signature names.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import platform
import subprocess
import sys
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from cryptography import x509

from bastion.core.errors import InputError
from bastion.core.types import Finding
from bastion.integrity._bundle import Bundle, read_bundle
from bastion.integrity._hashing import hash_model
from bastion.integrity._pki import load_certificates
from bastion.integrity._policy import VerificationPolicy
from bastion.integrity._signing import (
    STATEMENT_TYPE,
    SigningKey,
    authenticate_bundle,
    load_public_key,
    sign_statement,
    signed_manifest,
    write_bundle,
)

__all__ = [
    "SLSA_PROVENANCE_V1",
    "TRAINING_BUILD_TYPE",
    "AttestationCheck",
    "TrainingRun",
    "attest",
    "environment_packages",
    "file_digest",
    "git_commit",
    "slsa_training_predicate",
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


def git_commit(directory: Path) -> str | None:
    """The checked-out commit, read by git itself (no hooks run); None outside a repo."""
    try:
        r = subprocess.run(
            ["git", "-C", str(directory), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    out = r.stdout.strip()
    return out if r.returncode == 0 and len(out) in (40, 64) else None


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
    """SLSA provenance v1 for a training run: builder, code, data digests, parameters, env."""
    deps: list[dict[str, Any]] = []
    if code_commit:
        deps.append(
            {
                "uri": f"git+{code_repo or 'local'}@{code_commit}",
                "digest": {"gitCommit": code_commit},
            }
        )
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
                "startedOn": (started or now).isoformat(timespec="seconds"),
                "finishedOn": (finished or now).isoformat(timespec="seconds"),
            },
        },
    }


@dataclass
class TrainingRun:
    """Context manager around a training script: on success, attest the model it wrote.

    With ``workspace``, the attestation is also ``integrity.provenance`` evidence in the
    ledger (subject ``name``, or the output path, with the model's manifest digest).

    >>> with TrainingRun(output=Path("model"), key=key, builder_id="ci://train") as run:
    ...     run.hyperparameters["lr"] = 0.1
    ...     train(...)
    """

    output: Path
    key: SigningKey
    builder_id: str
    data: Sequence[Path] = ()
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    code_dir: Path | None = None
    entry_point: str | None = None
    attestation_path: Path | None = None
    include_packages: bool = True
    chain: Sequence[x509.Certificate] = ()
    workspace: Any = None  # a bastion Workspace: the attestation becomes ledger evidence
    name: str | None = None
    actor: str = "system"
    bundle: Bundle | None = None
    manifest_digest: str | None = None
    summary: dict[str, Any] | None = None
    evidence: Any = None
    _started: datetime | None = None

    def __enter__(self) -> TrainingRun:
        self._started = datetime.now(UTC)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            return  # a failed run attests nothing
        manifest = signed_manifest(self.output)
        self.manifest_digest = manifest.digest
        code = self.code_dir or Path.cwd()
        predicate = slsa_training_predicate(
            builder_id=self.builder_id,
            entry_point=self.entry_point or (sys.argv[0] if sys.argv and sys.argv[0] else None),
            code_repo=str(code.resolve()),
            code_commit=git_commit(code),
            training_data={p.name: file_digest(p) for p in self.data},
            hyperparameters=self.hyperparameters,
            packages=environment_packages() if self.include_packages else (),
            started=self._started,
            finished=datetime.now(UTC),
        )
        out = self.attestation_path or default_attestation_path(self.output)
        self.attestation_path = out
        self.bundle = attest(
            SLSA_PROVENANCE_V1,
            predicate,
            {manifest.model_name: manifest.digest},
            self.key,
            chain=self.chain,
            out=out,
        )
        self.summary = training_summary(out, predicate, manifest, self.key)
        if self.workspace is not None:
            from bastion.core.checks import run_check
            from bastion.core.types import Subject
            from bastion.integrity._checks_signing import ModelAttestationCheck

            self.evidence = run_check(
                self.workspace,
                ModelAttestationCheck,
                Subject("model", self.name or str(self.output), f"sha256:{manifest.digest}"),
                actor=self.actor,
                params={"result": self.summary},
            )


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
