"""The policy test runner: the allow/deny expectations written next to the policies.

``tests.yaml`` in a policy directory lists requests and what must come of them (and,
optionally, the obligations and determining policies); :func:`run_policy_tests` decides
each against the directory's policies (nothing recorded, no grants) and reports every
mismatch. :meth:`PolicyTestReport.junit_xml` writes the JUnit XML CI systems read.
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bastion.access.interface import AuthMethod, Decision, Identity, PolicyError, ResourceRef
from bastion.access.policy._documents import PolicyTest, TestsFile
from bastion.access.policy._engine import PolicyEngine
from bastion.access.policy._store import PolicyStore, read_policy_document

__all__ = ["PolicyTestReport", "PolicyTestResult", "run_policy_tests"]


@dataclass(frozen=True)
class PolicyTestResult:
    name: str
    passed: bool
    expected: str
    got: str
    problems: tuple[str, ...]
    policies: tuple[str, ...]
    reasons: tuple[str, ...]
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "passed": self.passed,
            "expected": self.expected,
            "got": self.got,
            "problems": list(self.problems),
            "policies": list(self.policies),
            "reasons": list(self.reasons),
        }


@dataclass(frozen=True)
class PolicyTestReport:
    directory: str
    digest: str
    results: tuple[PolicyTestResult, ...]

    @property
    def failed(self) -> int:
        return sum(not r.passed for r in self.results)

    @property
    def ok(self) -> bool:
        return self.failed == 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "directory": self.directory,
            "policy_digest": self.digest,
            "tests": len(self.results),
            "failed": self.failed,
            "results": [r.to_dict() for r in self.results],
        }

    def junit_xml(self) -> str:
        suite = ET.Element(
            "testsuite",
            name=f"bastion policy test {self.directory}",
            tests=str(len(self.results)),
            failures=str(self.failed),
            errors="0",
            time=f"{sum(r.seconds for r in self.results):.6f}",
        )
        for r in self.results:
            case = ET.SubElement(
                suite, "testcase", classname="bastion.policy", name=r.name, time=f"{r.seconds:.6f}"
            )
            if not r.passed:
                f = ET.SubElement(case, "failure", message="; ".join(r.problems)[:500])
                f.text = "\n".join([*r.problems, "reasons:", *r.reasons])
        ET.indent(suite)
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            + ET.tostring(suite, encoding="unicode")
            + "\n"
        )


def _check(t: PolicyTest, d: Decision) -> list[str]:
    problems: list[str] = []
    got = "allow" if d.allowed else "deny"
    if got != t.expect:
        problems.append(f"expected {t.expect}, got {got}")
    e = t.obligations
    if e is not None:
        o = d.obligations
        if e.redact_fields is not None and frozenset(e.redact_fields) != o.redact_fields:
            problems.append(
                f"redact_fields: expected {sorted(e.redact_fields)}, got {sorted(o.redact_fields)}"
            )
        for name in ("coarsen_scores", "rate_class", "log_level", "require_mfa"):
            want = getattr(e, name)
            if want is not None and want != getattr(o, name):
                problems.append(f"{name}: expected {want}, got {getattr(o, name)}")
    if t.policies is not None:
        missing = sorted(set(t.policies) - set(d.policies))
        if missing:
            problems.append(f"policies: expected {missing} among {list(d.policies)}")
    return problems


def run_policy_tests(directory: Path | str, tests: Path | str | None = None) -> PolicyTestReport:
    """Run ``tests`` (default: ``DIR/tests.yaml``) against the policies of ``directory``.
    A directory that does not load, or a tests file that does not validate, raises
    :class:`PolicyError` / ``InputError``."""
    directory = Path(directory)
    path = Path(tests) if tests is not None else directory / "tests.yaml"
    if not path.exists():
        raise PolicyError(f"{path}: no tests file (write the expectations in tests.yaml)")
    spec: TestsFile = read_policy_document(path, TestsFile)
    engine = PolicyEngine(PolicyStore(directory, check_interval=float("inf")))
    results: list[PolicyTestResult] = []
    for t in spec.tests:
        p = t.principal
        ident = Identity(
            id=p.id,
            kind=p.kind,
            method=AuthMethod.BEARER,
            roles=frozenset(p.roles),
            attributes=p.attributes,
            mfa=p.mfa,
        )
        res = ResourceRef(t.resource.kind, t.resource.id, t.resource.attributes)
        start = time.perf_counter()
        d = engine.decide(ident, t.action, res, t.context or None)
        took = time.perf_counter() - start
        problems = _check(t, d)
        results.append(
            PolicyTestResult(
                name=t.name,
                passed=not problems,
                expected=t.expect,
                got="allow" if d.allowed else "deny",
                problems=tuple(problems),
                policies=d.policies,
                reasons=d.reasons,
                seconds=took,
            )
        )
    return PolicyTestReport(str(directory), engine.snapshot.digest, tuple(results))
