"""Guard overhead on loopback: a trivial upstream called directly and through the guard,
at the same request rate, in one run.

Claim (issue 11): at 1,000 requests per second the guard adds under 1 ms at p50 and under
3 ms at p99. Three processes: the trivial upstream (uvicorn, a pure ASGI app answering a
fixed JSON), the guard (``bastion.guard.serve``: uvicorn with the guard's TLS-aware
protocol, plain HTTP here), and this script as the load generator (wrk is not installed
here). The generator is an open-loop asyncio client on raw keep-alive HTTP/1.1 connections
(no HTTP library on the measuring side). It sends at ``--rate`` for ``--seconds`` to the
upstream directly and then through the guard, for ``--rounds`` rounds, and times each
request from the moment it is written to the moment its whole answer has been read.

What the guard does per request: a Bastion EdDSA JWT verified (the access room's
BastionAuthenticator), the Cedar PolicyEngine's decision (its decisions ledgered in
batches), a JSON Schema, range checks against a 1,000-row training reference, a token
bucket (in process; ``--redis URL`` puts it in Redis), the upstream call over the guard's
pooled keep-alive connections, obligations, an OCSF event to a file sink and a ``guard.decision`` ledger
event through the group committer (SQLite, fsync per batch). It is the production path;
only the start-up model check is off (no registered model in the scratch home).

The machine is shared: the load generator, the guard and the upstream share its cores
(2 here), so the figures include that contention. ``--rss`` also reports the guard's
resident memory at the start and at the end of the run.

    python benchmarks/guard_overhead.py [--rate 1000] [--seconds 10] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import print_table, write_results

BODY = json.dumps({"features": {"income": 1500.0, "age": 30.0, "debt": 2.0}}).encode()
ANSWER = json.dumps({"label": 1, "probability": [0.2, 0.8]}).encode()


# -- the child processes -----------------------------------------------------------------


async def _upstream(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            msg = await receive()
            await send({"type": msg["type"] + ".complete"})
            if msg["type"] == "lifespan.shutdown":
                return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(ANSWER)).encode())]})  # fmt: skip
    await send({"type": "http.response.body", "body": ANSWER})


def serve_upstream(port: int) -> None:
    import uvicorn

    uvicorn.run(_upstream, host="127.0.0.1", port=port, log_level="error", access_log=False)


def serve_guard(home: str, config: str, port: int) -> None:
    from bastion.core.settings import get_settings
    from bastion.core.workspace import open_workspace
    from bastion.guard import build_guard, load_guard_config, serve

    ws = open_workspace(get_settings(home=Path(home)))
    cfg, base = load_guard_config(Path(config))
    guard = build_guard(ws, cfg, base, verify_models=False, actor="bench")
    serve(guard.proxy, host="127.0.0.1", port=port, log_level="error")


# -- the load generator --------------------------------------------------------------------


def _request(port: int, path: str, token: str | None) -> bytes:
    head = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}",
            "Content-Type: application/json", f"Content-Length: {len(BODY)}"]  # fmt: skip
    if token:
        head.append(f"Authorization: Bearer {token}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + BODY


async def _load(port: int, path: str, token: str | None, rate: float, seconds: float,
                conns: int) -> dict[str, Any]:  # fmt: skip
    req = _request(port, path, token)
    pool: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    for _ in range(conns):
        pool.put_nowait(await asyncio.open_connection("127.0.0.1", port))
    lat: list[float] = []
    statuses: dict[int, int] = {}
    late = 0

    async def one() -> None:
        r, w = await pool.get()
        t0 = time.perf_counter()
        w.write(req)
        head = await r.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        n = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                n = int(line[15:])
        await r.readexactly(n)
        lat.append(time.perf_counter() - t0)
        statuses[status] = statuses.get(status, 0) + 1
        pool.put_nowait((r, w))

    tasks = []
    start = time.perf_counter()
    i = 0
    while True:
        due = start + i / rate
        now = time.perf_counter()
        if due - start >= seconds:
            break
        if due > now:
            await asyncio.sleep(due - now)
        elif now - due > 0.005:
            late += 1
        tasks.append(asyncio.ensure_future(one()))
        i += 1
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    while not pool.empty():
        _, w = pool.get_nowait()
        w.close()
    lat.sort()
    ms = [x * 1000 for x in lat]
    return {
        "requests": len(ms), "achieved_rps": round(len(ms) / elapsed, 1),
        "p50_ms": round(statistics.median(ms), 3), "p90_ms": round(ms[int(len(ms) * 0.9)], 3),
        "p99_ms": round(ms[int(len(ms) * 0.99)], 3), "max_ms": round(ms[-1], 3),
        "statuses": statuses, "sent_late_over_5ms": late,
    }  # fmt: skip


def _wait(port: int, proc: subprocess.Popen[bytes], path: str = "/") -> None:
    import httpx

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"a child process exited: {proc.stdout.read().decode()[-2000:]}")  # type: ignore[union-attr]
        try:
            httpx.get(f"http://127.0.0.1:{port}{path}", timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit("a child process did not start")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


POLICY = """
@id("scorers-invoke")
@reason("the scoring service calls the model")
permit (principal is Workload, action == Action::"invoke", resource is Endpoint)
when { principal.roles.contains("scorer") };
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rate", type=float, default=1000.0)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--redis", default=None, help="Put the rate limits in this Redis.")
    ap.add_argument("--serve-upstream", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--serve-guard", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve_upstream:
        serve_upstream(args.serve_upstream)
        return
    if args.serve_guard:
        serve_guard(args.serve_guard[0], args.serve_guard[1], int(args.serve_guard[2]))
        return

    from bastion.access.identity import TokenService
    from bastion.core.settings import get_settings
    from bastion.core.workspace import init_workspace

    with tempfile.TemporaryDirectory(prefix="bastion-guard-bench-") as tmp:
        root = Path(tmp)
        ws, _ = init_workspace(get_settings(home=root / "home"))
        token = TokenService(ws).issue("workload:scorer", audience="bench-guard", roles=["scorer"],
                                       ttl_minutes=60).token  # fmt: skip
        ws.close()
        (root / "policies").mkdir()
        (root / "policies" / "policies.cedar").write_text(POLICY)
        (root / "train.csv").write_text("income,age,debt\n" + "".join(
            f"{500 + 5 * i},{18 + i % 60},{i % 9}\n" for i in range(1000)))  # fmt: skip
        up_port, guard_port = _free_port(), _free_port()
        redis = f"redis_url: {args.redis}\n" if args.redis else ""
        (root / "guard.yaml").write_text(f"""
name: bench-guard
policy_dir: policies
{redis}endpoints:
  - name: credit
    upstream: http://127.0.0.1:{up_port}/predict
    model: credit-gbm@1
    features: [income, age, debt]
    reference: train.csv
    attributes: {{classification: internal, owner: ml, tier: 2, asset_kind: inference_endpoint}}
    request_schema:
      type: object
      required: [features]
      properties: {{features: {{type: object, required: [income, age, debt]}}}}
rate_classes:
  default: {{rate_per_s: 1000000, burst: 1000000}}
limits: {{max_concurrency: 1024}}
egress:
  - {{host: 127.0.0.1, port: {up_port}}}
sinks:
  - {{kind: file, target: {root / "events.jsonl"}}}
""")
        me = [sys.executable, __file__]
        env = {**os.environ, "BASTION_REDIS_URL": ""}
        up = subprocess.Popen([*me, "--serve-upstream", str(up_port)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
        guard = subprocess.Popen(
            [*me, "--serve-guard", str(root / "home"), str(root / "guard.yaml"), str(guard_port)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            _wait(up_port, up)
            _wait(guard_port, guard, "/healthz")
            warm = asyncio.run(
                _load(guard_port, "/endpoints/credit", token, 200, 2, args.connections)
            )
            assert warm["statuses"] == {200: warm["requests"]}, warm["statuses"]
            asyncio.run(_load(up_port, "/predict", None, 200, 1, args.connections))
            rss0 = _rss_kib(guard.pid)
            rounds: list[dict[str, Any]] = []
            for _ in range(args.rounds):
                direct = asyncio.run(_load(up_port, "/predict", None, args.rate, args.seconds,
                                           args.connections))  # fmt: skip
                guarded = asyncio.run(_load(guard_port, "/endpoints/credit", token, args.rate,
                                            args.seconds, args.connections))  # fmt: skip
                rounds.append({"direct": direct, "guarded": guarded})
            rss1 = _rss_kib(guard.pid)
        finally:
            for p in (guard, up):
                p.terminate()
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    p.kill()
        events = sum(1 for _ in (root / "events.jsonl").open())

    rows: list[list[object]] = []
    added: list[tuple[float, float]] = []
    for i, r in enumerate(rounds):
        d, g = r["direct"], r["guarded"]
        rows.append([f"round {i + 1} direct", d["achieved_rps"], d["p50_ms"], d["p99_ms"], ""])
        rows.append([f"round {i + 1} guard", g["achieved_rps"], g["p50_ms"], g["p99_ms"],
                     f"+{g['p50_ms'] - d['p50_ms']:.3f} / +{g['p99_ms'] - d['p99_ms']:.3f}"])  # fmt: skip
        r["added_p50_ms"] = round(g["p50_ms"] - d["p50_ms"], 3)
        r["added_p99_ms"] = round(g["p99_ms"] - d["p99_ms"], 3)
        added.append((r["added_p50_ms"], r["added_p99_ms"]))
    print_table(["run", "req/s", "p50 ms", "p99 ms", "added p50 / p99 ms"], rows)
    added50 = statistics.median(a[0] for a in added)
    added99 = statistics.median(a[1] for a in added)
    print(f"\nadded latency (median over rounds): p50 {added50:.3f} ms (goal < 1), "
          f"p99 {added99:.3f} ms (goal < 3); guard RSS {rss0} -> {rss1} KiB; "
          f"{events} OCSF events written")  # fmt: skip
    path = write_results("guard_overhead", {
        "rate": args.rate, "seconds": args.seconds, "connections": args.connections,
        "state": "redis" if args.redis else "memory", "rounds": rounds,
        "added_p50_ms": added50, "added_p99_ms": added99,
        "guard_rss_kib": {"start": rss0, "end": rss1}, "ocsf_events": events,
        "load": os.getloadavg(),
    })  # fmt: skip
    print(f"results: {path}")


if __name__ == "__main__":
    main()
