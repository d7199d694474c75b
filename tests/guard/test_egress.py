from __future__ import annotations

import pytest

from bastion.guard import EgressDenied, EgressPolicy, EgressRule, network_policy


def resolver(table: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise OSError("no such host")
        return table[host]

    return resolve


def test_allowlist_host_and_port() -> None:
    p = EgressPolicy([EgressRule(host="127.0.0.1", port=9000)])
    t = p.check("http://127.0.0.1:9000/predict")
    assert (t.address, t.port, t.url("/p?q=1")) == (
        "127.0.0.1",
        9000,
        "http://127.0.0.1:9000/p?q=1",
    )
    with pytest.raises(EgressDenied, match="not in the allowlist"):
        p.check("http://127.0.0.1:9001/predict")
    with pytest.raises(EgressDenied):
        p.check("http://10.0.0.1:9000/")
    with pytest.raises(EgressDenied):
        p.check("ftp://127.0.0.1:9000/")


def test_names_pinned_to_checked_public_addresses() -> None:
    table = {"models.example.com": ["93.184.216.34"]}
    p = EgressPolicy([EgressRule(host="models.example.com", port=443)], resolver=resolver(table))
    t = p.check("https://models.example.com/v1")
    assert t.address == "93.184.216.34" and t.host == "models.example.com"
    assert t.url("/v1") == "https://93.184.216.34:443/v1"


@pytest.mark.parametrize(
    "address", ["127.0.0.1", "10.1.2.3", "169.254.169.254", "::1", "::ffff:127.0.0.1", "0.0.0.0",
                "fd00::1", "192.168.1.1"],
)  # fmt: skip
def test_dns_rebinding_to_internal_addresses_is_refused(address: str) -> None:
    table = {"models.example.com": ["93.184.216.34", address]}
    p = EgressPolicy([EgressRule(host="models.example.com", port=443)], resolver=resolver(table))
    with pytest.raises(EgressDenied, match="internal address"):
        p.check("https://models.example.com/")


def test_rebinding_after_the_first_answer_cannot_swap_the_pinned_address() -> None:
    table = {"models.example.com": ["93.184.216.34"]}
    clock = [0.0]
    p = EgressPolicy([EgressRule(host="models.example.com", port=443)],
                     resolver=resolver(table), cache_s=30, clock=lambda: clock[0])  # fmt: skip
    assert p.check("https://models.example.com/").address == "93.184.216.34"
    table["models.example.com"] = ["127.0.0.1"]
    assert p.check("https://models.example.com/").address == "93.184.216.34"  # pinned
    clock[0] = 31.0
    with pytest.raises(EgressDenied):
        p.check("https://models.example.com/")  # re-resolved, re-checked, refused


def test_internal_names_need_allow_internal() -> None:
    table = {"scorer.internal": ["10.0.0.7"]}
    rules = [EgressRule(host="scorer.internal", port=8080, allow_internal=True)]
    assert (
        EgressPolicy(rules, resolver=resolver(table)).check("http://scorer.internal:8080/").address
        == "10.0.0.7"
    )
    with pytest.raises(EgressDenied, match="does not resolve"):
        EgressPolicy([EgressRule(host="gone.example", port=80)], resolver=resolver({})).check(
            "http://gone.example/")  # fmt: skip


def test_network_policy_document() -> None:
    rules = [EgressRule(host="127.0.0.1", port=9000),
             EgressRule(host="models.example.com", port=443)]  # fmt: skip
    doc = network_policy(rules, name="guard-egress", namespace="ml",
                         resolver=resolver({"models.example.com": ["93.184.216.34", "2606:2800::1"]}))  # fmt: skip
    assert doc["apiVersion"] == "networking.k8s.io/v1" and doc["kind"] == "NetworkPolicy"
    spec = doc["spec"]
    assert spec["policyTypes"] == ["Egress"]
    assert spec["egress"][0] == {"to": [{"ipBlock": {"cidr": "127.0.0.1/32"}}],
                                 "ports": [{"protocol": "TCP", "port": 9000}]}  # fmt: skip
    assert [b["ipBlock"]["cidr"] for b in spec["egress"][1]["to"]] == [
        "93.184.216.34/32",
        "2606:2800::1/128",
    ]
    assert spec["egress"][2]["ports"][0] == {"protocol": "UDP", "port": 53}
    assert "models.example.com=" in doc["metadata"]["annotations"]["bastion.dev/resolved-hosts"]
