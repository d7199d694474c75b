"""Masking non-production copies: CSV/Parquet in, masked CSV/Parquet out, streaming.

Bounded memory (one record batch at a time), a progress callback, a report of what
changed, and two refusals before anything is written: policy columns the input does not
have, and unmasked columns classified as PII (or that cannot be classified) that the
caller has not explicitly allowed. The output is written to a temporary file beside the
destination and renamed into place only when complete: an error leaves no partial file.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, assert_never

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from bastion.core.checks import record_evidence
from bastion.core.errors import InputError
from bastion.core.types import Subject, Verdict
from bastion.privacy.deid._checks import MaskedColumn, MaskingCheck, MaskingData
from bastion.privacy.deid._keys import KeyProvider, key_provider
from bastion.privacy.deid._operators import (
    FpeOp,
    GeneralizeOp,
    HashOp,
    MaskOp,
    Operator,
    RedactOp,
    ReplaceOp,
    TokenizeOp,
    fpe_key,
    hash_key,
)
from bastion.privacy.deid._policy import MaskingPolicy, OperatorName, parse_policy
from bastion.privacy.deid._vault import TokenVault
from bastion.privacy.pii import (
    TableFormat,
    detect_format,
    file_digest,
    iter_batches,
    read_schema,
    scan_table,
)

if TYPE_CHECKING:
    from bastion.core.types import Evidence
    from bastion.core.workspace import Workspace

__all__ = ["MaskReport", "build_operator", "mask_content", "mask_file"]

Progress = Callable[[int, int | None], None]
SAMPLE_ROWS = 1000
_MASKABLE = (
    pa.types.is_string, pa.types.is_large_string, pa.types.is_integer, pa.types.is_floating,
    pa.types.is_date, pa.types.is_timestamp, pa.types.is_boolean, pa.types.is_decimal,
)  # fmt: skip


@dataclass(frozen=True)
class MaskReport:
    input_name: str
    input_digest: str
    output: Path
    output_digest: str
    policy_digest: str
    format: str
    rows: int
    columns: tuple[MaskedColumn, ...]
    passed_through: tuple[str, ...]
    allowed_unmasked: tuple[str, ...]
    evidence: Evidence | None = field(default=None, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "input": self.input_name,
            "input_digest": self.input_digest,
            "output": self.output.name,
            "output_digest": self.output_digest,
            "policy_digest": self.policy_digest,
            "format": self.format,
            "rows": self.rows,
            "columns": [c.model_dump() for c in self.columns],
            "passed_through": list(self.passed_through),
            "allowed_unmasked": list(self.allowed_unmasked),
            "evidence_id": self.evidence.id if self.evidence is not None else None,
        }


def build_operator(column: str, rule: Any, keys: KeyProvider, vault: TokenVault | None) -> Operator:
    p = rule.params()
    op: Operator
    name: OperatorName = rule.operator
    match name:
        case OperatorName.REDACT:
            op = RedactOp(p.get("value", ""))
        case OperatorName.REPLACE:
            op = ReplaceOp(p["value"])
        case OperatorName.MASK:
            op = MaskOp(
                p.get("char", "*"),
                p.get("keep_first", 0),
                p.get("keep_last", 4),
                p.get("keep_separators", True),
            )
        case OperatorName.HASH:
            op = HashOp(
                hash_key(keys, p.get("key", "default")), p.get("length", 32), p.get("prefix", "")
            )
        case OperatorName.TOKENIZE:
            if vault is None:
                raise InputError(f"column {column!r}: tokenize needs a workspace (the token vault)")
            op = TokenizeOp(vault, p["namespace"])
        case OperatorName.FPE:
            op = FpeOp(
                fpe_key(keys, p.get("key", "default")),
                column,
                p.get("alphabet", "digits"),
                p.get("tweak"),
            )
        case OperatorName.GENERALIZE:
            op = GeneralizeOp(p.get("to"), p.get("keep"), p.get("bucket"), p.get("fill", "*"))
        case _ as unreachable:
            assert_never(unreachable)
    op.column = column
    op.on_error = p.get("on_error", "fail")
    return op


def _refuse_unmasked(
    path: Path, fmt: TableFormat, schema: pa.Schema, policy: MaskingPolicy, allowed: set[str]
) -> tuple[str, ...]:
    others = [n for n in schema.names if n not in policy.columns]
    if not others:
        return ()
    batches = []
    got = 0
    for b in iter_batches(path, fmt, batch_rows=SAMPLE_ROWS):
        batches.append(b.select(others))
        got += b.num_rows
        if got >= SAMPLE_ROWS:
            break
    table = pa.Table.from_batches(batches, schema=batches[0].schema) if batches else None
    problems: list[str] = []
    if table is not None:
        scan = scan_table(table, sample=SAMPLE_ROWS)
        problems += [
            f"{c.column} ({c.entity})" for c in scan.pii_columns if c.column not in allowed
        ]
        problems += [
            f"{n} (cannot be classified: {why})"
            for n, why in scan.skipped.items()
            if n not in allowed
        ]
    if problems:
        raise InputError(
            f"{path.name}: refusing to write a copy that still holds PII: column(s) "
            f"{', '.join(problems)} are not covered by the policy; add a rule for each, or "
            "allow them explicitly (--allow-unmasked COLUMN)"
        )
    return tuple(others)


def _out_format(out: Path, default: TableFormat) -> TableFormat:
    suffix = out.suffix.lower()
    if suffix == ".parquet":
        return TableFormat.PARQUET
    if suffix in (".csv", ".tsv"):
        return TableFormat.CSV
    return default


def mask_file(
    input: Path,
    policy: MaskingPolicy,
    out: Path,
    *,
    ws: Workspace | None = None,
    keys: KeyProvider | None = None,
    allow_unmasked: Iterable[str] = (),
    progress: Progress | None = None,
    actor: str = "system",
    record: bool = True,
    input_label: str | None = None,
    output_label: str | None = None,
) -> MaskReport:
    """Write a masked copy of ``input`` to ``out`` by ``policy``; with a workspace the run
    is recorded as ``privacy.masking`` evidence (input and output digests)."""
    fmt = detect_format(input)
    if fmt is None:
        raise InputError(f"{input.name}: not a CSV/TSV or Parquet file")
    if os.path.realpath(out) == os.path.realpath(input):
        raise InputError("output: must not be the input file")
    if not out.parent.is_dir():
        raise InputError(f"output: directory {out.parent} does not exist")
    if keys is None:
        if ws is None:
            raise InputError("masking needs a workspace or a key provider for its keys")
        keys = key_provider(ws)
    schema = read_schema(input, fmt)
    unknown = [c for c in policy.columns if c not in schema.names]
    if unknown:
        raise InputError(
            f"policy: column(s) {', '.join(repr(c)[:80] for c in unknown)} are not in "
            f"{input.name} (its columns: {', '.join(schema.names)[:500]})"
        )
    for col in policy.columns:
        t = schema.field(col).type
        if not any(f(t) for f in _MASKABLE):
            raise InputError(
                f"{input.name}: column {col!r} has type {t}, which masking does not support "
                "(strings, numbers, booleans, dates and timestamps)"
            )
    allowed = set(allow_unmasked) | set(policy.allow_unmasked)
    bad_allowed = allowed - set(schema.names)
    if bad_allowed:
        raise InputError(
            f"allow-unmasked: no column(s) {', '.join(sorted(bad_allowed))} in {input.name}"
        )
    passed = _refuse_unmasked(input, fmt, schema, policy, allowed)
    vault = TokenVault(ws, keys) if ws is not None else None
    ops = {c: build_operator(c, r, keys, vault) for c, r in policy.columns.items()}
    in_digest, _size = file_digest(input)
    before = input.stat()
    ofmt = _out_format(out, fmt)
    out_schema = pa.schema([pa.field(f.name, pa.string()) if f.name in ops else f for f in schema])
    total: int | None = None
    if fmt is TableFormat.PARQUET:
        total = pq.ParquetFile(input).metadata.num_rows
    changed = dict.fromkeys(ops, 0)
    rows = 0
    fd, tmp_name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".part")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        writer: Any
        if ofmt is TableFormat.PARQUET:
            writer = pq.ParquetWriter(tmp, out_schema)
        else:
            writer = pacsv.CSVWriter(
                tmp,
                out_schema,
                write_options=pacsv.WriteOptions(
                    delimiter="\t" if out.suffix.lower() == ".tsv" else ","
                ),
            )
        with contextlib.closing(writer):
            for batch in iter_batches(input, fmt):
                arrays = []
                for name, col in zip(batch.schema.names, batch.columns, strict=True):
                    op = ops.get(name)
                    if op is None:
                        arrays.append(col)
                        continue
                    if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
                        col = pc.cast(col, pa.string())
                    new = op.apply_arrow(col)
                    diff = pc.sum(pc.fill_null(pc.not_equal(col, new), False)).as_py()
                    changed[name] += int(diff or 0)
                    arrays.append(new)
                writer.write_batch(pa.RecordBatch.from_arrays(arrays, schema=out_schema))
                rows += batch.num_rows
                if progress is not None:
                    progress(rows, total)
        after = input.stat()
        if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
            raise InputError(f"{input.name}: the input changed while it was masked")
        with tmp.open("rb+") as f:
            os.fsync(f.fileno())
        out_digest, _ = file_digest(tmp)
        os.chmod(tmp, 0o600)
        os.replace(tmp, out)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    cols = tuple(MaskedColumn(column=c, operator=ops[c].name, changed=changed[c]) for c in ops)
    in_name = input_label or input.name
    out_name = output_label or out.name
    evidence = None
    if ws is not None and record:
        evidence = record_evidence(
            ws,
            MaskingCheck,
            Subject("dataset", in_name, in_digest),
            verdict=Verdict.PASS,
            data=MaskingData(
                input_name=in_name,
                input_digest=in_digest,
                output_name=out_name,
                output_digest=out_digest,
                policy_digest=policy.digest(),
                format=ofmt.value,
                rows=rows,
                columns=cols,
                passed_through=passed,
                allowed_unmasked=tuple(sorted(allowed)),
            ),
            actor=actor,
        )
        from bastion.privacy.lineage import masking_lineage

        masking_lineage(
            ws, input=input, output=out, input_label=input_label, output_label=output_label,
            input_digest=in_digest, output_digest=out_digest,
            fields=[(f.name, str(f.type)) for f in schema],
            operators={c: ops[c].name for c in ops}, evidence_id=evidence.id, actor=actor,
        )  # fmt: skip
    return MaskReport(
        in_name, in_digest, out, out_digest, policy.digest(), ofmt.value, rows, cols, passed,
        tuple(sorted(allowed)), evidence,
    )  # fmt: skip


MAX_MASK_UPLOAD = 32 * 1024 * 1024


def mask_content(
    ws: Workspace,
    content: bytes,
    policy_text: str,
    *,
    fmt: str = "csv",
    allow_unmasked: Iterable[str] = (),
    actor: str = "system",
    name: str = "upload",
) -> tuple[bytes, MaskReport]:
    """Mask uploaded content (an API caller's; server paths are chosen here, never by it)."""
    if len(content) > MAX_MASK_UPLOAD:
        raise InputError(f"content: larger than {MAX_MASK_UPLOAD} bytes")
    if fmt not in ("csv", "parquet"):
        raise InputError("format: expected csv or parquet")
    policy = parse_policy(policy_text, "policy")
    digest = hashlib.sha256(content).hexdigest()[:12]
    with tempfile.TemporaryDirectory(prefix="bastion-mask-") as tmp:
        src = Path(tmp) / f"input.{fmt}"
        src.write_bytes(content)
        dst = Path(tmp) / f"masked.{fmt}"
        report = mask_file(
            src, policy, dst, ws=ws, allow_unmasked=allow_unmasked, actor=actor,
            input_label=f"{name}#{digest}", output_label=f"{name}.masked.{fmt}",
        )  # fmt: skip
        return dst.read_bytes(), report
