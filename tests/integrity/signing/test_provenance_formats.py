"""SLSA provenance v1 fields against in-toto's and RFC 3986's rules (issue 15, findings 1-2).

Real temporary git repositories (git is installed); nothing is mocked.
"""

from __future__ import annotations

import os
import re
import subprocess
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from rfc3986_validator import validate_rfc3986

from bastion.core.errors import InputError
from bastion.integrity import (
    TrainingRun,
    load_signing_key,
    slsa_training_predicate,
    verify_attestation,
)

# in-toto's Timestamp: RFC 3339, UTC, "Z" (no numeric offset).
RFC3339_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z")


def _git(repo: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    r = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", "-C", str(repo), *args],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    return r.stdout.strip()


def _repo(path: Path, remote: str | None = None) -> tuple[Path, str]:
    path.mkdir(parents=True)
    _git(path, "init", "-q")
    (path / "train.py").write_text("print('train')\n")
    _git(path, "add", "train.py")
    _git(path, "commit", "-q", "-m", "init")
    if remote is not None:
        _git(path, "remote", "add", "origin", remote)
    return path, _git(path, "rev-parse", "HEAD")


def _code_uri(predicate: dict) -> str:  # type: ignore[type-arg]
    deps = predicate["buildDefinition"]["resolvedDependencies"]
    (code,) = [d for d in deps if "gitCommit" in d.get("digest", {})]
    return str(code["uri"])


def _parse_back(ts: str) -> datetime:
    assert RFC3339_UTC.fullmatch(ts), ts
    parsed = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    assert parsed.utcoffset() == timedelta(0)
    return parsed


def test_finding_01_provenance_timestamps_rfc3339_utc(
    tmp_path: Path, keypair: tuple[Path, Path]
) -> None:
    # An offset-aware time in another zone is converted to UTC and written with "Z".
    cet = timezone(timedelta(hours=2))
    started = datetime(2026, 12, 2, 23, 46, 39, tzinfo=cet)
    finished = datetime(2026, 12, 2, 21, 50, 0, tzinfo=UTC)
    meta = slsa_training_predicate(builder_id="b", started=started, finished=finished)[
        "runDetails"
    ]["metadata"]
    assert meta["startedOn"] == "2026-12-02T21:46:39Z"
    assert meta["finishedOn"] == "2026-12-02T21:50:00Z"
    assert _parse_back(meta["startedOn"]) == started
    # A naive time has no defined instant: refused, not guessed.
    with pytest.raises(InputError, match="timezone-aware"):
        slsa_training_predicate(builder_id="b", started=datetime(2026, 1, 1))
    # End to end: the signed attestation a TrainingRun writes.
    priv, pub = keypair
    out = tmp_path / "model"
    before = datetime.now(UTC).replace(microsecond=0)
    with TrainingRun(
        output=out, key=load_signing_key(priv), builder_id="ci://t", include_packages=False
    ) as run:
        out.mkdir()
        (out / "w.bin").write_bytes(b"weights")
    assert run.attestation_path is not None
    chk = verify_attestation(run.attestation_path, public_keys=[pub])
    assert chk.ok, chk.findings
    meta = chk.predicate["runDetails"]["metadata"]
    s, f = _parse_back(meta["startedOn"]), _parse_back(meta["finishedOn"])
    assert before <= s <= f <= datetime.now(UTC)


def test_finding_02_provenance_uri_is_the_remote(tmp_path: Path) -> None:
    cases = {
        "git@github.com:org/repo.git": "https://github.com/org/repo.git",
        "https://ci-bot:s3cr3t-token@gitlab.example:8443/org/repo?private_token=x#f": (
            "https://gitlab.example:8443/org/repo"
        ),
        "ssh://git@git.example:2222/org/repo": "https://git.example/org/repo",
    }
    for i, (remote, expected) in enumerate(cases.items()):
        repo, sha = _repo(tmp_path / f"r{i}", remote)
        # a subdirectory of the checkout names the same repository
        (repo / "src").mkdir()
        for code in (repo, repo / "src"):
            uri = _code_uri(
                slsa_training_predicate(builder_id="b", code_repo=str(code), code_commit=sha)
            )
            assert uri == f"git+{expected}@{sha}"
            assert validate_rfc3986(uri, rule="URI"), uri
            assert "s3cr3t" not in uri and "ci-bot" not in uri and "private_token" not in uri


def test_finding_02_provenance_uri_without_remote_is_file_uri(
    tmp_path: Path, keypair: tuple[Path, Path]
) -> None:
    repo, sha = _repo(tmp_path / "with space@dir" / "checkout")
    priv, pub = keypair
    out = tmp_path / "model"
    with TrainingRun(
        output=out,
        key=load_signing_key(priv),
        builder_id="ci://t",
        code_dir=repo / ".",
        include_packages=False,
    ) as run:
        out.mkdir()
        (out / "w.bin").write_bytes(b"weights")
    assert run.attestation_path is not None
    chk = verify_attestation(run.attestation_path, public_keys=[pub])
    uri = _code_uri(chk.predicate)
    assert uri == f"git+{repo.resolve().as_uri()}@{sha}"
    assert uri.startswith("git+file:///") and "%20" in uri and "%40dir" in uri
    assert validate_rfc3986(uri, rule="URI"), uri
    assert run.summary is not None and run.summary["code_commit"] == sha
    # Without a repository location the dependency carries the commit digest only.
    (dep,) = slsa_training_predicate(builder_id="b", code_commit=sha)["buildDefinition"][
        "resolvedDependencies"
    ]
    assert dep == {"digest": {"gitCommit": sha}}


def test_finding_02_reading_the_remote_runs_no_repository_program(tmp_path: Path) -> None:
    repo, sha = _repo(tmp_path / "evil", "git@github.com:org/evil.git")
    marker = tmp_path / "ran"
    script = tmp_path / "hook.sh"
    script.write_text(f"#!/bin/sh\ntouch {marker}\n")
    script.chmod(0o755)
    _git(repo, "config", "core.fsmonitor", str(script))
    _git(repo, "config", "core.hooksPath", str(tmp_path))
    for hook in ("post-checkout", "post-index-change", "reference-transaction"):
        (tmp_path / hook).write_bytes(script.read_bytes())
        (tmp_path / hook).chmod(0o755)
    assert not marker.exists()
    uri = _code_uri(slsa_training_predicate(builder_id="b", code_repo=str(repo), code_commit=sha))
    assert uri == f"git+https://github.com/org/evil.git@{sha}"
    assert not marker.exists()


def test_finding_02_code_repo_urls_are_normalised_or_refused() -> None:
    sha = "a" * 40
    p = slsa_training_predicate(
        builder_id="b", code_repo="https://u:p@github.com/org/r", code_commit=sha
    )
    assert _code_uri(p) == f"git+https://github.com/org/r@{sha}"
    with pytest.raises(InputError, match="code repository"):
        slsa_training_predicate(builder_id="b", code_repo="ftp://x/y", code_commit=sha)
