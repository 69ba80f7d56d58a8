"""``GET /favicon.ico``: the icon browsers ask every site for, served without a login (not a 404)."""

from __future__ import annotations

from pathlib import Path

from support.configs import MASTER_KEY
from support.gateway import RunningGateway


def test_favicon_is_an_icon(tmp_path: Path) -> None:
    config = {
        "model_list": [{"model_name": "mock-echo", "litellm_params": {"model": "mock/echo"}}],
        "general_settings": {"master_key": MASTER_KEY},
        "llmgate": {
            "database_url": f"sqlite:///{tmp_path / 'store.db'}",
            "spill_dir": str(tmp_path / "spill"),
        },
    }
    gateway = RunningGateway(config, tmp_path).start()
    try:
        response = gateway.get("/favicon.ico")  # no credentials: a browser sends none for it
        assert response.status_code == 200
        assert response.headers["content-type"] == "image/x-icon"
        assert response.content[:4] == b"\x00\x00\x01\x00"  # an ICO header: one image follows
        assert response.content[22:26] == b"\x89PNG"
        assert gateway.get("/ui/static/favicon.ico").content == response.content
    finally:
        gateway.stop()
