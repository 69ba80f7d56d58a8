"""``llmgate.retention``: spans as ``--since`` writes them or ``forever`` (the default), one-line
errors naming the key for anything else, and the line ``serve`` says at start."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from llmgate.config import parse_config
from llmgate.config.retention_settings import RetentionSettings
from llmgate.errors import ConfigError


def retention(**keys: Any) -> RetentionSettings:
    return parse_config({"model_list": [], "llmgate": {"retention": keys}}).llmgate.retention


def test_spans_and_forever() -> None:
    settings = retention(bodies="30d", requests="13w", audit_log="forever", interval="15m")
    assert settings.bodies == timedelta(days=30) and settings.requests == timedelta(weeks=13)
    assert settings.audit_log is None and settings.monitor_samples is None
    assert settings.interval == timedelta(minutes=15) and settings.batch_size == 5000
    assert settings.prunes


def test_the_default_keeps_everything_and_says_so() -> None:
    settings = parse_config({"model_list": []}).llmgate.retention
    assert not settings.prunes
    assert settings.start_line() == (
        "retention: everything is kept forever (requests, bodies, monitor_samples, eval_results, "
        "audit_log, scores); see llmgate.retention"
    )


def test_the_start_line_names_what_is_kept_forever() -> None:
    line = retention(bodies="30d", requests="400d").start_line()
    assert line == (
        "retention: requests 400 d, bodies 30 d, pruned every 1 h; "
        "kept forever: monitor_samples, eval_results, audit_log, scores"
    )


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        (
            {"bodies": "30 days"},
            "llmgate.retention.bodies: expected a duration such as 30m, 12h, 90d or 13w, got '30 days'",
        ),
        ({"requests": "0d"}, "llmgate.retention.requests: must be longer than zero, got '0d'"),
        ({"audit_log": 30}, "llmgate.retention.audit_log: expected a duration"),
        ({"interval": "10s"}, "llmgate.retention.interval: must be at least 1m, got '10s'"),
        ({"interval": "forever"}, "llmgate.retention.interval: must be a duration such as 1h or 30m"),
        ({"batch_size": 10}, "llmgate.retention.batch_size:"),
        ({"bodies": "90d", "requests": "30d"}, "llmgate.retention: bodies: cannot outlive the requests"),
        ({"prompts": "30d"}, "llmgate.retention.prompts: unknown key"),
    ],
)
def test_bad_values_are_one_line_naming_the_key(keys: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        retention(**keys)
    text = str(caught.value)
    assert message in text and "\n" not in text
