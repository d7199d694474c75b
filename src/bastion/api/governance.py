"""REST routes of the governance room (being built). Thin: each route calls one public function."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["governance"])
