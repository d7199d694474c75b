"""C2SP signed notes and transparency-log checkpoints, with Ed25519.

A checkpoint binds a log's origin, size and root hash under a signature. We use the
C2SP formats (https://c2sp.org/signed-note, https://c2sp.org/tlog-checkpoint) so that the
Go ecosystem's tools (golang.org/x/mod/sumdb/note, witnesses, Sigstore's Rekor v2) can read
and cosign our checkpoints unchanged.

Parsing is strict and bounded: a note is untrusted input, so every malformation is a
:class:`NoteError`, never another exception.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from bastion.core.errors import InputError, LedgerIntegrityError

__all__ = [
    "MAX_NOTE_SIZE",
    "MAX_SIGNATURES",
    "Checkpoint",
    "CheckpointSigner",
    "NoteError",
    "NoteSignature",
    "key_hash",
    "parse_checkpoint",
    "parse_verifier_key",
    "sign_checkpoint",
    "sign_note",
    "verifier_key",
    "verify_checkpoint",
    "verify_note",
]

#: Largest note accepted, in UTF-8 bytes: checked before any other parsing.
MAX_NOTE_SIZE = 1 << 20
#: Most signature lines accepted (the spec asks for at least 16).
MAX_SIGNATURES = 100

_ALG_ED25519 = b"\x01"
_SIG_PREFIX = "\u2014 "  # EM DASH, space
_ROOT_SIZE = 32
_MAX_TREE_SIZE = (1 << 63) - 1
_SIZE_RE = re.compile(r"0|[1-9][0-9]{0,18}")
_BASE64_RE = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_CONTROL_RE = re.compile(r"[\x00-\x09\x0b-\x1f]")


class NoteError(LedgerIntegrityError):
    """A signed note or checkpoint is malformed or its signature does not verify."""

    title = "Invalid signed note"


@dataclass(frozen=True)
class NoteSignature:
    """One signature line: who claims to have signed, and the raw signature bytes."""

    name: str
    key_hash: bytes
    signature: bytes


@dataclass(frozen=True)
class Checkpoint:
    """A log's signed tree head: origin, size and RFC 9162 root hash."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.origin or "\n" in self.origin or _CONTROL_RE.search(self.origin):
            raise InputError("checkpoint origin must be one non-empty line")
        if not 0 <= self.size <= _MAX_TREE_SIZE:
            raise InputError(f"checkpoint size {self.size} is out of range")
        if len(self.root_hash) != _ROOT_SIZE:
            raise InputError(f"checkpoint root hash must be {_ROOT_SIZE} bytes")
        for ext in self.extensions:
            if not ext or "\n" in ext or _CONTROL_RE.search(ext):
                raise InputError("checkpoint extension lines must be non-empty single lines")

    def body(self) -> str:
        """The note text that gets signed."""
        lines = [self.origin, str(self.size), _b64(self.root_hash), *self.extensions]
        return "".join(line + "\n" for line in lines)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str, what: str) -> bytes:
    """Strict standard base64: padded, no whitespace, no stray bits."""
    if len(text) % 4 or not _BASE64_RE.fullmatch(text):
        raise NoteError(f"{what} is not valid base64")
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise NoteError(f"{what} is not valid base64") from exc
    if _b64(data) != text:
        raise NoteError(f"{what} is not canonical base64")
    return data


def _valid_name(name: str) -> bool:
    return bool(name) and "+" not in name and not any(c.isspace() for c in name)


def _raw_public(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_hash(name: str, public_key: Ed25519PublicKey) -> bytes:
    """The 4-byte key ID: SHA-256(name || 0x0A || 0x01 || public key)[:4]."""
    data = name.encode("utf-8") + b"\n" + _ALG_ED25519 + _raw_public(public_key)
    return hashlib.sha256(data).digest()[:4]


def verifier_key(name: str, public_key: Ed25519PublicKey) -> str:
    """The ``name+hexkeyhash+base64(0x01||key)`` verifier key that clients configure."""
    if not _valid_name(name):
        raise InputError(f"invalid key name {name!r}: must be non-empty, no spaces or '+'")
    kid = key_hash(name, public_key).hex()
    return f"{name}+{kid}+{_b64(_ALG_ED25519 + _raw_public(public_key))}"


def parse_verifier_key(vkey: str) -> tuple[str, Ed25519PublicKey]:
    """Read a verifier key back into a name and an Ed25519 public key."""
    name, sep1, rest = vkey.partition("+")
    kid_hex, sep2, key_b64 = rest.partition("+")
    if not (sep1 and sep2) or not _valid_name(name):
        raise NoteError("verifier key is not name+keyhash+key")
    if not re.fullmatch(r"[0-9a-f]{8}", kid_hex):
        raise NoteError("verifier key hash is not 8 lowercase hex digits")
    raw = _unb64(key_b64, "verifier key")
    if len(raw) != 1 + _ROOT_SIZE or raw[:1] != _ALG_ED25519:
        raise NoteError("verifier key is not an Ed25519 key")
    try:
        public_key = Ed25519PublicKey.from_public_bytes(raw[1:])
    except ValueError as exc:
        raise NoteError("verifier key is not a valid Ed25519 key") from exc
    if key_hash(name, public_key).hex() != kid_hex:
        raise NoteError("verifier key hash does not match its name and key")
    return name, public_key


def _check_text(text: str) -> None:
    if not text.endswith("\n"):
        raise NoteError("note text must end with a newline")
    if _CONTROL_RE.search(text):
        raise NoteError("note holds a control character other than newline")


def sign_note(text: str, name: str, private_key: Ed25519PrivateKey) -> str:
    """Sign ``text`` (ending in a newline) and return the note with one signature line."""
    if not _valid_name(name):
        raise InputError(f"invalid key name {name!r}: must be non-empty, no spaces or '+'")
    _check_text(text)
    kid = key_hash(name, private_key.public_key())
    signature = private_key.sign(text.encode("utf-8"))
    note = f"{text}\n{_SIG_PREFIX}{name} {_b64(kid + signature)}\n"
    if _parse_note(note)[0] != text:  # also enforces the size limit
        raise NoteError("note text does not survive a round trip")
    return note


def sign_checkpoint(cp: Checkpoint, name: str, private_key: Ed25519PrivateKey) -> str:
    """Sign a checkpoint's body as a C2SP note."""
    return sign_note(cp.body(), name, private_key)


class CheckpointSigner:
    """:func:`sign_checkpoint` for one origin and key, with the key name checked and the
    key hash computed once (a group commit signs a checkpoint per batch)."""

    __slots__ = ("_key", "_name", "_prefix")

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        # A full sign_note once: the name, and an origin as a checkpoint line, are valid.
        sign_checkpoint(Checkpoint(name, 0, bytes(_ROOT_SIZE)), name, private_key)
        self._key = private_key
        self._name = name
        self._prefix = key_hash(name, private_key.public_key())

    def sign(self, cp: Checkpoint) -> str:
        if cp.origin != self._name or cp.extensions:
            return sign_checkpoint(cp, self._name, self._key)
        text = cp.body()  # origin (checked above), decimal size, base64 root: no controls
        signature = self._key.sign(text.encode("utf-8"))
        return f"{text}\n{_SIG_PREFIX}{self._name} {_b64(self._prefix + signature)}\n"


def _parse_note(note: str) -> tuple[str, list[NoteSignature]]:
    """Split a note into its text and signature lines, checking the syntax only."""
    if not isinstance(note, str):
        raise NoteError("note must be text")
    if len(note) > MAX_NOTE_SIZE:
        raise NoteError(f"note is larger than {MAX_NOTE_SIZE} bytes")
    try:
        size = len(note.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise NoteError("note is not valid UTF-8 text") from exc
    if size > MAX_NOTE_SIZE:
        raise NoteError(f"note is larger than {MAX_NOTE_SIZE} bytes")
    _check_text(note)
    split = note.rfind("\n\n")
    if split < 0:
        raise NoteError("note has no blank line before its signatures")
    text, block = note[: split + 1], note[split + 2 :]
    if not block:
        raise NoteError("note has no signature lines")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"note has more than {MAX_SIGNATURES} signatures")
    sigs: list[NoteSignature] = []
    for line in lines:
        if not line.startswith(_SIG_PREFIX):
            raise NoteError("signature line does not start with an em dash and a space")
        name, sep, sig_b64 = line[len(_SIG_PREFIX) :].partition(" ")
        if not sep or not _valid_name(name):
            raise NoteError("signature line has no valid key name")
        raw = _unb64(sig_b64, "signature")
        if len(raw) < 5:
            raise NoteError("signature is too short")
        sigs.append(NoteSignature(name=name, key_hash=raw[:4], signature=raw[4:]))
    return text, sigs


def _parse_body(text: str) -> Checkpoint:
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise NoteError("checkpoint needs origin, size and root hash lines")
    origin, size_text, root_text, *extensions = lines
    if not origin:
        raise NoteError("checkpoint origin is empty")
    if not _SIZE_RE.fullmatch(size_text):
        raise NoteError("checkpoint size is not a decimal without leading zeros")
    size = int(size_text)
    if size > _MAX_TREE_SIZE:
        raise NoteError("checkpoint size is out of range")
    root = _unb64(root_text, "checkpoint root hash")
    if len(root) != _ROOT_SIZE:
        raise NoteError(f"checkpoint root hash is {len(root)} bytes, expected {_ROOT_SIZE}")
    if any(not ext for ext in extensions):
        raise NoteError("checkpoint has an empty extension line")
    return Checkpoint(origin=origin, size=size, root_hash=root, extensions=tuple(extensions))


def parse_checkpoint(note: str) -> tuple[Checkpoint, list[NoteSignature]]:
    """Parse a signed checkpoint without verifying it (signatures are returned as found)."""
    text, sigs = _parse_note(note)
    return _parse_body(text), sigs


def _verify(text: str, sigs: list[NoteSignature], name: str, public_key: Ed25519PublicKey) -> None:
    kid = key_hash(name, public_key)
    mine = [s for s in sigs if s.name == name and s.key_hash == kid]
    if not mine:
        raise NoteError(f"note has no signature by {name}+{kid.hex()}")
    message = text.encode("utf-8")
    for sig in mine:
        # The spec says to reject the whole note when a known key's signature fails.
        try:
            public_key.verify(sig.signature, message)
        except InvalidSignature as exc:
            raise NoteError(f"invalid signature by {name}+{kid.hex()}") from exc


def verify_note(note_text: str, name: str, public_key: Ed25519PublicKey) -> str:
    """Verify a signed note by one key and return its text; other keys' lines are ignored."""
    text, sigs = _parse_note(note_text)
    _verify(text, sigs, name, public_key)
    return text


def verify_checkpoint(note: str, name: str, public_key: Ed25519PublicKey) -> Checkpoint:
    """Verify a signed checkpoint by one key and return it."""
    text, sigs = _parse_note(note)
    checkpoint = _parse_body(text)
    _verify(text, sigs, name, public_key)
    return checkpoint
