"""C2SP signed notes and checkpoints: published vectors, round trips, malformed input."""

from __future__ import annotations

import base64
import contextlib
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from bastion.core.errors import InputError, LedgerIntegrityError
from bastion.core.ledger._note import (
    MAX_NOTE_SIZE,
    Checkpoint,
    NoteError,
    NoteSignature,
    key_hash,
    parse_checkpoint,
    parse_verifier_key,
    sign_checkpoint,
    sign_note,
    verifier_key,
    verify_checkpoint,
    verify_note,
)

# golang.org/x/mod/sumdb/note: the package documentation's example and note_test.go.
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_SIG = (
    "\u2014 PeterNeumann "
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
ENOCH_SIG = (
    "\u2014 EnochRoot "
    "rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n"
)
# The example of an earlier revision of c2sp.org/signed-note.
C2SP_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
C2SP_NOTE = (
    "This is an example message.\n\n\u2014 example.com/foo "
    "Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
)

ROOT = hashlib.sha256(b"root").digest()
ORIGIN = "bastion.example/ledger"


def _peter_private() -> Ed25519PrivateKey:
    seed = base64.b64decode(PETER_SKEY.split("+", 4)[4])
    assert seed[0] == 1
    return Ed25519PrivateKey.from_private_bytes(seed[1:])


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def note(key: Ed25519PrivateKey) -> str:
    return sign_checkpoint(Checkpoint(ORIGIN, 42, ROOT), ORIGIN, key)


# --- published vectors ------------------------------------------------------------------


def test_go_reference_note_verifies() -> None:
    name, public = parse_verifier_key(PETER_VKEY)
    assert name == "PeterNeumann"
    assert key_hash(name, public) == bytes.fromhex("c74f20a3")
    assert verifier_key(name, public) == PETER_VKEY
    assert verify_note(PETER_TEXT + "\n" + PETER_SIG, name, public) == PETER_TEXT


def test_go_reference_signature_is_reproduced_byte_for_byte() -> None:
    private = _peter_private()
    assert verifier_key("PeterNeumann", private.public_key()) == PETER_VKEY
    assert sign_note(PETER_TEXT, "PeterNeumann", private) == PETER_TEXT + "\n" + PETER_SIG


def test_go_reference_two_signers_each_verify_and_others_are_ignored() -> None:
    note = PETER_TEXT + "\n" + PETER_SIG + ENOCH_SIG
    for vkey in (PETER_VKEY, ENOCH_VKEY):
        name, public = parse_verifier_key(vkey)
        assert verify_note(note, name, public) == PETER_TEXT
    _, enoch = parse_verifier_key(ENOCH_VKEY)
    with pytest.raises(NoteError, match="no signature"):
        verify_note(PETER_TEXT + "\n" + PETER_SIG, "EnochRoot", enoch)


def test_go_reference_corrupted_signature_is_rejected() -> None:
    name, public = parse_verifier_key(PETER_VKEY)
    bad = PETER_TEXT + "\n" + PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]
    with pytest.raises(NoteError, match="invalid signature"):
        verify_note(bad, name, public)


@pytest.mark.parametrize(
    "bad",
    [
        PETER_TEXT,
        PETER_TEXT + "\n",
        PETER_TEXT + "\n" + PETER_SIG[:-1],
        "\x01" + PETER_TEXT + "\n" + PETER_SIG,
        PETER_TEXT + "\n" + PETER_SIG.replace("PeterNeumann", "Bad Name")[:-1],
        PETER_TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
        PETER_TEXT + "\n" + PETER_SIG * 101,
    ],
)
def test_go_reference_malformed_notes(bad: str) -> None:
    name, public = parse_verifier_key(PETER_VKEY)
    with pytest.raises(NoteError):
        verify_note(bad, name, public)


def test_c2sp_spec_example_verifies() -> None:
    name, public = parse_verifier_key(C2SP_VKEY)
    assert verify_note(C2SP_NOTE, name, public) == "This is an example message.\n"


@pytest.mark.parametrize(
    "vkey",
    [
        PETER_VKEY[:-1],
        PETER_VKEY + "A",
        PETER_VKEY.replace("c74f20a3", "c74f20a4"),
        PETER_VKEY.replace("c74f20a3", "C74F20A3"),
        PETER_VKEY.replace("PeterNeumann", "PeterNeuman"),
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann",
        "",
    ],
)
def test_bad_verifier_keys(vkey: str) -> None:
    with pytest.raises(NoteError):
        parse_verifier_key(vkey)


# --- checkpoints ------------------------------------------------------------------------


def test_body_format() -> None:
    cp = Checkpoint("example.com/behind-the-sofa", 20852163, ROOT, ("ext one", "ext two"))
    root_b64 = base64.b64encode(ROOT).decode()
    assert cp.body() == (f"example.com/behind-the-sofa\n20852163\n{root_b64}\next one\next two\n")


def test_round_trip(key: Ed25519PrivateKey, note: str) -> None:
    cp = verify_checkpoint(note, ORIGIN, key.public_key())
    assert cp == Checkpoint(ORIGIN, 42, ROOT)
    parsed, sigs = parse_checkpoint(note)
    assert parsed == cp
    assert len(sigs) == 1
    assert sigs[0].name == ORIGIN
    assert sigs[0].key_hash == key_hash(ORIGIN, key.public_key())
    assert len(sigs[0].signature) == 64
    lines = note.split("\n")
    assert lines[3] == ""
    assert lines[4].startswith("\u2014 " + ORIGIN + " ")


def test_round_trip_with_extensions_and_zero_size(key: Ed25519PrivateKey) -> None:
    cp = Checkpoint(ORIGIN, 0, ROOT, ("Timestamp: 1700000000",))
    assert verify_checkpoint(sign_checkpoint(cp, ORIGIN, key), ORIGIN, key.public_key()) == cp


def test_signature_covers_the_body_bytes(key: Ed25519PrivateKey, note: str) -> None:
    sig = parse_checkpoint(note)[1][0]
    key.public_key().verify(sig.signature, Checkpoint(ORIGIN, 42, ROOT).body().encode())


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("\n42\n", "\n43\n"),
        ("\n42\n", "\n420\n"),
        (ORIGIN + "\n", "bastion.example/other\n"),
        (base64.b64encode(ROOT).decode(), base64.b64encode(bytes(32)).decode()),
    ],
)
def test_tampered_checkpoint_is_rejected(
    key: Ed25519PrivateKey, note: str, old: str, new: str
) -> None:
    tampered = note.replace(old, new, 1)
    assert tampered != note
    with pytest.raises(NoteError, match="invalid signature"):
        verify_checkpoint(tampered, ORIGIN, key.public_key())


def test_wrong_key_is_rejected(note: str) -> None:
    other = Ed25519PrivateKey.generate().public_key()
    with pytest.raises(NoteError, match="no signature"):
        verify_checkpoint(note, ORIGIN, other)


def test_wrong_name_is_rejected(key: Ed25519PrivateKey, note: str) -> None:
    with pytest.raises(NoteError, match="no signature"):
        verify_checkpoint(note, "bastion.example/other", key.public_key())


def test_unknown_signatures_are_ignored(key: Ed25519PrivateKey, note: str) -> None:
    witness = Ed25519PrivateKey.generate()
    cosigned = sign_checkpoint(Checkpoint(ORIGIN, 42, ROOT), "witness.example", witness)
    both = note + cosigned.split("\n\n", 1)[1]
    assert len(parse_checkpoint(both)[1]) == 2
    assert verify_checkpoint(both, ORIGIN, key.public_key()).size == 42
    assert verify_checkpoint(both, "witness.example", witness.public_key()).size == 42
    # A same-name signature by an unknown key (different key hash) is ignored as well.
    impostor = sign_checkpoint(Checkpoint(ORIGIN, 42, ROOT), ORIGIN, witness)
    mixed = impostor + note.split("\n\n", 1)[1]
    assert verify_checkpoint(mixed, ORIGIN, key.public_key()).size == 42


def _replace_root_line(note: str, line: str) -> str:
    lines = note.split("\n")
    lines[2] = line
    return "\n".join(lines)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda n: n.replace("\n\n", "\n", 1),  # missing blank line
        lambda n: n.replace("\n42\n", "\n042\n", 1),  # leading zero
        lambda n: n.replace("\n42\n", "\n+42\n", 1),
        lambda n: n.replace("\n42\n", "\n4 2\n", 1),
        lambda n: n.replace("\n42\n", "\n\u0664\u0662\n", 1),  # Arabic-Indic digits
        lambda n: n.replace("\n42\n", "\n99999999999999999999\n", 1),
        lambda n: n.replace("\n42\n", "\n\n", 1),
        lambda n: n.replace(ORIGIN + "\n", "\n", 1),  # empty origin
        lambda n: _replace_root_line(n, "not base64!"),
        lambda n: _replace_root_line(n, base64.b64encode(bytes(31)).decode()),
        lambda n: _replace_root_line(n, base64.b64encode(bytes(32)).decode().rstrip("=")),
        lambda n: _replace_root_line(n, base64.b64encode(bytes(32)).decode()[:-2] + "B="),
        lambda n: n.replace("\u2014 ", "- ", 1),  # hyphen, not em dash
        lambda n: n.replace("\u2014 ", "\u2014", 1),
        lambda n: n[:-1],  # no final newline
        lambda n: n + "\n",
        lambda n: n.replace("\n", "\r\n"),
        lambda n: n.split("\n\n")[0] + "\n\n",  # no signatures
        lambda n: n.replace("=\n", "\n"),  # signature base64 unpadded
        lambda n: n.rsplit(" ", 1)[0] + " AAAA\n",  # signature too short
        lambda n: "\n".join(n.split("\n")[1:]),  # origin line dropped
        lambda n: n.replace("\n42\n", "\n42\n\n", 1),  # empty extension line
        lambda n: n.replace(ORIGIN, "a\x00b"),
        lambda n: "\ud800" + n,
    ],
)
def test_malformed_notes_give_note_error(key: Ed25519PrivateKey, note: str, mutate: object) -> None:
    assert callable(mutate)
    bad = mutate(note)
    assert bad != note
    with pytest.raises(NoteError):
        parse_checkpoint(bad)
    with pytest.raises(NoteError):
        verify_checkpoint(bad, ORIGIN, key.public_key())


def test_huge_input_is_refused_before_parsing(key: Ed25519PrivateKey, note: str) -> None:
    huge = "x" * MAX_NOTE_SIZE + note
    with pytest.raises(NoteError, match="larger than"):
        parse_checkpoint(huge)
    multibyte = "\u20ac" * (MAX_NOTE_SIZE // 3 + 1) + "\n" + note
    with pytest.raises(NoteError, match="larger than"):
        verify_checkpoint(multibyte, ORIGIN, key.public_key())


def test_note_error_is_an_integrity_error() -> None:
    assert issubclass(NoteError, LedgerIntegrityError)


def test_key_hash_definition(key: Ed25519PrivateKey) -> None:
    public = key.public_key()
    raw = parse_checkpoint(sign_checkpoint(Checkpoint(ORIGIN, 1, ROOT), "n", key))[1][0]
    assert raw == NoteSignature("n", key_hash("n", public), raw.signature)
    vkey = verifier_key("n", public)
    name, parsed = parse_verifier_key(vkey)
    assert name == "n"
    assert key_hash("n", parsed) == key_hash("n", public)
    assert key_hash("n", public) == bytes.fromhex(vkey.split("+")[1])


@pytest.mark.parametrize(
    "kwargs",
    [
        {"origin": ""},
        {"origin": "two\nlines"},
        {"size": -1},
        {"size": 2**63},
        {"root_hash": b"short"},
        {"extensions": ("",)},
        {"extensions": ("a\nb",)},
    ],
)
def test_invalid_checkpoint_fields(kwargs: dict[str, object]) -> None:
    fields: dict[str, object] = {"origin": ORIGIN, "size": 1, "root_hash": ROOT}
    fields.update(kwargs)
    with pytest.raises(InputError):
        Checkpoint(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["", "a b", "a+b", "tab\there", "nl\n"])
def test_invalid_key_names(key: Ed25519PrivateKey, name: str) -> None:
    with pytest.raises(InputError):
        sign_checkpoint(Checkpoint(ORIGIN, 1, ROOT), name, key)
    with pytest.raises(InputError):
        verifier_key(name, key.public_key())


@pytest.mark.parametrize("text", ["", "no newline", "ctrl\x07\n"])
def test_sign_note_refuses_bad_text(key: Ed25519PrivateKey, text: str) -> None:
    with pytest.raises(NoteError):
        sign_note(text, "n", key)


# --- fuzzing ----------------------------------------------------------------------------

_PIECES = st.sampled_from(
    [
        "\n",
        "\n\n",
        "\u2014 ",
        " ",
        ORIGIN,
        "42",
        "0",
        "007",
        base64.b64encode(ROOT).decode(),
        "AAAA",
        "====",
        "+",
        "\x00",
        "\r",
        "\ud800",
        "\u2014",
        "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=",
    ]
)
_NOISY_TEXT = st.one_of(
    st.text(alphabet=st.characters(codec=None), max_size=400),
    st.lists(st.one_of(_PIECES, st.text(max_size=5)), max_size=40).map("".join),
)


@settings(max_examples=400, deadline=None)
@given(_NOISY_TEXT)
def test_parse_checkpoint_fuzz_only_raises_note_error(text: str) -> None:
    with contextlib.suppress(NoteError):
        parse_checkpoint(text)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_mutated_valid_note_only_raises_note_error(data: st.DataObject) -> None:
    key = _peter_private()
    note = sign_checkpoint(Checkpoint(ORIGIN, 42, ROOT, ("ext",)), "PeterNeumann", key)
    pos = data.draw(st.integers(0, len(note)))
    cut = data.draw(st.integers(0, 3))
    insert = data.draw(st.one_of(_PIECES, st.text(max_size=3)))
    mutated = note[:pos] + insert + note[pos + cut :]
    try:
        cp = verify_checkpoint(mutated, "PeterNeumann", key.public_key())
    except NoteError:
        return
    # Anything that still verifies must say exactly what was signed.
    assert cp == Checkpoint(ORIGIN, 42, ROOT, ("ext",))


def test_verifier_key_whose_base64_holds_a_plus_round_trips() -> None:
    # Regression: the key part is base64 and may itself contain '+'.
    for i in range(256):
        private = Ed25519PrivateKey.from_private_bytes(bytes([i]) * 32)
        vkey = verifier_key("n", private.public_key())
        if "+" in vkey.split("+", 2)[2]:
            break
    else:  # pragma: no cover
        pytest.fail("no seed gave a '+' in the key's base64")
    name, public = parse_verifier_key(vkey)
    assert (name, verifier_key(name, public)) == ("n", vkey)
