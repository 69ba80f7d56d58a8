"""The rules for a key's and a team's values (``auth/key_fields.py``), without a store: each
refusal names its field; a budget without a period is monthly; values are JSON as the audit trail
and the CLI write them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from llmgate.auth.key_fields import (
    KEY_FIELDS,
    TEAM_FIELDS,
    cache_setting,
    check_fields,
    check_models,
    check_new_expiry,
    default_period,
    plain,
    with_cache,
)
from llmgate.config.budget_periods import PERIODS
from llmgate.errors import InvalidRequest


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("budget_usd", Decimal("-1")),
        ("budget_usd", Decimal("NaN")),
        ("budget_usd", Decimal("Infinity")),
        ("budget_usd", 1.5),  # money is never a float
        ("budget_usd", Decimal(10) ** 12),
        ("budget_period", "yearly"),
        ("rpm", 0),
        ("tpm", True),
        ("models", []),
        ("models", "gpt-4o"),
        ("tags", {"": "x"}),
        ("user_id", "  "),
        ("alias", "a\x00b"),
        ("cache", "sometimes"),
        ("cache", False),
    ],
)
def test_bad_values_are_refused_naming_the_field(field: str, value: Any) -> None:
    with pytest.raises(InvalidRequest) as exc:
        check_fields({"alias": "k", field: value}, KEY_FIELDS)
    assert exc.value.param == field and exc.value.message.startswith(f"{field}: ")


@pytest.mark.parametrize("alias", ["", "sk-lg-abcd", "key_0123456789ab"])
def test_aliases_that_look_like_keys_are_refused(alias: str) -> None:
    with pytest.raises(InvalidRequest) as exc:
        check_fields({"alias": alias}, KEY_FIELDS)
    assert exc.value.param == "alias"


def test_values_are_normalised() -> None:
    fields = check_fields(
        {
            "alias": " ci-bot ",
            "models": ["a", " b", "a"],
            "budget_usd": "12.345",
            "tags": {" env ": "prod"},
            "expires_at": datetime(2027, 1, 1),  # naive: UTC
            "admin": None,
        },
        KEY_FIELDS,
    )
    assert fields == {
        "alias": "ci-bot",
        "models": ["a", "b"],
        "budget_usd": Decimal("12.3450000000"),
        "tags": {"env": "prod"},
        "expires_at": datetime(2027, 1, 1, tzinfo=UTC),
        "admin": False,
    }
    assert check_fields({"tags": None, "rpm": None}, TEAM_FIELDS) == {"tags": {}, "rpm": None}
    with pytest.raises(TypeError, match="unknown fields: admin"):
        check_fields({"admin": True}, TEAM_FIELDS)


def test_a_budget_without_a_period_is_monthly() -> None:
    fields: dict[str, Any] = {"budget_usd": Decimal(5)}
    default_period(fields)
    assert fields["budget_period"] == "monthly" and "monthly" in PERIODS
    kept: dict[str, Any] = {"budget_usd": Decimal(5)}
    default_period(kept, current="daily")  # the row's period stays
    assert "budget_period" not in kept
    cleared: dict[str, Any] = {"budget_usd": None}
    default_period(cleared)
    assert "budget_period" not in cleared


def test_a_new_key_may_not_be_born_expired() -> None:
    now = datetime(2026, 6, 1, tzinfo=UTC)
    check_new_expiry(None, now)
    check_new_expiry(now + timedelta(seconds=1), now)
    with pytest.raises(InvalidRequest, match="is in the past") as exc:
        check_new_expiry(datetime(2026, 6, 1), now)  # naive: UTC, and not later than now
    assert exc.value.param == "expires_at"


def test_an_allow_list_names_only_configured_models() -> None:
    check_models(["a"], ["a", "b"])
    check_models(None, [])
    with pytest.raises(InvalidRequest, match="'c' not in the config's model_list") as exc:
        check_models(["a", "c"], ["a", "b"])
    assert exc.value.param == "models"


def test_plain_writes_money_exactly_and_times_in_iso_8601() -> None:
    assert plain(Decimal("20.5000000000")) == "20.5"
    assert plain(Decimal("0.0010")) == "0.001"
    assert plain(datetime(2027, 1, 1, tzinfo=UTC)) == "2027-01-01T00:00:00+00:00"
    assert plain(["m"]) == ["m"] and plain(None) is None


def test_a_cache_setting_is_metadata_cache_and_reads_back() -> None:
    assert check_fields({"cache": " Semantic "}, TEAM_FIELDS) == {"cache": "semantic"}
    assert check_fields({"cache": None}, KEY_FIELDS) == {"cache": None}  # cleared: "on"
    metadata = {"owner": "data", "cache": {"no-store": True}}
    assert with_cache(metadata, "off") == {"owner": "data", "cache": False}
    assert with_cache(metadata, "semantic") == {"owner": "data", "cache": {"semantic": True}}
    assert with_cache(metadata, "on") == with_cache(metadata, None) == {"owner": "data"}
    assert metadata == {"owner": "data", "cache": {"no-store": True}}  # a copy: the row's stays
    for setting in ("on", "off", "semantic"):
        assert cache_setting(with_cache(metadata, setting)) == setting
    assert cache_setting({"cache": {"no-cache": True, "no-store": True}}) == "off"  # LiteLLM's spelling
    assert cache_setting(metadata) == "custom" and cache_setting(None) == "on"
