"""PII detection: validators, recognizers, context, overlap, column classification, scans."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from faker import Faker

from bastion.core.checks import run_check
from bastion.core.errors import InputError
from bastion.core.types import Subject, Verdict
from bastion.core.workspace import Workspace
from bastion.privacy.pii import (
    NerUnavailableError,
    PiiScanCheck,
    analyze_text,
    person_recognizer,
    record_scan,
    scan_content,
    scan_file,
    scan_table,
)
from bastion.privacy.pii import _validators as v


def _types(text: str) -> list[tuple[str, str]]:
    return [(e.entity_type, text[e.start : e.end]) for e in analyze_text(text)]


def test_validators_checksums() -> None:
    assert v.luhn_ok("4111 1111 1111 1111") and not v.luhn_ok("4111 1111 1111 1112")
    assert v.iban_ok("GB82 WEST 1234 5698 7654 32") and not v.iban_ok("GB82 WEST 1234 5698 7654 33")
    assert v.us_ssn_ok("123-45-6780")
    for bad in (
        "000-12-3456",
        "666-12-3456",
        "912-12-3456",
        "123-00-4567",
        "123-45-0000",
        "123-45 6789",
    ):
        assert not v.us_ssn_ok(bad), bad
    assert v.uk_nhs_ok("943 476 5919") and not v.uk_nhs_ok("943 476 5918")
    assert v.es_nif_ok("12345678Z") and not v.es_nif_ok("12345678A")
    assert v.aadhaar_ok("2341 2341 2346") and not v.aadhaar_ok("2341 2341 2345")
    assert v.sg_nric_ok("S1234567D") and not v.sg_nric_ok("S1234567A")
    assert v.au_tfn_ok("123 456 782") and not v.au_tfn_ok("123 456 789")


def test_entities_with_offsets_scores_and_recognizers() -> None:
    text = "Mail jane@example.org, SSN 123-45-6780, IBAN DE89 3704 0044 0532 0130 00, host 10.0.0.7"
    got = analyze_text(text)
    assert [(e.entity_type, text[e.start : e.end]) for e in got] == [
        ("EMAIL_ADDRESS", "jane@example.org"),
        ("US_SSN", "123-45-6780"),
        ("IBAN_CODE", "DE89 3704 0044 0532 0130 00"),
        ("IP_ADDRESS", "10.0.0.7"),
    ]
    assert all(0.5 <= e.score <= 1.0 and e.recognizer.endswith("Recognizer") for e in got)


def test_invalid_checksums_are_not_reported() -> None:
    assert _types("card 4111 1111 1111 1112 and iban GB82 WEST 1234 5698 7654 33") == []


def test_card_is_never_also_a_bank_number() -> None:
    """Presidio reports every card number also as US_BANK_NUMBER; here one entity wins."""
    text = "bank account card 4111111111111111"
    assert _types(text) == [("CREDIT_CARD", "4111111111111111")]


def test_context_words_raise_and_gate_scores() -> None:
    without = analyze_text("ref 123456789")
    assert not [e for e in without if e.entity_type in ("US_PASSPORT", "US_SSN")]
    assert ("US_PASSPORT", "123456789") in _types("passport number 123456789")
    bare = analyze_text("4111111111111111")[0].score
    ctx = analyze_text("credit card 4111111111111111")[0].score
    assert ctx > bare


def test_secrets_and_keys() -> None:
    types = {t for t, _ in _types("aws AKIAIOSFODNN7EXAMPLE -----BEGIN RSA PRIVATE KEY-----")}
    assert types == {"API_KEY", "PRIVATE_KEY"}
    assert ("API_KEY", "aB3xY9qZ7LmN2pQ8rS4t") in _types("api_key = 'aB3xY9qZ7LmN2pQ8rS4t'")


def test_national_ids_need_their_checksum() -> None:
    assert ("ES_NIF", "12345678Z") in _types("DNI 12345678Z")
    assert ("SG_NRIC_FIN", "S1234567D") in _types("NRIC S1234567D")
    assert ("UK_NHS", "943 476 5919") in _types("NHS number 943 476 5919")


def test_faker_values_are_found() -> None:
    fake = Faker("en_US")
    Faker.seed(7)
    for _ in range(200):
        for entity, value in (
            ("EMAIL_ADDRESS", fake.email()),
            ("CREDIT_CARD", fake.credit_card_number()),
            ("US_SSN", fake.ssn()),
            ("PHONE_NUMBER", fake.phone_number()),
            ("IP_ADDRESS", fake.ipv4()),
        ):
            text = f"value: {value} end"
            assert (entity, value) in _types(text), (entity, value)


def test_column_classification_from_name_and_values() -> None:
    fake = Faker("en_US")
    Faker.seed(3)
    n = 200
    table = pa.table(
        {
            "customer_id": [str(i) for i in range(n)],
            "contact": [fake.email() for _ in range(n)],
            "ssn": [fake.ssn() for _ in range(n)],
            "first_name": [fake.first_name() for _ in range(n)],
            "created": [fake.date() for _ in range(n)],
            "dob": [fake.date_of_birth().isoformat() for _ in range(n)],
            "comment": [f"call {fake.phone_number()}" if i % 3 == 0 else "ok" for i in range(n)],
            "amount": [str(fake.pyint()) for _ in range(n)],
        }
    )
    scan = {c.column: c for c in scan_table(table).columns}
    assert scan["contact"].entity == "EMAIL_ADDRESS" and scan["contact"].basis == "values"
    assert scan["ssn"].entity == "US_SSN" and scan["ssn"].basis == "name+values"
    assert scan["first_name"].entity == "PERSON" and scan["first_name"].basis == "name"
    assert scan["dob"].entity == "DATE_OF_BIRTH" and scan["dob"].pii
    assert scan["created"].entity == "DATE_TIME" and not scan["created"].pii
    assert scan["comment"].embedded and scan["comment"].entity == "PHONE_NUMBER"
    assert not scan["customer_id"].pii and not scan["amount"].pii


def test_pandas_dataframe_is_classified() -> None:
    df = pd.DataFrame({"email": ["a@example.com", "b@example.org"], "n": [1, 2]})
    got = {c.column: c.entity for c in scan_table(df).columns}
    assert got == {"email": "EMAIL_ADDRESS", "n": None}


def test_scan_parquet_and_text(tmp_path: Path) -> None:
    p = tmp_path / "d.parquet"
    pq.write_table(pa.table({"email": ["x@example.com"] * 5, "v": [1, 2, 3, 4, 5]}), p)
    s = scan_file(p)
    assert s.format == "parquet" and [c.column for c in s.table.pii_columns] == ["email"]  # type: ignore[union-attr]
    t = tmp_path / "n.txt"
    t.write_text("line one\nmail me: x@example.com\n", encoding="utf-8")
    s2 = scan_file(t)
    assert s2.format == "text"
    (e,) = s2.entities
    assert t.read_text()[e.start : e.end] == "x@example.com"


def test_finding_01_ragged_csv_is_a_clear_error_without_content(tmp_path: Path) -> None:
    p = tmp_path / "r.csv"
    p.write_text("a,b,c\n1,2,3\nSECRET-VALUE,2\n", encoding="utf-8")
    with pytest.raises(InputError) as ei:
        scan_file(p)
    assert "ragged" in ei.value.message and "SECRET-VALUE" not in ei.value.message


def test_finding_02_upload_name_is_never_a_path() -> None:
    with pytest.raises(InputError):
        scan_content(b"x", "../../etc/passwd")
    assert scan_content(b"email,x\na@example.com,1\n", "f.csv").format == "csv"


def test_ner_adapter_not_installed_is_a_clear_message() -> None:
    with pytest.raises(NerUnavailableError) as ei:
        person_recognizer("xx_no_such_model_here")
    assert "not installed" in ei.value.message and "never downloads" in ei.value.message


def test_pii_scan_check_evidence(ws: Workspace, tmp_path: Path) -> None:
    p = tmp_path / "applicants.csv"
    p.write_text("name,email,score\nAna,ana@example.com,1\nBo,bo@example.org,2\n", encoding="utf-8")
    ev = record_scan(ws, path=p, ref="applicants")
    assert ev.check_id == "privacy.pii_scan" and ev.verdict is Verdict.WARN
    import hashlib

    assert ev.subject.digest == "sha256:" + hashlib.sha256(p.read_bytes()).hexdigest()
    data = PiiScanCheck.read(ev)
    assert set(data.pii_columns) == {"name", "email"}
    assert "ana@example.com" not in str(ev.to_dict())  # never values in evidence
    secret = tmp_path / "s.txt"
    secret.write_text("token: ghp_" + "a1" * 18 + "\n", encoding="utf-8")
    ev2 = run_check(ws, PiiScanCheck, Subject("dataset", "s"), params={"path": str(secret)})
    assert ev2.verdict is Verdict.FAIL
