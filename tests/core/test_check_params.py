"""Issue 14, findings 1 and 3: what a remote caller may pass to a check, and evidence
bound to what the check examined.

Remote runs (``run_check(..., remote=True)``, what the API does) accept only the
parameters a check declares, confine every path to the operator's check roots (never the
Bastion home, /proc, /sys, /dev) and never echo what a file holds; for every caller, a
subject digest other than the digest of what the check examined is refused.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import ClassVar

import pytest

from bastion._plugins import load_checks
from bastion.core.checks import (
    Check,
    CheckContext,
    CheckResult,
    ParamKind,
    ParamSpec,
    confine_path,
    run_check,
)
from bastion.core.errors import CheckError, InputError
from bastion.core.evidence import EvidenceQuery
from bastion.core.settings import get_settings
from bastion.core.types import Subject, Verdict
from bastion.core.workspace import Workspace, init_workspace

EXAMINED = "sha256:" + "ee" * 32


class _Params(Check):
    id = "test.params"
    title = "Echoes its validated parameters"
    remote_params: ClassVar[Mapping[str, ParamSpec]] = {
        "name": ParamSpec(ParamKind.STR, max_length=10),
        "names": ParamSpec(ParamKind.STRS, max_items=2),
        "n": ParamSpec(ParamKind.INT, minimum=0, maximum=5),
        "x": ParamSpec(ParamKind.FLOAT, minimum=0, maximum=1),
        "flag": ParamSpec(ParamKind.BOOL),
        "mode": ParamSpec(ParamKind.ENUM, choices=("a", "b")),
        "file": ParamSpec(ParamKind.PATH),
        "files": ParamSpec(ParamKind.PATHS),
    }

    def run(self, subject: Subject, ctx: CheckContext) -> CheckResult:
        return CheckResult(Verdict.PASS, data={"params": dict(ctx.params), "remote": ctx.remote})


class _Examines(Check):
    id = "test.examines"
    title = "Reports the digest of what it examined"

    def run(self, subject: Subject, ctx: CheckContext) -> CheckResult:
        return CheckResult(Verdict.PASS, examined_digest=EXAMINED)


class _Leaky(Check):
    id = "test.leaky"
    title = "Fails with file contents in its message"

    def run(self, subject: Subject, ctx: CheckContext) -> CheckResult:
        raise ValueError("-----BEGIN PRIVATE KEY----- MC4CAQAwBQYDK2VwBCIEI")


@pytest.fixture
def roots(tmp_path: Path) -> Path:
    d = tmp_path / "inputs"
    d.mkdir()
    return d


@pytest.fixture
def rws(tmp_path: Path, roots: Path) -> Iterator[Workspace]:
    """A workspace whose operator allows check inputs under ``inputs/`` only."""
    workspace, _ = init_workspace(get_settings(home=tmp_path / "home", check_roots=[roots]))
    try:
        yield workspace
    finally:
        workspace.close()


def _count(ws: Workspace) -> tuple[int, int]:
    return len(ws.evidence.list(EvidenceQuery(limit=1000))), ws.ledger.size()


def test_finding_01_remote_params_are_deny_by_default(rws: Workspace, roots: Path) -> None:
    load_checks()
    before = _count(rws)
    subject = Subject("environment", "x")
    # Undeclared parameters are refused by name, never ignored; precomputed results too.
    for check_id, kind, params in [
        ("inventory.hygiene", "system", {"anything": 1}),
        ("integrity.scan", "model", {"allow": str(roots / "allow.txt")}),
        ("integrity.dependencies", "environment", {"sys_path": [str(roots)]}),
        ("integrity.provenance", "model", {"result": {"ok": True}}),
        ("integrity.bom", "model", {"files": [["a", 1, "00"]]}),
        ("integrity.signature", "model", {"policy": str(roots / "policy.yaml")}),
        ("threats.model", "system", {"model": {}}),
        ("test.params", "s", {"name": "x", "extra": "y"}),
    ]:
        with pytest.raises(InputError, match=r"params\.\w+: check .* does not accept"):
            run_check(rws, check_id, Subject(kind, "x"), params=params, remote=True)
    # Checks that need in-process input or server keys are not API checks at all.
    for check_id, kind in (("threats.questionnaire", "asset"), ("integrity.sign", "model")):
        with pytest.raises(CheckError, match="cannot be run by an API caller"):
            run_check(rws, check_id, Subject(kind, "s/m"), remote=True)
    assert _count(rws) == before
    # In-process callers keep their parameters (the local CLI and the rooms' functions).
    ev = run_check(rws, "test.params", subject, params={"extra": object.__name__})
    assert ev.data["params"] == {"extra": "object"} and ev.data["remote"] is False


def test_finding_01_remote_values_are_validated_and_size_limited(
    rws: Workspace, roots: Path
) -> None:
    (roots / "a.txt").write_text("a")
    good = {
        "name": "short",
        "names": "p,q",
        "n": 3,
        "x": 0.5,
        "flag": True,
        "mode": "b",
        "file": "a.txt",  # relative: under the first root
        "files": [str(roots / "a.txt")],
    }
    ev = run_check(rws, "test.params", Subject("s", "r"), params=good, remote=True)
    real = os.path.realpath(roots / "a.txt")
    assert ev.data["params"] == good | {"names": ["p", "q"], "file": real, "files": [real]}
    assert ev.data["remote"] is True
    before = _count(rws)
    for bad in [
        {"name": "x" * 11},
        {"name": 5},
        {"name": "a\nb"},
        {"names": ["a", "b", "c"]},
        {"n": True},
        {"n": 6},
        {"n": 1.5},
        {"x": float("nan")},
        {"flag": "true"},
        {"mode": "c"},
        {"file": 7},
        {"file": "a\x00b"},
        {"file": "x" * 5000},
        {f"k{i}": 1 for i in range(40)},
    ]:
        with pytest.raises(InputError, match=r"params"):
            run_check(rws, "test.params", Subject("s", "r"), params=bad, remote=True)
    assert _count(rws) == before


def test_finding_01_paths_are_confined_to_check_roots(
    rws: Workspace, roots: Path, tmp_path: Path
) -> None:
    s = rws.settings
    key = s.key_dir / "ledger-ed25519.pem"
    assert key.is_file()
    (roots / "model").mkdir()
    assert confine_path(str(roots / "model"), s) == Path(os.path.realpath(roots / "model"))
    # Outside every root, and through a symlink or .. out of one.
    (roots / "key-link").symlink_to(key)
    (roots / "home-link").symlink_to(s.home, target_is_directory=True)
    for bad in [
        str(tmp_path),
        "/etc/passwd",
        str(roots / ".." / "home" / "keys" / key.name),
        str(roots / "key-link"),
        str(roots / "home-link" / "keys"),
    ]:
        with pytest.raises(InputError, match=r"params\.path"):
            confine_path(bad, s)
    # A root that contains the home, or is /, still never reaches Bastion's own state or
    # the system's pseudo-files.
    wide = get_settings(home=s.home, check_roots=[tmp_path, Path("/")])
    for bad in [str(key), str(s.key_dir), str(s.blob_dir), str(s.home / "bastion.db")]:
        with pytest.raises(InputError, match="not readable by checks"):
            confine_path(bad, wide)
    for bad in ["/proc/self/environ", "/sys/kernel", "/dev/zero"]:
        with pytest.raises(InputError, match="not readable by checks"):
            confine_path(bad, wide)
    # Without configured roots, no path at all.
    with pytest.raises(InputError, match="no check roots are configured"):
        confine_path(str(roots / "model"), get_settings(home=s.home))


def test_finding_01_the_subject_ref_is_confined_like_a_path(rws: Workspace) -> None:
    """integrity.scan reads ``params.path or subject.ref``: a remote ref is a path too."""
    load_checks()
    key_dir = str(rws.settings.key_dir)
    before = _count(rws)
    for ref in (key_dir, "/"):
        with pytest.raises(InputError, match=r"params\.path"):
            run_check(rws, "integrity.scan", Subject("model", ref), remote=True)
    assert _count(rws) == before


def test_finding_01_remote_errors_never_echo_contents(rws: Workspace, roots: Path) -> None:
    load_checks()
    # A library's message (which may quote the file) is recorded by type only.
    ev = run_check(rws, "test.leaky", Subject("s", "r"), remote=True)
    assert ev.verdict is Verdict.ERROR and "BEGIN" not in ev.data["error"]
    assert ev.data["error"].startswith("ValueError:")
    local = run_check(rws, "test.leaky", Subject("s", "r"))
    assert "BEGIN" in local.data["error"]  # in-process callers still see the message
    # A requirements file whose line is a secret: the error names the line, not its text.
    req = roots / "requirements.txt"
    req.write_text("requests==2.31.0\nsk-SECRET+TOKEN/abc==\n")
    ev = run_check(
        rws,
        "integrity.dependencies",
        Subject("environment", "x"),
        params={"source": "requirements", "path": str(req)},
        remote=True,
    )
    assert ev.verdict is Verdict.ERROR
    assert "requirements.txt:2: not a PEP 508 requirement" in ev.data["error"]
    assert "SECRET" not in ev.data["error"] and "TOKEN" not in ev.data["error"]


def test_finding_03_subject_digest_must_be_what_was_examined(ws: Workspace) -> None:
    before = _count(ws)
    other = "sha256:" + "00" * 32
    for remote in (False, True):
        with pytest.raises(CheckError, match=r"not the digest of what check test\.examines"):
            run_check(ws, "test.examines", Subject("s", "r", other), remote=remote)
    assert _count(ws) == before
    # Without a digest the examined one is filled in; the same one is accepted.
    assert run_check(ws, "test.examines", Subject("s", "r")).subject.digest == EXAMINED
    same = run_check(ws, "test.examines", Subject("s", "r", EXAMINED), remote=True)
    assert same.subject.digest == EXAMINED


def test_finding_03_remote_digest_needs_a_check_that_vouches(ws: Workspace) -> None:
    """A check that reports no examined digest cannot carry a remote caller's digest
    (in-process callers, which computed it themselves, still can)."""
    before = _count(ws)
    digest = "sha256:" + "ab" * 32
    with pytest.raises(CheckError, match="cannot vouch"):
        run_check(ws, "test.params", Subject("s", "r", digest), remote=True)
    # A failing check does not get to record an error about the caller's digest either.
    with pytest.raises(CheckError):
        run_check(ws, "test.leaky", Subject("s", "r", digest), remote=True)
    assert _count(ws) == before
    assert run_check(ws, "test.params", Subject("s", "r", digest)).subject.digest == digest


def test_finding_03_real_checks_bind_to_what_they_examined(rws: Workspace, roots: Path) -> None:
    """integrity.scan names the model-signing digest of the scanned files (the registry's
    version digest); integrity.dependencies the sha256 of the file it read."""
    load_checks()
    from bastion.integrity import signed_manifest

    good = roots / "good"
    good.mkdir()
    (good / "model.bin").write_bytes(b"weights")
    ev = run_check(rws, "integrity.scan", Subject("model", "m"), params={"path": str(good)})
    assert ev.subject.digest == "sha256:" + signed_manifest(good).digest
    other = "sha256:" + "11" * 32
    with pytest.raises(CheckError, match="not the digest"):
        run_check(rws, "integrity.scan", Subject("model", "m", other), params={"path": str(good)})
    req = roots / "requirements.txt"
    req.write_bytes(b"requests==2.31.0\n")
    import hashlib

    dep = run_check(
        rws,
        "integrity.dependencies",
        Subject("environment", "x"),
        params={"source": "requirements", "path": str(req)},
        remote=True,
    )
    assert dep.subject.digest == "sha256:" + hashlib.sha256(req.read_bytes()).hexdigest()
    # About a model version: only with the model's files, whose digest it computes.
    with pytest.raises(CheckError, match="cannot vouch"):
        run_check(
            rws,
            "integrity.dependencies",
            Subject("model", "m", ev.subject.digest),
            params={"source": "requirements", "path": str(req)},
            remote=True,
        )
    bound = run_check(
        rws,
        "integrity.dependencies",
        Subject("model", "m", ev.subject.digest),
        params={"source": "requirements", "path": str(req), "model": str(good)},
        remote=True,
    )
    assert bound.subject.digest == ev.subject.digest
