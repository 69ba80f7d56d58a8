"""``upgrade`` on a store already at the newest revision: a no-op that does not load alembic
(which costs a CLI command more than the rest of its start), and no less strict for it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from llmgate.errors import StoreError
from llmgate.store.db import create_engine_for
from llmgate.store.migrate import current_revision, head_revision, newest_script, upgrade

_UPGRADE_AGAIN = """
import sys
from llmgate.store.db import create_engine_for
from llmgate.store.migrate import upgrade
engine = create_engine_for(sys.argv[1])
upgrade(engine)
print("alembic" in sys.modules, sorted(m for m in sys.modules if m.startswith("alembic"))[:3])
"""


def test_the_newest_script_is_alembics_head() -> None:
    assert newest_script() == head_revision()


def test_upgrade_at_head_leaves_alembic_unloaded(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = create_engine_for(url)
    upgrade(engine)
    engine.dispose()
    result = subprocess.run(
        [sys.executable, "-c", _UPGRADE_AGAIN, url], capture_output=True, text=True, timeout=120, check=True
    )
    assert result.stdout.split(" ", 1)[0] == "False", result.stdout


def test_a_store_behind_or_ahead_still_goes_through_alembic(tmp_path: Path) -> None:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")  # a newer llmgate's
    with pytest.raises(StoreError, match="9999"):
        upgrade(engine)
    engine.dispose()
    fresh = create_engine_for(f"sqlite:///{tmp_path / 'fresh.db'}")
    upgrade(fresh)  # no alembic_version table yet: migrated from scratch
    assert current_revision(fresh) == head_revision()
    fresh.dispose()
