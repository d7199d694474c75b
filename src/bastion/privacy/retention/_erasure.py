"""Erasure requests (GDPR Art. 17, CCPA 1798.105): remove a data subject's rows from every
registered CSV/TSV dataset, found by the identifier itself, by its vault tokens and by
its keyed hashes (masked copies made with the ``hash`` operator), delete its vault
entries, and list the models trained on the affected datasets (from lineage).

The identifier is never stored: the request holds its keyed hash (HMAC-SHA256 under the
workspace's ``erasure-subject`` key). Each dataset is rewritten atomically without the
subject's rows and its new digest recorded; every removal is a ledger event."""

from __future__ import annotations

import contextlib
import csv
import hmac
import io
import os
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select

from bastion.core.checks import record_evidence
from bastion.core.errors import InputError, NotFoundError
from bastion.core.ledger import Event
from bastion.core.types import Evidence, Subject, Verdict
from bastion.core.workspace import Workspace
from bastion.privacy.retention._checks import ErasureCheck, ErasureData
from bastion.privacy.retention._retention import file_sha256
from bastion.privacy.retention._rows import ErasureRequestRow, RetentionItemRow

__all__ = ["ErasureResult", "erase_subject", "subject_hash"]

MAX_DATASET_BYTES = 512 * 1024 * 1024
_CSV_SUFFIXES = (".csv", ".tsv")


def subject_hash(ws: Workspace, identifier: str) -> str:
    """The keyed hash a request stores instead of the identifier."""
    from bastion.privacy.deid import key_provider

    key = key_provider(ws).key("erasure-subject")[1]
    return "hmac-sha256:" + hmac.digest(key, identifier.strip().casefold().encode(), "sha256").hex()


@dataclass(frozen=True)
class ErasureResult:
    request_id: str
    data: ErasureData
    evidence: Evidence

    def to_dict(self) -> dict[str, Any]:
        return {**self.data.model_dump(mode="json"), "evidence_id": self.evidence.id,
                "ledger_seq": self.evidence.ledger_seq}  # fmt: skip


def _forms(
    ws: Workspace, value: str, namespaces: Sequence[str], hash_keys: Sequence[str]
) -> tuple[set[str], list[str], list[str], dict[str, list[str]]]:
    """Exact matches (the value, its tokens), keyed-hash hex digests (a cell matches a
    prefix of 8-64 of them), the forms' labels and the token per namespace."""
    from bastion.privacy.deid import TokenVault, key_provider
    from bastion.privacy.deid._operators import hash_key
    from bastion.privacy.deid._vault import _token, check_namespace

    variants = list(dict.fromkeys((value, value.casefold())))  # as given, and case-folded
    exact = set(variants)
    labels = ["raw"]
    tokens: dict[str, list[str]] = {}
    vault = TokenVault(ws)
    for ns in namespaces:
        _v, key = vault.token_function(check_namespace(ns))
        tokens[ns] = [_token(key, ns, v) for v in variants]
        exact.update(tokens[ns])
        labels.append(f"token:{ns}")
    kp = key_provider(ws)
    hashes = []
    for k in hash_keys:
        hashes += [hmac.digest(hash_key(kp, k), v.encode(), "sha256").hex() for v in variants]
        labels.append(f"hash:{k}")
    return exact, hashes, labels, tokens


def _matches(cell: str, exact: set[str], hashes: list[str]) -> bool:
    c = cell.strip()
    if c in exact or c.casefold() in exact:
        return True
    return 8 <= len(c) <= 64 and any(h.startswith(c.lower()) for h in hashes)


def _rewrite(path: Path, exact: set[str], hashes: list[str], dry_run: bool) -> tuple[int, str]:
    if path.stat().st_size > MAX_DATASET_BYTES:
        raise InputError(f"{path.name}: larger than {MAX_DATASET_BYTES >> 20} MiB")
    delim = "\t" if path.suffix.lower() == ".tsv" else ","
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"{path.name}: not UTF-8 text") from None
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delim))
    if not rows:
        return 0, file_sha256(path)
    header, body = rows[0], rows[1:]
    keep = [r for r in body if not any(_matches(c, exact, hashes) for c in r)]
    removed = len(body) - len(keep)
    if removed == 0 or dry_run:
        return removed, file_sha256(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            w = csv.writer(f, delimiter=delim, lineterminator="\n")
            w.writerow(header)
            w.writerows(keep)
        os.chmod(tmp, path.stat().st_mode & 0o777)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return removed, file_sha256(path)


def erase_subject(
    ws: Workspace,
    identifier: str,
    *,
    namespaces: Sequence[str] = (),
    hash_keys: Sequence[str] = ("default",),
    jurisdiction: str | None = None,
    dry_run: bool = False,
    actor: str = "cli",
) -> ErasureResult:
    """Carry out (or, with ``dry_run``, count) an erasure request for ``identifier``
    across every active registered CSV/TSV dataset, recorded as ``privacy.erasure``."""
    from bastion.privacy.deid._vault import VaultRow
    from bastion.privacy.lineage import impacted

    value = identifier.strip()
    if not 3 <= len(value) <= 500:
        raise InputError("identifier: 3-500 characters (an e-mail, a customer id, ...)")
    exact, hashes, labels, tokens = _forms(ws, value, namespaces, hash_keys)
    shash = subject_hash(ws, value)
    rid = str(uuid.uuid4())
    now = datetime.now(UTC)
    with ws.db.session() as s:
        items = s.scalars(select(RetentionItemRow).where(
            RetentionItemRow.kind == "dataset", RetentionItemRow.state == "active"
        ).order_by(RetentionItemRow.id)).all()  # fmt: skip
        targets = [(i.ref, i.path, i.digest) for i in items]
    datasets: list[dict[str, object]] = []
    models: set[str] = set()
    total = 0
    for ref, p, before in targets:
        path = Path(p) if p else None
        if path is None or path.suffix.lower() not in _CSV_SUFFIXES or not path.is_file():
            continue
        n, after = _rewrite(path, exact, hashes, dry_run)
        if not n:
            continue
        total += n
        datasets.append({"ref": ref, "rows_removed": n, "digest_before": before,
                         "digest_after": after})  # fmt: skip
        if not dry_run:
            with ws.db.session() as s:
                row = s.scalars(select(RetentionItemRow).where(
                    RetentionItemRow.kind == "dataset", RetentionItemRow.ref == ref)).one()  # fmt: skip
                row.digest = after
                ws.ledger.append([Event("privacy.erasure.rows_removed",
                                        {"request": rid, "subject_hash": shash, "dataset": ref,
                                         "rows": n, "digest_before": before,
                                         "digest_after": after}, actor)], session=s)  # fmt: skip
        with contextlib.suppress(NotFoundError):  # no lineage recorded for this file
            models.update(impacted(ws, f"file:{path.resolve()}"))
    vault_removed = 0
    with ws.db.session() as s:
        for ns, toks in tokens.items():
            q = select(VaultRow).where(VaultRow.namespace == ns, VaultRow.token.in_(toks))
            found = len(s.scalars(q).all())
            if found and not dry_run:
                s.execute(
                    delete(VaultRow).where(VaultRow.namespace == ns, VaultRow.token.in_(toks))
                )
            vault_removed += found
        data = ErasureData(
            request_id=rid, subject_hash=shash, forms=tuple(labels), datasets=tuple(datasets),
            rows_removed=total, vault_entries_removed=vault_removed,
            impacted_models=tuple(sorted(models)), dry_run=dry_run,
        )  # fmt: skip
        if not dry_run:
            s.add(ErasureRequestRow(
                id=rid, subject_hash=shash, jurisdiction=jurisdiction, received_at=now,
                state="completed", result=data.model_dump(mode="json"), actor=actor[:200],
            ))  # fmt: skip
            ws.ledger.append([Event("privacy.erasure.completed",
                                    {"request": rid, "subject_hash": shash, "rows": total,
                                     "vault_entries": vault_removed,
                                     "datasets": [d["ref"] for d in datasets]}, actor)],
                             session=s)  # fmt: skip
    ev = record_evidence(
        ws, ErasureCheck, Subject("system", f"erasure:{rid}", shash),
        verdict=Verdict.WARN if models else Verdict.PASS, data=data, actor=actor,
    )  # fmt: skip
    return ErasureResult(rid, data, ev)
