"""Admin API for keys, teams and the audit log: ``/admin/keys``, ``/admin/teams``, ``/admin/audit``."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/admin", tags=["keys and teams"])
