"""The ``privacy.retention`` and ``privacy.erasure`` evidence kinds (recorded by the
retention sweep and by erasure requests); importing this module registers them."""

from __future__ import annotations

from bastion.core.checks import EvidenceData, RecordedCheck
from bastion.core.types import Severity

__all__ = ["ErasureCheck", "ErasureData", "RetentionCheck", "RetentionData"]


class RetentionData(EvidenceData):
    policies_digest: str
    policies: tuple[str, ...]
    as_of: str
    items: int
    disposed: tuple[dict[str, object], ...]
    held: tuple[str, ...]
    unmanaged: tuple[str, ...]
    overdue: int  # expired items left in place (held ones are not counted)
    #: The policies document the sweep ran under (its digest is ``policies_digest``), so a
    #: reader can tell when each item expires; absent in older evidence.
    document: dict[str, object] | None = None


class RetentionCheck(RecordedCheck[RetentionData]):
    id = "privacy.retention"
    title = "Retention sweep: expired items deleted or anonymized, held items kept"
    description = (
        "A retention run over the registered datasets, model artifacts, inference logs and "
        "evidence exports: each item past its policy's period deleted or anonymized with a "
        "proof (what, digest, when, policy, legal basis) in the ledger; items under a legal "
        "hold kept; items no policy covers named. Warns while items are unmanaged."
    )
    subject_kinds = ("system",)
    severity = Severity.HIGH
    references = ("GDPR Art. 5(1)(e)", "GDPR Art. 17", "CCPA 1798.105", "ISO/IEC 27701 7.4.7")
    recorded_by = "bastion data retention apply (bastion.privacy.retention.apply_retention)"


class ErasureData(EvidenceData):
    request_id: str
    subject_hash: str
    forms: tuple[str, ...]  # raw, token:NS, hash:KEY (the joins tried, never the values)
    datasets: tuple[dict[str, object], ...]
    rows_removed: int
    vault_entries_removed: int
    impacted_models: tuple[str, ...]
    dry_run: bool


class ErasureCheck(RecordedCheck[ErasureData]):
    id = "privacy.erasure"
    title = "Erasure request carried out (right to erasure / right to delete)"
    description = (
        "A data subject's rows removed from every registered dataset, joined by the value "
        "itself, its vault tokens and its keyed hashes; its vault entries deleted; the "
        "models trained on those datasets listed from lineage. The subject is stored as a "
        "keyed hash, never as the identifier."
    )
    subject_kinds = ("system",)
    severity = Severity.HIGH
    references = ("GDPR Art. 17", "CCPA 1798.105")
    recorded_by = "bastion data retention erase (bastion.privacy.retention.erase_subject)"
