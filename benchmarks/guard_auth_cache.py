"""Claim: the guard's verified-token cache takes JWT verification off the hot path for a
client that reuses its token, while the jti revocation lookup stays on every request.

In one run, the same --clients Bastion EdDSA JWTs, each presented --repeat times (a client
reuses its token for its lifetime), authenticated by:

| contender | what one request does |
|---|---|
| no-cache | ``GuardAuthenticator(cache_entries=0)``: full verification every time (the old path) |
| cache | ``GuardAuthenticator()`` (10,000 tokens, 30 s): verified once per token, then a SHA-256 of the token, a dict lookup and the jti revocation check |

Medians of --runs passes; microseconds per request. The machine is shared: the load
average is printed with the result.

    python benchmarks/guard_auth_cache.py                  # 200 clients x 50 requests, 5 runs
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from typing import Any

from _common import median_of, print_table, write_results

from bastion.access.identity import BastionAuthenticator
from bastion.access.interface import RequestCredentials
from bastion.core.settings import get_settings
from bastion.core.workspace import init_workspace
from bastion.guard._auth import GuardAuthenticator


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clients", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=50)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    n = args.clients * args.repeat
    with tempfile.TemporaryDirectory(prefix="bastion-guard-auth-") as tmp:
        ws, _ = init_workspace(get_settings(home=Path(tmp) / "home"))
        try:
            inner = BastionAuthenticator(ws, audience="bench")
            creds = [
                RequestCredentials(bearer=inner.tokens.issue(f"user:c{i}", audience="bench",
                                                             roles=["loan-officer"]).token)
                for i in range(args.clients)
            ]  # fmt: skip
            stream = [c for _ in range(args.repeat) for c in creds]
            results: dict[str, dict[str, Any]] = {}
            for name, entries in (("no-cache", 0), ("cache", 10_000)):

                def run(entries: int = entries) -> None:
                    auth = GuardAuthenticator(ws, audience="bench", identity=inner,
                                              cache_entries=entries)  # fmt: skip
                    for c in stream:
                        auth.authenticate(c)

                run()  # warm
                med, samples, _ = median_of(args.runs, run)
                results[name] = {"median_s": med, "us_per_request": med / n * 1e6,
                                 "samples_s": samples}  # fmt: skip
        finally:
            ws.close()
    load = os.getloadavg()
    base = results["no-cache"]["us_per_request"]
    rows = [(k, f"{r['us_per_request']:.1f}", f"{base / r['us_per_request']:.1f}x")
            for k, r in results.items()]  # fmt: skip
    print(f"{args.clients} clients x {args.repeat} requests, median of {args.runs} runs; "
          f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")  # fmt: skip
    print_table(["contender", "us/request", "speed-up"], rows)
    write_results("guard_auth_cache", {"args": vars(args), "load": load, "results": results})


if __name__ == "__main__":
    main()
