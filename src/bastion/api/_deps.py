"""Request plumbing: the workspace, authentication and authorisation, bounded bodies."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Annotated, TypeVar

from fastapi import Depends, Header, Request
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool

from bastion.access import Permission, Principal, authenticate, require
from bastion.core.errors import BastionError, InputError, PermissionDeniedError
from bastion.core.workspace import Workspace

__all__ = [
    "PUBLIC",
    "Auth",
    "Busy",
    "HeavyWork",
    "declared_permission",
    "declares",
    "get_ws",
    "needs",
    "needs_any",
    "public",
    "read_body",
    "read_json",
]

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)
F = TypeVar("F", bound=Callable[..., object])

#: The permission a deliberately public route declares (sign-in, health, the root redirect).
PUBLIC = "public"
_DECLARED: dict[object, str] = {}


def declares(permission: str) -> Callable[[F], F]:
    """Mark a dependency as the one that authorises a route with ``permission``. Every
    route must depend on one (``create_app`` refuses to start otherwise: deny by default)."""

    def mark(fn: F) -> F:
        _DECLARED[fn] = permission
        return fn

    return mark


def declared_permission(call: object) -> str | None:
    """The permission a dependency declares, or None."""
    try:
        return _DECLARED.get(call)
    except TypeError:  # an unhashable dependency declares nothing
        return None


@declares(PUBLIC)
def public() -> None:
    """A route that is public on purpose (the sign-in form, health): it says so, rather
    than saying nothing."""


MAX_BODY = 2 * 1024 * 1024


def get_ws(request: Request) -> Workspace:
    ws: Workspace = request.app.state.workspace
    return ws


def _principal(
    request: Request,
    authorization: Annotated[str | None, Header()] = None,
    x_bastion_otp: Annotated[str | None, Header()] = None,
) -> Principal:
    token = None
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer":
            token = value.strip()
    principal = authenticate(get_ws(request), token, x_bastion_otp)
    request.state.principal = principal
    return principal


def needs(perm: Permission) -> Callable[..., Principal]:
    """A dependency that authenticates and then requires ``perm`` (deny by default)."""

    def dep(principal: Annotated[Principal, Depends(_principal)]) -> Principal:
        require(principal, perm)
        return principal

    dep.__name__ = f"needs_{perm.value}"
    return declares(perm.value)(dep)


def needs_any(*perms: Permission) -> Callable[..., Principal]:
    """A dependency satisfied by any one of ``perms`` (e.g. write, or approve with MFA)."""

    def dep(principal: Annotated[Principal, Depends(_principal)]) -> Principal:
        granted = [p for p in perms if principal.can(p)]
        if not granted:
            require(principal, perms[0])  # raises the usual 403
        errors: list[BaseException] = []
        for perm in granted:
            try:
                require(principal, perm)
                return principal
            except PermissionDeniedError as exc:  # e.g. approve without MFA
                errors.append(exc)
        raise errors[0]

    dep.__name__ = "needs_" + "|".join(p.value for p in perms)
    return declares("|".join(p.value for p in perms))(dep)


Auth = Annotated[Principal, Depends(needs(Permission.READ))]


async def read_body(request: Request, limit: int = MAX_BODY) -> bytes:
    """Read a request body, refusing more than ``limit`` bytes before holding them all."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(request: Request, model: type[M], limit: int = MAX_BODY) -> M:
    """A size-limited JSON body validated into ``model`` (declare ``extra="forbid"`` to
    refuse unknown fields); the error names the first bad field, never its value."""
    raw = await read_body(request, limit)
    try:
        doc = json.loads(raw)
    except ValueError:
        raise InputError("request body: not JSON") from None
    try:
        return model.model_validate(doc)
    except ValidationError as exc:
        e = exc.errors()[0]
        where = ".".join(str(p) for p in e["loc"]) or "body"
        raise InputError(f"request body: {where}: {e['msg']}") from None


class BodyTooLarge(InputError):
    http_status = 413
    title = "Payload too large"

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body exceeds {limit} bytes")


class Busy(BastionError):
    """Every slot for this kind of heavy work is taken: try again later (HTTP 503)."""

    http_status = 503
    title = "Server busy"

    def __init__(self, what: str, retry_after: int) -> None:
        super().__init__(
            f"too many {what} are running; retry in {retry_after} s (requests are not queued)"
        )
        self.headers = {"Retry-After": str(retry_after)}


class HeavyWork:
    """Run CPU-heavy work off the event loop, at most ``limit`` at a time.

    The event loop must stay free for every other request (health checks, sign-ins): heavy
    work runs in the thread pool. A request that finds every slot taken is refused at once
    with 503 and ``Retry-After`` rather than queued, so a flood cannot pile up memory. The
    slot is released by the worker thread when the work really ends, also when the client
    has gone away meanwhile.
    """

    def __init__(self, what: str, limit: int, retry_after: int = 5) -> None:
        self.what = what
        self.limit = limit
        self.retry_after = retry_after
        self._slots = threading.BoundedSemaphore(limit)

    async def run(self, fn: Callable[..., T], /, *args: object, **kwargs: object) -> T:
        if not self._slots.acquire(blocking=False):
            raise Busy(self.what, self.retry_after)
        lock = threading.Lock()
        state = {"started": False, "abandoned": False}

        def work() -> T:
            with lock:
                if state["abandoned"]:
                    raise Busy(self.what, self.retry_after)
                state["started"] = True
            try:
                return fn(*args, **kwargs)
            finally:
                self._slots.release()

        try:
            return await run_in_threadpool(work)
        finally:
            with lock:
                if not state["started"]:
                    # Cancelled before a worker thread picked the job up: free the slot here.
                    state["abandoned"] = True
                    self._slots.release()
