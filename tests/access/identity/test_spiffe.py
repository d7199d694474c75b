"""SPIFFE ID validation per the SPIFFE ID specification."""

from __future__ import annotations

import pytest

from bastion.access.identity import parse_spiffe_id
from bastion.core.errors import InputError


@pytest.mark.parametrize(
    ("value", "td", "path"),
    [
        ("spiffe://example.org", "example.org", ""),
        ("spiffe://example.org/workload/scorer", "example.org", "/workload/scorer"),
        ("spiffe://a_b-c.d/x.y/Z-9_", "a_b-c.d", "/x.y/Z-9_"),
    ],
)
def test_valid(value: str, td: str, path: str) -> None:
    sid = parse_spiffe_id(value)
    assert (sid.trust_domain, sid.path, str(sid)) == (td, path, value)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("SPIFFE://example.org/a", "lower-case scheme"),
        ("https://example.org/a", "spiffe://"),
        ("spiffe://", "empty trust domain"),
        ("spiffe:///a", "empty trust domain"),
        ("spiffe://user@example.org/a", "userinfo"),
        ("spiffe://example.org:8443/a", "port"),
        ("spiffe://Example.org/a", "lower-case letters"),
        ("spiffe://exa%20mple.org/a", "lower-case letters"),
        ("spiffe://example.org/a?x=1", "query or fragment"),
        ("spiffe://example.org/a#f", "query or fragment"),
        ("spiffe://example.org/", "trailing"),
        ("spiffe://example.org/a//b", "empty segment"),
        ("spiffe://example.org/a/../b", r"'\.\.'"),
        ("spiffe://example.org/./b", r"'\.'"),
        ("spiffe://example.org/a%2Fb", "segments may contain only"),
        ("spiffe://example.org/" + "a" * 2100, "longer than 2048"),
    ],
)
def test_invalid(value: str, reason: str) -> None:
    with pytest.raises(InputError, match=reason):
        parse_spiffe_id(value)
