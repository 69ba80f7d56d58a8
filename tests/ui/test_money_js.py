"""The dashboard shows money as the CLI does: ``LG.fmtUsd`` (common.js) against ``store.money.usd``.

common.js runs in Node with a bare ``window``: its functions touch the DOM only when called, and
``fmtUsd`` never does. Skipped where Node is not installed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest

import llmgate
from llmgate.store.money import usd

COMMON_JS = Path(llmgate.__file__).parent / "ui" / "static" / "common.js"
AMOUNTS = [
    "0.0042900000",  # a cheap request: the CLI said 0.00, the dashboard $0.004290
    "0.001372",
    "0.0010000000",
    "0.0000000001",
    "0.0000002",
    "0.0123456",
    "0.1296",
    "0.5",
    "0.99999",
    "1",
    "12.3456",
    "1234.5",
    "987654.321",
    "-0.000372",
    "-2.5",
    "0",
    "0.0000000000",
]
NODE = shutil.which("node")


@pytest.mark.skipif(NODE is None, reason="Node.js is not installed")
def test_dashboard_and_cli_show_the_same_amounts() -> None:
    script = (
        "global.window = {}; global.document = {};"
        f"eval(require('fs').readFileSync({json.dumps(str(COMMON_JS))}, 'utf8'));"
        f"console.log(JSON.stringify({json.dumps(AMOUNTS)}.map(window.LG.fmtUsd)));"
    )
    assert NODE is not None
    result = subprocess.run(
        [NODE, "-e", script], capture_output=True, text=True, timeout=60, env={"LANG": "en_US.UTF-8"}
    )
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert dict(zip(AMOUNTS, shown, strict=True)) == {amount: usd(Decimal(amount)) for amount in AMOUNTS}
