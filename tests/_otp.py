"""TOTP codes for tests: each token's code is good once (replay protection), so a test that
signs in twice with one token needs the code of a later time step.

``fresh(seed)`` returns the code of the next unused step for ``seed``: the current step, or
(when that one is spent) the next one, which the server accepts as clock skew; past that it
waits for the clock rather than reusing a code.
"""

from __future__ import annotations

import time

import pyotp

from bastion.access import create_token
from bastion.core.workspace import Workspace

_STEP = 30
_last: dict[str, int] = {}


def fresh(seed: str | None) -> str:
    assert seed, "this token has no TOTP secret"
    while True:
        now = int(time.time()) // _STEP
        step = max(now, _last.get(seed, now - 1) + 1)
        if step <= now + 1:
            _last[seed] = step
            return pyotp.TOTP(seed).at(step * _STEP)
        time.sleep(1)


def mfa_headers(ws: Workspace, name: str, role: str = "approver") -> dict[str, str]:
    """Headers for ONE privileged request as ``name``: a new token of that person with its
    current code. A code is good once and a token's next code comes 30 s later, so a test
    making many privileged requests as one person uses one token (of the same name) each."""
    t = create_token(ws, name=name, role=role, actor="test")
    assert t.totp_secret
    return {"Authorization": f"Bearer {t.token}", "X-Bastion-OTP": pyotp.TOTP(t.totp_secret).now()}
