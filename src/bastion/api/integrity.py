"""REST routes of the integrity room, gathered from its three parts."""

from __future__ import annotations

from fastapi import APIRouter

from bastion.api import integrity_scanning, integrity_signing, integrity_supply

router = APIRouter()
for _part in (integrity_signing, integrity_scanning, integrity_supply):
    router.include_router(_part.router)
