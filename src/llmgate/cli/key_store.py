"""The store behind ``llmgate keys``, ``llmgate teams`` and ``llmgate audit``, and the checks made
before it is opened: who the changes are audited as, and a key referred to by the key itself.

``key_store`` opens the store the config names, migrated. When a command makes a key or a team it
first checks that the config has a master key (without one the gateway is open and would not
enforce keys: ``config/master_key.py``), and any ``--models`` against the config's model list;
either refusal is one line and exit code 2, before the store is touched. Split out of ``keys.py``.
"""

from __future__ import annotations

import getpass
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from llmgate.auth.key_fields import check_models
from llmgate.auth.keys import hash_key
from llmgate.cli.common import config_from, fail, store_engine
from llmgate.config.loader import declares_master_key
from llmgate.config.master_key import KEYS_NEED_MASTER_KEY
from llmgate.errors import ConfigError, InvalidRequest, LlmgateError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


@contextmanager
def key_store(
    config: str | None, fields: Mapping[str, Any] | None = None, *, creates: bool = False
) -> Iterator[Engine]:
    """The migrated store; llmgate errors inside end as one line (2: config, 1: the rest).

    ``creates``: the command makes a key or a team, which needs a master key in the config.
    ``fields``: the values a command sets; their ``models`` must be in the config's model list.
    """
    try:
        if creates or (fields and fields.get("models")):
            _check(config, fields or {}, creates=creates)
        with store_engine(config) as engine:
            from llmgate.store.migrate import upgrade  # SQLAlchemy: only when a command runs

            upgrade(engine)
            yield engine
    except ConfigError as exc:
        fail(exc.message, code=2)
    except LlmgateError as exc:
        fail(exc.message, code=1)


def _check(config: str | None, fields: Mapping[str, Any], *, creates: bool) -> None:
    cfg = config_from(config, for_store_only=True)
    assert config is not None  # config_from has refused a missing one
    if creates and cfg.general_settings.master_key is None and not declares_master_key(config):
        fail(KEYS_NEED_MASTER_KEY, code=2)
    try:
        check_models(fields.get("models"), [entry.model_name for entry in cfg.model_list])
    except InvalidRequest as exc:  # a bad option: one line, exit code 2
        fail(f"--models{exc.message.removeprefix('models')}", code=2)


def actor() -> str:
    """Who CLI changes are audited as: ``cli:<os user>``."""
    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):  # no user name in the environment or the password database
        return "cli:unknown"


def key_ref(engine: Engine, ref: str) -> str:
    """A key id or alias as it is; a full key (``sk-...``) found by its hash, never echoed."""
    if not ref.startswith("sk-"):
        return ref
    from llmgate.store.keys import find_key  # SQLAlchemy: only when a key is given

    row = find_key(engine, hash_key(ref))
    if row is None:
        fail("no key matches the key given", code=1)
    return row.id
