"""Egress: the guard's own upstream client reaches only the destinations it is allowed.

A destination is allowed when its host and port are in the allowlist. A host name is
resolved here and every address it resolves to is checked: loopback, private, link-local
(cloud metadata), multicast, reserved and unspecified addresses are refused unless the
rule says ``allow_internal`` (so a public name rebound to 127.0.0.1 or 169.254.169.254 is
refused). The connection then goes to the address that was checked (pinned; the Host
header and TLS server name stay the name), so a second resolution cannot swap it.
:func:`network_policy` writes the same allowlist as a Kubernetes NetworkPolicy.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from bastion.core.errors import PermissionDeniedError
from bastion.guard._config import EgressRule

__all__ = ["EgressDenied", "EgressPolicy", "PinnedTarget", "network_policy"]

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Sequence[str]]


class EgressDenied(PermissionDeniedError):
    """A destination the egress allowlist does not allow (or that resolves to an internal
    address it does not allow)."""


def _internal(ip: IpAddress) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return bool(
        ip.is_loopback or ip.is_private or ip.is_link_local or ip.is_multicast
        or ip.is_reserved or ip.is_unspecified or not ip.is_global
    )  # fmt: skip


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(i[4][0]) for i in infos})


@dataclass(frozen=True, slots=True)
class PinnedTarget:
    """Where to connect: the checked address, and the name for Host and TLS SNI."""

    scheme: str
    host: str
    port: int
    address: str

    def url(self, path_and_query: str) -> str:
        a = f"[{self.address}]" if ":" in self.address else self.address
        return f"{self.scheme}://{a}:{self.port}{path_and_query}"


class EgressPolicy:
    def __init__(
        self,
        rules: Sequence[EgressRule],
        *,
        resolver: Resolver = system_resolver,
        cache_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rules = tuple(rules)
        self._by_dest = {(r.host.lower().strip("[]"), r.port): r for r in self.rules}
        self._resolver = resolver
        self._cache_s = cache_s
        self._clock = clock
        self._cache: dict[tuple[str, int], tuple[float, str]] = {}
        self._lock = threading.Lock()

    def check(self, url: str) -> PinnedTarget:
        """The pinned target for ``url``; :class:`EgressDenied` when it is not allowed."""
        u = urlsplit(url)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise EgressDenied("egress: only http and https URLs with a host are allowed")
        host = u.hostname.lower()
        port = u.port or (443 if u.scheme == "https" else 80)
        rule = self._by_dest.get((host, port))
        if rule is None:
            raise EgressDenied(f"egress: {host}:{port} is not in the allowlist")
        if rule.is_ip:
            return PinnedTarget(u.scheme, host, port, host)
        now = self._clock()
        with self._lock:
            hit = self._cache.get((host, port))
        if hit is not None and now - hit[0] < self._cache_s:
            return PinnedTarget(u.scheme, host, port, hit[1])
        try:
            addresses = list(self._resolver(host, port))
        except OSError:
            raise EgressDenied(f"egress: {host} does not resolve") from None
        if not addresses:
            raise EgressDenied(f"egress: {host} does not resolve")
        for a in addresses:
            try:
                ip = ipaddress.ip_address(a.split("%", 1)[0])
            except ValueError:
                raise EgressDenied(f"egress: {host} resolved to a malformed address") from None
            if _internal(ip) and not rule.allow_internal:
                raise EgressDenied(
                    f"egress: {host} resolves to the internal address {ip}, which its rule does "
                    "not allow (DNS rebinding is refused)"
                )
        with self._lock:
            self._cache[(host, port)] = (now, addresses[0])
        return PinnedTarget(u.scheme, host, port, addresses[0])


def network_policy(
    rules: Sequence[EgressRule],
    *,
    name: str,
    namespace: str = "default",
    pod_labels: dict[str, str] | None = None,
    resolver: Resolver = system_resolver,
    dns: bool = True,
) -> dict[str, Any]:
    """A ``networking.k8s.io/v1`` NetworkPolicy allowing the guard's pods egress only to the
    allowlist (host names resolved now to /32 and /128 blocks, noted in an annotation:
    NetworkPolicy has no host names), plus DNS to kube-system when ``dns``."""
    egress: list[dict[str, Any]] = []
    resolved: list[str] = []
    for r in rules:
        host = r.host.strip("[]")
        if r.is_ip:
            addrs = [host]
        else:
            try:
                addrs = list(resolver(host, r.port))
            except OSError:
                raise EgressDenied(f"egress: {host} does not resolve") from None
            resolved.append(f"{host}={','.join(addrs)}")
        blocks = []
        for a in addrs:
            ip = ipaddress.ip_address(a.split("%", 1)[0])
            blocks.append({"ipBlock": {"cidr": f"{ip}/{ip.max_prefixlen}"}})
        egress.append({"to": blocks, "ports": [{"protocol": "TCP", "port": r.port}]})
    if dns:
        egress.append({
            "to": [{"namespaceSelector": {
                "matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
            "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
        })  # fmt: skip
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if resolved:
        meta["annotations"] = {"bastion.dev/resolved-hosts": ";".join(resolved)}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": meta,
        "spec": {
            "podSelector": {"matchLabels": dict(pod_labels or {"app": "bastion-guard"})},
            "policyTypes": ["Egress"],
            "egress": egress,
        },
    }
