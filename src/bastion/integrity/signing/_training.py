"""``TrainingRun``: attest the model a training script wrote, and record it as evidence.

It sits above both the provenance primitives (``_provenance``) and the checks
(``_checks``), so neither of those imports the other's caller: the signing part's import
graph has no circle.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from cryptography import x509

from bastion.core.checks import run_check
from bastion.core.types import Subject
from bastion.integrity.signing._bundle import Bundle
from bastion.integrity.signing._checks import ModelAttestationCheck
from bastion.integrity.signing._provenance import (
    SLSA_PROVENANCE_V1,
    attest,
    default_attestation_path,
    environment_packages,
    file_digest,
    git_commit,
    slsa_training_predicate,
    training_summary,
)
from bastion.integrity.signing._sign import SigningKey, signed_manifest

__all__ = ["TrainingRun"]


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
            self.evidence = run_check(
                self.workspace,
                ModelAttestationCheck,
                Subject("model", self.name or str(self.output), f"sha256:{manifest.digest}"),
                actor=self.actor,
                params={"result": self.summary},
            )
