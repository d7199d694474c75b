"""PII detection in text and tables (issue 9 section 1).

Validated recognizers (Luhn, IBAN mod 97, SSN rules, national-ID checksums, known key
formats) with context words, entity names compatible with Microsoft Presidio's, column
classification of CSV/Parquet/pandas/Arrow tables from column names and sampled values,
an optional spaCy NER adapter for person names (never downloads a model), and the
``privacy.pii_scan`` check.
"""

from __future__ import annotations

from bastion.privacy.pii._analyzer import DEFAULT_THRESHOLD, Analyzer, EntityMatch, analyze_text
from bastion.privacy.pii._checks import PiiColumnData, PiiScanCheck, PiiScanData
from bastion.privacy.pii._io import TableFormat, detect_format, iter_batches, read_schema
from bastion.privacy.pii._ner import NerUnavailableError, person_recognizer
from bastion.privacy.pii._public import (
    MAX_UPLOAD_BYTES,
    latest_scans,
    record_scan,
    safe_upload_name,
    scan_content,
)
from bastion.privacy.pii._recognizers import ENTITY_TYPES, Recognizer, builtin_recognizers
from bastion.privacy.pii._tables import (
    ColumnClassification,
    FileScan,
    TableScan,
    classify_column,
    file_digest,
    name_hint,
    scan_file,
    scan_table,
    scan_text,
)

__all__ = [
    "DEFAULT_THRESHOLD",
    "ENTITY_TYPES",
    "MAX_UPLOAD_BYTES",
    "Analyzer",
    "ColumnClassification",
    "EntityMatch",
    "FileScan",
    "NerUnavailableError",
    "PiiColumnData",
    "PiiScanCheck",
    "PiiScanData",
    "Recognizer",
    "TableFormat",
    "TableScan",
    "analyze_text",
    "builtin_recognizers",
    "classify_column",
    "detect_format",
    "file_digest",
    "iter_batches",
    "latest_scans",
    "name_hint",
    "person_recognizer",
    "read_schema",
    "record_scan",
    "safe_upload_name",
    "scan_content",
    "scan_file",
    "scan_table",
    "scan_text",
]
