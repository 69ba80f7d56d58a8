"""Admin API for spend: ``GET /admin/spend/report`` (JSON or CSV), as ``llmgate report spend``."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/admin/spend", tags=["spend"])
