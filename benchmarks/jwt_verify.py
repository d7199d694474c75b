"""Claim: Bastion's token verification (pinned EdDSA, header rules, issuer, audience, times,
lifetime, jti revocation check) costs little over a plain PyJWT decode of the same token.

The same --tokens Ed25519 JWTs (one workspace key, Bastion's claim shape, distinct jti) are
verified in one run by:

| contender | what one verification does |
|---|---|
| pyjwt-decode | ``jwt.decode(token, public_key, algorithms=["EdDSA"], audience, issuer)``: the floor |
| bastion-verify | ``TokenService.verify(token, audience)``: the above plus header checks, lifetime, the jti revocation check (in-process store) and the Identity |
| bastion-single-use | the same with ``single_use=True`` (marks each jti used) |
| bastion-authenticator | ``BastionAuthenticator.authenticate(RequestCredentials(bearer=...))``: what the guard calls |
| bastion-redis | ``TokenService.verify`` with the Redis jti store (one round trip to ``--redis``); ``--no-redis`` leaves it out |

Medians of --runs passes over all tokens; microseconds per verification.

    python benchmarks/jwt_verify.py                 # 20,000 tokens, 5 runs
    python benchmarks/jwt_verify.py --tokens 2000 --no-redis
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import jwt
from _common import median_of, print_table, write_results

from bastion.access.identity import (
    BastionAuthenticator,
    MemoryJtiStore,
    RedisJtiStore,
    TokenService,
)
from bastion.access.interface import RequestCredentials
from bastion.core.settings import get_settings
from bastion.core.workspace import init_workspace


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tokens", type=int, default=20_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    ap.add_argument("--no-redis", action="store_true")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="bastion-jwt-bench-") as tmp:
        ws, _ = init_workspace(get_settings(home=Path(tmp) / "home"))
        try:
            svc = TokenService(ws, store=MemoryJtiStore(max_entries=args.tokens * 2))
            svc.issue("workload:scorer", audience="api")  # makes the key, one ledger event
            kid, key = svc.keys.active()
            pub = key.public_key()
            now = int(time.time())
            tokens = [
                jwt.encode(
                    {
                        "iss": svc.issuer,
                        "sub": "workload:scorer",
                        "aud": "api",
                        "iat": now,
                        "nbf": now,
                        "exp": now + 900,
                        "jti": f"bench-{i:08d}",
                        "kind": "workload",
                        "roles": ["scorer"],
                        "amr": ["mfa"],
                    },
                    key,
                    algorithm="EdDSA",
                    headers={"kid": kid, "typ": "JWT"},
                )
                for i in range(args.tokens)
            ]

            def plain() -> None:
                for t in tokens:
                    jwt.decode(t, pub, algorithms=["EdDSA"], audience="api", issuer=svc.issuer)

            def bastion() -> None:
                for t in tokens:
                    svc.verify(t, "api")

            def single_use() -> None:
                s = TokenService(ws, store=MemoryJtiStore(max_entries=args.tokens * 2))
                for t in tokens:
                    s.verify(t, "api", single_use=True)

            auth = BastionAuthenticator(
                ws, audience="api", store=MemoryJtiStore(max_entries=args.tokens * 2)
            )
            creds = [RequestCredentials(bearer=t) for t in tokens]

            def authenticator() -> None:
                for c in creds:
                    auth.authenticate(c)

            contenders = [
                ("pyjwt-decode", plain),
                ("bastion-verify", bastion),
                ("bastion-single-use", single_use),
                ("bastion-authenticator", authenticator),
            ]
            if not args.no_redis:
                rsvc = TokenService(ws, store=RedisJtiStore(args.redis, prefix="bench-jwt:"))

                def redis_verify() -> None:
                    for t in tokens:
                        rsvc.verify(t, "api")

                contenders.append(("bastion-redis", redis_verify))

            results: dict[str, dict[str, Any]] = {}
            for name, fn in contenders:
                fn()  # warm (key cache, imports)
                med, samples, _ = median_of(args.runs, fn)
                results[name] = {
                    "median_s": med,
                    "us_per_verify": med / args.tokens * 1e6,
                    "samples_s": samples,
                }
        finally:
            ws.close()

    floor = results["pyjwt-decode"]["us_per_verify"]
    rows = [
        (
            name,
            f"{r['us_per_verify']:.1f}",
            f"{r['us_per_verify'] / floor:.2f}x",
            f"{args.tokens / r['median_s']:,.0f}",
        )
        for name, r in results.items()
    ]
    print(f"{args.tokens} tokens, median of {args.runs} runs")
    print_table(["contender", "us/verify", "vs pyjwt", "verifies/s"], rows)
    out = write_results(
        "jwt_verify", {"tokens": args.tokens, "runs": args.runs, "results": results}
    )
    print(f"results: {out}")


if __name__ == "__main__":
    main()
