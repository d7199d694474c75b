"""REST routes of the integrity room's signing part. Thin: one room function per route."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["integrity"])
