"""The loader is a parser of untrusted input: it reports, it never crashes."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bastion.core.errors import InputError
from bastion.manifest import ManifestProblem, SystemManifest, parse_manifest
from tests.manifest.helpers import VALID

# No example database: the tests must not leave files in the checkout.
FUZZ = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
YAMLISH = st.sampled_from([*":-[]{}&*!|>'\"#%@`,?\t\n \r\x00\ufeff\x85", "---", "..."])


def _parse(data: str | bytes) -> None:
    try:
        result = parse_manifest(data)
    except InputError as exc:  # ManifestError is an InputError
        for p in getattr(exc, "problems", []):
            assert isinstance(p, ManifestProblem)
            assert p.line >= 1
            assert p.column >= 1
            str(p)
    else:
        assert isinstance(result, SystemManifest)


@FUZZ
@given(st.text())
def test_arbitrary_text(text: str) -> None:
    _parse(text)


@FUZZ
@given(st.binary())
def test_arbitrary_bytes(data: bytes) -> None:
    _parse(data)


@FUZZ
@given(st.lists(st.one_of(YAMLISH, st.text(max_size=3)), max_size=60).map("".join))
def test_yaml_punctuation_soup(text: str) -> None:
    _parse(text)


@FUZZ
@given(st.data())
def test_mutated_valid_manifest(data: st.DataObject) -> None:
    text = VALID
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(text)))
        j = data.draw(st.integers(i, min(len(text), i + 12)))
        text = text[:i] + data.draw(st.one_of(YAMLISH, st.text(max_size=6))) + text[j:]
    _parse(text)
