"""Two processes on one Redis (``BASTION_REDIS_URL``): a revocation and a replay made in one
hold in the other."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import redis

from bastion.access.identity import BastionAuthenticator, RedisJtiStore, TokenService
from bastion.access.interface import CredentialError, RequestCredentials
from bastion.core.settings import get_settings
from bastion.core.workspace import init_workspace

from .conftest import REDIS_URL

OTHER = textwrap.dedent(
    """
    import sys
    from bastion.access.identity import BastionAuthenticator
    from bastion.access.interface import CredentialError, RequestCredentials
    from bastion.core.settings import get_settings
    from bastion.core.workspace import open_workspace

    ws = open_workspace(get_settings())
    auth = BastionAuthenticator(ws, audience="api", single_use=sys.argv[2] == "once")
    try:
        print(auth.authenticate(RequestCredentials(bearer=sys.argv[1])).id)
    except CredentialError as exc:
        print("refused:", exc.message)
    ws.close()
    """
)


def _other(home: Path, token: str, mode: str) -> str:
    env = os.environ | {"BASTION_HOME": str(home), "BASTION_REDIS_URL": REDIS_URL}
    r = subprocess.run(
        [sys.executable, "-c", OTHER, token, mode],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return r.stdout.strip()


def test_revocation_and_replay_hold_across_processes(tmp_path: Path, redis_prefix: str) -> None:
    home = tmp_path / "home"
    settings = get_settings(home=home, redis_url=REDIS_URL)
    ws, _ = init_workspace(settings)
    client = redis.Redis.from_url(REDIS_URL)
    try:
        svc = TokenService(ws)
        assert isinstance(svc.store, RedisJtiStore)
        live = svc.issue("workload:scorer", audience="api")
        revoked = svc.issue("workload:scorer", audience="api")
        once = svc.issue("workload:scorer", audience="api")
        svc.revoke(revoked.jti, expires_at=revoked.expires_at)
        assert _other(home, live.token, "many") == "workload:scorer"
        assert _other(home, revoked.token, "many") == "refused: token has been revoked"
        # used once in the other process: a replay here
        assert _other(home, once.token, "once") == "workload:scorer"
        auth = BastionAuthenticator(ws, audience="api", single_use=True)
        with pytest.raises(CredentialError, match="replay"):
            auth.authenticate(RequestCredentials(bearer=once.token))
    finally:
        for t in ("used:", "revoked:"):
            for k in client.scan_iter(match=f"bastion:jti:{t}*"):
                client.delete(k)
        client.close()
        ws.close()
