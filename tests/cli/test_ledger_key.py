"""`bastion ledger key` end to end, and a witness that checks a real checkpoint with only
the printed verifier key and `cryptography` (issue 15, the ledger key).

The witness is the Python block of docs/ledger.md, run as it is in a fresh interpreter
where importing bastion fails.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_public_key

from bastion.core.ledger import (
    Checkpoint,
    parse_verifier_key,
    sign_checkpoint,
    verifier_key,
    verify_checkpoint,
)
from tests.cli.test_cli import Run, run  # noqa: F401  (the fixture)
from tests.conftest import EXAMPLE_MANIFEST, ROOT

VKEY = re.compile(r"[^+\s]+\+[0-9a-f]{8}\+[A-Za-z0-9+/]{44}")

# Runs the documented witness with every ``bastion`` import refused.
_NO_BASTION = textwrap.dedent(
    """
    import sys
    class _Refuse:
        def find_spec(self, name, path=None, target=None):
            if name == "bastion" or name.startswith("bastion."):
                raise ImportError("bastion is not installed on the witness")
            return None
    sys.meta_path.insert(0, _Refuse())
    for m in [m for m in sys.modules if m == "bastion" or m.startswith("bastion.")]:
        del sys.modules[m]
    sys.argv = sys.argv[1:]
    source = open(sys.argv[0], encoding="utf-8").read()
    exec(compile(source, "verify.py", "exec"), {"__name__": "__main__"})
    """
)


def _witness_script(tmp_path: Path) -> Path:
    doc = (ROOT / "docs" / "ledger.md").read_text(encoding="utf-8")
    m = re.search(r"<!-- witness-verify:[^>]*-->\n```python\n(.*?)```", doc, re.S)
    assert m, "docs/ledger.md lost its witness-verify block"
    script = tmp_path / "verify.py"
    script.write_text(m.group(1), encoding="utf-8")
    assert "bastion" not in m.group(1).replace("bastion ledger", "")  # no import of it
    return script


def _witness(tmp_path: Path, vkey: str, checkpoint: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "ledger.vkey").write_text(vkey, encoding="utf-8")
    (tmp_path / "cp.txt").write_text(checkpoint, encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-I", "-c", _NO_BASTION, str(_witness_script(tmp_path)),
         str(tmp_path / "ledger.vkey"), str(tmp_path / "cp.txt")],
        capture_output=True, text=True, timeout=60, cwd=tmp_path, check=False,
    )  # fmt: skip


def _key_with_plus(name: str) -> tuple[Ed25519PrivateKey, str]:
    while True:  # about three keys in four qualify
        sk = Ed25519PrivateKey.generate()
        vk = verifier_key(name, sk.public_key())
        if "+" in vk.split("+", 2)[2]:
            return sk, vk


def test_ledger_key_prints_the_verifier_key(run: Run) -> None:  # noqa: F811
    rc, out, err = run("ledger", "key")
    assert rc == 0, err
    vkey = out.strip()
    assert out == vkey + "\n" and VKEY.fullmatch(vkey), out
    name, public = parse_verifier_key(vkey)  # Bastion's own strict parser agrees
    assert name == "bastion.local/ledger"
    rc, out, err = run("ledger", "key", "--json")
    assert rc == 0, err
    doc = json.loads(out)
    assert run.json("ledger", "key") == doc  # --format json: the same
    assert doc["vkey"] == vkey and doc["origin"] == doc["key_name"] == name
    assert doc["algorithm"] == "Ed25519" and vkey.split("+", 2)[1] == doc["key_hash"]
    pem = load_pem_public_key(doc["public_key_pem"].encode())
    assert isinstance(pem, Ed25519PublicKey)
    raw = pem.public_bytes(Encoding.Raw, PublicFormat.Raw)
    assert raw == public.public_bytes(Encoding.Raw, PublicFormat.Raw)
    assert base64.b64decode(vkey.split("+", 2)[2]) == b"\x01" + raw
    assert "PRIVATE" not in out
    # every checkpoint the ledger signed verifies against the printed key
    assert run("inventory", "import", str(EXAMPLE_MANIFEST))[0] == 0
    rc, note, _ = run("ledger", "checkpoint")
    assert rc == 0 and verify_checkpoint(note, name, public).size >= 1


def test_a_witness_verifies_a_checkpoint_with_only_the_vkey(
    run: Run,  # noqa: F811
    tmp_path: Path,
) -> None:
    assert run("inventory", "import", str(EXAMPLE_MANIFEST))[0] == 0
    vkey = run("ledger", "key")[1].strip()
    rc, note, _ = run("ledger", "checkpoint")
    assert rc == 0
    r = _witness(tmp_path, vkey, note)
    assert r.returncode == 0, r.stderr
    origin, size, root = note.splitlines()[:3]
    name = origin
    assert r.stdout.strip() == f"OK {origin} size {size} root {base64.b64decode(root).hex()}"
    # a changed root hash, a changed size, another ledger's key: all refused
    lines = note.split("\n")
    lines[2] = base64.b64encode(b"\x00" * 32).decode()
    forged_root = "\n".join(lines)
    r = _witness(tmp_path, vkey, forged_root)
    assert r.returncode == 1 and "FORGED" in r.stderr
    r = _witness(tmp_path, vkey, note.replace(f"\n{size}\n", f"\n{int(size) + 1}\n", 1))
    assert r.returncode == 1 and "FORGED" in r.stderr
    other = Run(tmp_path / "other-home", run.capsys)
    assert other("init")[0] == 0
    r = _witness(tmp_path, other("ledger", "key")[1].strip(), note)
    assert r.returncode == 1 and "no signature by this key" in r.stderr
    # a verifier key whose base64 holds "+" (the separator) still splits right
    sk, vk = _key_with_plus(name)
    cp = sign_checkpoint(Checkpoint(name, 3, b"\x07" * 32), name, sk)
    r = _witness(tmp_path, vk, cp)
    assert r.returncode == 0 and r.stdout.startswith(f"OK {name} size 3 root 0707"), r.stderr
    # the witness really ran without bastion
    probe = tmp_path / "probe.py"
    probe.write_text("import bastion\n", encoding="utf-8")
    p = subprocess.run(
        [sys.executable, "-I", "-c", _NO_BASTION, str(probe)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert p.returncode == 1 and "not installed on the witness" in p.stderr


def test_ledger_key_before_init_fails_clearly(tmp_path: Path) -> None:
    from bastion.cli.main import main

    assert main(["--home", str(tmp_path / "none"), "ledger", "key"]) == 2
