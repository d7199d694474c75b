"""Request plumbing: the workspace, authentication and authorisation, bounded bodies."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Header, Request

from bastion.access import Permission, Principal, authenticate, require
from bastion.core.errors import InputError, PermissionDeniedError
from bastion.core.workspace import Workspace

__all__ = ["Auth", "get_ws", "needs", "needs_any", "read_body"]

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
    return dep


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
    return dep


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


class BodyTooLarge(InputError):
    http_status = 413
    title = "Payload too large"

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body exceeds {limit} bytes")
