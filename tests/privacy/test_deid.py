"""De-identification operators, keys, FF3-1 (NIST vectors) and the token vault."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from ff3 import FF3Cipher
from hypothesis import given, settings
from hypothesis import strategies as st

from bastion.core.errors import InputError, KeyringError
from bastion.core.workspace import Workspace
from bastion.privacy.deid import (
    Fpe,
    GeneralizeOp,
    HashOp,
    KeyringKeyProvider,
    MaskOp,
    RedactOp,
    TokenVault,
    key_provider,
)

# NIST SP 800-38G samples (FF3, 64-bit tweaks): the cipher core FF3-1 is built on.
NIST_FF3 = [
    ("EF4359D8D580AA4F7F036D6F04FC6A94", "D8E7920AFA330A73", "890121234567890000", "750918814058654607"),
    ("EF4359D8D580AA4F7F036D6F04FC6A94", "9A768A92F60E12D8", "890121234567890000", "018989839189395384"),
    ("EF4359D8D580AA4F7F036D6F04FC6A94", "D8E7920AFA330A73", "89012123456789000000789000000", "48598367162252569629397416226"),
    ("EF4359D8D580AA4F7F036D6F04FC6A94", "0000000000000000", "89012123456789000000789000000", "34695224821734535122613701434"),
]  # fmt: skip
# FF3-1 (56-bit tweak) sample, as published for the revised mode (NIST ACVP).
NIST_FF3_1 = [("2DE79D232DF5585D68CE47882AE256D6", "CBD09280979564", "3992520240", "8901801106")]


@pytest.mark.parametrize(("key", "tweak", "pt", "ct"), NIST_FF3 + NIST_FF3_1)
def test_ff3_nist_sample_vectors(key: str, tweak: str, pt: str, ct: str) -> None:
    c = FF3Cipher(key, tweak, 10)
    assert c.encrypt(pt) == ct and c.decrypt(ct) == pt


def test_ff3_1_vector_through_our_wrapper() -> None:
    key, tweak, pt, ct = NIST_FF3_1[0]
    f = Fpe(bytes.fromhex(key), tweak)
    assert f.encrypt(pt) == ct and f.decrypt(ct) == pt


def test_fpe_keeps_format_and_tweaks_per_column() -> None:
    key = bytes(range(32))
    from bastion.privacy.deid import column_tweak

    a = Fpe(key, column_tweak(key, "ssn")).encrypt("123-45-6789")
    b = Fpe(key, column_tweak(key, "other")).encrypt("123-45-6789")
    assert a != b and a[3] == "-" and a[6] == "-" and a.replace("-", "").isdigit()
    with pytest.raises(InputError) as ei:
        Fpe(key, column_tweak(key, "x")).encrypt("12-34")
    assert "12-34" not in ei.value.message


def test_operators() -> None:
    assert MaskOp(keep_last=4).apply(["4111-1111-1111-1111", None]) == ["****-****-****-1111", None]
    assert MaskOp(keep_last=4).apply(["123"]) == ["***"]  # short values are masked whole
    assert RedactOp().apply(["x", None]) == ["", None]
    g = GeneralizeOp(to="year").apply(["1985-03-04", "12/31/1990"])
    assert g == ["1985", "1990"]
    assert GeneralizeOp(to="month").apply(["1985-03-04"]) == ["1985-03"]
    assert GeneralizeOp(keep=3).apply(["02134"]) == ["021**"]
    assert GeneralizeOp(bucket=10000).apply(["25300", "9999"]) == ["20000-30000", "0-10000"]
    op = GeneralizeOp(to="year")
    op.column = "dob"
    with pytest.raises(InputError) as ei:
        op.apply(["not-a-date-secret"])
    assert "dob" in ei.value.message and "not-a-date-secret" not in ei.value.message


def test_hmac_hash_is_keyed_and_joinable(tmp_path: Path) -> None:
    keys = KeyringKeyProvider(tmp_path / "k")
    k = keys.key("hash-default")[1]
    a, b = HashOp(k).apply(["alice@example.com"]), HashOp(k).apply(["alice@example.com"])
    assert a == b  # deterministic: two tables hashed with one key still join
    other = HashOp(KeyringKeyProvider(tmp_path / "k2").key("hash-default")[1]).apply(
        ["alice@example.com"]
    )
    assert other != a
    import hashlib

    assert a[0] != hashlib.sha256(b"alice@example.com").hexdigest()[:32]


def test_keys_are_private_and_versioned(tmp_path: Path) -> None:
    keys = KeyringKeyProvider(tmp_path / "deid")
    v1, k1 = keys.key("fpe-default")
    assert v1 == 1 and len(k1) == 32
    path = tmp_path / "deid" / "fpe-default.v1.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert keys.rotate("fpe-default") == 2
    assert keys.key("fpe-default")[0] == 2 and keys.key("fpe-default", 1)[1] == k1
    path.chmod(0o644)
    with pytest.raises(KeyringError):
        keys.key("fpe-default", 1)
    with pytest.raises(InputError):
        keys.key("../escape")


def test_vault_tokens_are_deterministic_and_detokenization_is_audited(ws: Workspace) -> None:
    vault = TokenVault(ws)
    t1 = vault.tokenize(["alice", "bob", "alice"], "customers")
    assert t1[0] == t1[2] != t1[1] and all(t.startswith("tok_") for t in t1)
    assert vault.tokenize(["alice"], "customers")[0] == t1[0]  # referential integrity
    assert vault.tokenize(["alice"], "other")[0] != t1[0]
    assert vault.count("customers") == 2
    res = vault.detokenize([t1[0], t1[1]], "customers", actor="tester", reason="ticket 42")
    assert res.values == {t1[0]: "alice", t1[1]: "bob"}
    (entry,) = ws.ledger.entries(kind="privacy.detokenize")
    assert entry.seq == res.ledger_seq and entry.actor == "tester"
    assert entry.data["reason"] == "ticket 42" and entry.data["returned"] == 2
    assert "alice" not in str(entry.data) and "bob" not in str(entry.data)
    with pytest.raises(InputError):
        vault.detokenize([t1[0]], "customers", actor="tester", reason="")


def test_vault_rotation_retokenizes(ws: Workspace) -> None:
    vault = TokenVault(ws)
    (old,) = vault.tokenize(["carol"], "ns1")
    r = vault.rotate("ns1", actor="tester")
    assert (r.from_version, r.to_version, r.retokenized) == (1, 2, 1)
    (new,) = vault.tokenize(["carol"], "ns1")
    assert new != old and vault.retokenize([old], "ns1") == {old: new}
    assert vault.detokenize([new], "ns1", actor="t", reason="check rotation").values == {
        new: "carol"
    }
    assert vault.detokenize([old], "ns1", actor="t", reason="old token").missing == (old,)
    assert key_provider(ws).key("vault-ns1")[0] == 2


@given(
    st.lists(
        st.one_of(st.none(), st.text(alphabet=st.characters(max_codepoint=127), max_size=30)),
        max_size=30,
    )
)
@settings(max_examples=200, deadline=None)
def test_vectorised_operators_agree_with_the_per_value_path(values: list[str | None]) -> None:
    import pyarrow as pa

    col = pa.array(values, type=pa.string())
    for op in (
        MaskOp(keep_last=4),
        MaskOp(keep_first=2, keep_last=1),
        MaskOp(keep_last=0),
        RedactOp("x"),
    ):
        assert op.apply_arrow(col).to_pylist() == op.apply(values)
    dates = [None if v is None else f"19{len(v) % 90 + 10}-0{len(v) % 9 + 1}-15" for v in values]
    g = GeneralizeOp(to="month")
    assert g.apply_arrow(pa.array(dates, type=pa.string())).to_pylist() == g.apply(dates)
