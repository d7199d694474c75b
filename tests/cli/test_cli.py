"""The ``bastion`` command end to end: every command, its output formats and exit codes."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pyotp
import pytest

from bastion.cli.main import main
from tests._cli import Run
from tests.conftest import EXAMPLE_MANIFEST


@pytest.fixture
def run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Run:
    r = Run(tmp_path / "home", capsys)
    rc, out, err = r("init")
    assert rc == 0, err
    assert "Initialised" in out
    return r


def test_init_is_idempotent_and_reports(run: Run) -> None:
    info = run.json("init")
    assert info["new"] is False and info["ledger_size"] >= 1


def test_commands_before_init_fail_clearly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = main(["--home", str(tmp_path / "none"), "ledger", "verify"])
    err = capsys.readouterr().err
    assert rc == 2 and "bastion init" in err and "Traceback" not in err


def test_manifest_schema_and_validate(run: Run, tmp_path: Path) -> None:
    rc, out, _ = run("manifest", "schema")
    schema = json.loads(out)
    assert rc == 0 and schema["$id"].startswith("https://") and "properties" in schema
    rc, out, _ = run("manifest", "validate", str(EXAMPLE_MANIFEST))
    assert rc == 0 and "valid" in out
    bad = tmp_path / "bad.yaml"
    bad.write_text(EXAMPLE_MANIFEST.read_text().replace("classification:", "clasification:", 1))
    rc, _out, err = run("manifest", "validate", str(bad))
    assert rc == 2
    assert f"{bad}:" in err and "clasification" in err and "did you mean" in err
    res = run.json("manifest", "validate", str(EXAMPLE_MANIFEST))
    assert res == {"file": str(EXAMPLE_MANIFEST), "valid": True, "problems": []}
    rc, _, err = run("manifest", "validate", str(tmp_path / "missing.yaml"))
    assert rc == 2 and "missing.yaml" in err and "Traceback" not in err


def test_inventory_import_list_show(run: Run, tmp_path: Path) -> None:
    res = run.json("inventory", "import", str(EXAMPLE_MANIFEST))
    assert res["created"] and res["version"] == 1
    rc, out, _ = run("inventory", "import", str(EXAMPLE_MANIFEST))
    assert rc == 0 and "unchanged" in out
    assets = run.json("inventory", "list", "--kind", "model")
    assert assets and {a["kind"] for a in assets} == {"model"}
    systems = run.json("inventory", "list", "--systems")
    assert [s["id"] for s in systems] == [res["system"]]
    rc, out, _ = run("inventory", "list", "--classification", "restricted")
    assert rc == 0 and "restricted" in out
    shown = run.json("inventory", "show", assets[0]["ref"])
    assert shown["history"][0]["change"] == "added"
    rc, out, _ = run("inventory", "show", res["system"])
    assert rc == 0 and "v1" in out
    rc, _, err = run("inventory", "show", "nope/nothing")
    assert rc == 2 and "not found" in err
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: bastion/v1\nkind: System\nsystem: 3\n")
    rc, _, err = run("inventory", "import", str(bad))
    assert rc == 2 and f"{bad}:3:" in err
    assert len(run.json("inventory", "list", "--systems")) == 1  # nothing changed


def test_checks_evidence_and_ledger(run: Run, tmp_path: Path) -> None:
    run.json("inventory", "import", str(EXAMPLE_MANIFEST))
    checks = run.json("checks", "list")
    assert "inventory.hygiene" in {c["id"] for c in checks}
    ev = run.json("checks", "run", "inventory.hygiene", "--subject", "system:credit-scoring")
    assert ev["verdict"] == "pass" and ev["ledger_seq"] >= 2
    rc, out, _ = run("checks", "run", "inventory.hygiene", "--subject", "system:nope")
    assert rc == 1 and "error" in out
    rc, _, err = run("checks", "run", "inventory.hygiene", "--subject", "nonsense")
    assert rc == 2 and "KIND:REF" in err
    listed = run.json("evidence", "list", "--check", "inventory.hygiene", "--verdict", "pass")
    assert [e["id"] for e in listed] == [ev["id"]]
    rc, out, _ = run("evidence", "list")
    assert rc == 0 and "inventory.hygiene" in out
    shown = run.json("evidence", "show", ev["id"])
    assert shown["intact"] is True and shown["verdict"] == "pass"
    rc, out, _ = run("evidence", "show", ev["id"])
    assert "matches the ledger" in out
    rc, out, _ = run("ledger", "verify")
    assert rc == 0 and "OK" in out
    entries = run.json("ledger", "list", "--limit", "5")
    assert entries[0]["kind"] == "evidence.recorded"  # the errored run is evidence too
    proof = run.json("ledger", "proof", entries[0]["id"])
    assert proof["leaf_index"] == entries[0]["seq"] and proof["inclusion_path"] is not None
    rc, out, _ = run("ledger", "proof", entries[-1]["id"])
    assert rc == 0 and "root hash" in out
    shown_e = run.json("ledger", "show", entries[1]["id"])
    assert shown_e["id"] == entries[1]["id"]
    rc, note, _ = run("ledger", "checkpoint")
    assert rc == 0 and note.startswith("bastion.local/ledger\n")
    witness = tmp_path / "witness.txt"
    witness.write_text(note)
    rc, _, _ = run("ledger", "verify", "--witness", str(witness), "--deep")
    assert rc == 0
    # Tamper: the verify command exits 1 and names the event.
    db = sqlite3.connect(run.home / "bastion.db")
    db.execute(
        "UPDATE ledger_entries SET data = CAST(replace(CAST(data AS TEXT), 'inventory', 'lnventory') AS BLOB) WHERE seq = 1"
    )
    db.commit()
    db.close()
    rc, out, _ = run("ledger", "verify")
    assert rc == 1 and "edited" in out and "position 1" in out
    rep = json.loads(run("ledger", "verify", "--format", "json")[1])
    assert rep["ok"] is False and rep["problems"][0]["seq"] == 1


def test_tokens(run: Run) -> None:
    t = run.json("token", "create", "--role", "approver", "--name", "alice")
    assert t["token"].startswith("bst_") and t["totp_secret"] and t["mfa"] is True
    assert pyotp.TOTP(t["totp_secret"]).now().isdigit()
    rc, out, _ = run("token", "create", "--role", "viewer", "--name", "bob")
    assert rc == 0 and "shown once" in out
    listed = run.json("token", "list")
    assert {x["name"] for x in listed} == {"alice", "bob"}
    assert all("token" not in x and "totp_secret" not in x for x in listed)
    rc, out, _ = run("token", "revoke", t["id"])
    assert rc == 0 and "revoked" in out
    assert next(x for x in run.json("token", "list") if x["id"] == t["id"])["revoked"]
    rc, _, err = run("token", "create", "--role", "overlord")
    assert rc == 2 and "overlord" in err
    rc, out, _ = run("token", "list")
    assert rc == 0 and "alice" in out


def test_console_script_and_exit_codes(tmp_path: Path) -> None:
    """The installed ``bastion`` entry point, in a real process."""
    exe = Path(sys.executable).with_name("bastion")
    env = os.environ | {"BASTION_HOME": str(tmp_path / "h")}
    r = subprocess.run(
        [str(exe), "--version"], capture_output=True, text=True, env=env, check=False
    )
    assert r.returncode == 0 and r.stdout.startswith("bastion ")
    r = subprocess.run(
        [str(exe), "ledger", "verify"], capture_output=True, text=True, env=env, check=False
    )
    assert r.returncode == 2 and "bastion init" in r.stderr and "Traceback" not in r.stderr
    r = subprocess.run([str(exe), "init"], capture_output=True, text=True, env=env, check=False)
    assert r.returncode == 0
    r = subprocess.run(
        [str(exe), "ledger", "nosuch"], capture_output=True, text=True, env=env, check=False
    )
    assert r.returncode == 2
    r = subprocess.run(
        [str(exe), "inventory", "import", str(EXAMPLE_MANIFEST)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert r.returncode == 0, r.stderr
