"""REST routes of the registry room (being built). Thin: each route calls one public function."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["registry"])
