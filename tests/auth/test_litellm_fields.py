"""LiteLLM's management-API fields in llmgate's terms, and what cannot be said in them."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from llmgate.auth.key_fields import KEY_FIELDS, check_fields
from llmgate.auth.litellm_fields import budget_period, expiry, key_values, team_values, user_values
from llmgate.errors import InvalidRequest

NOW = datetime(2027, 1, 31, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("duration", "period"),
    [
        ("1d", "daily"),
        ("24h", "daily"),
        ("7d", "weekly"),
        ("1w", "weekly"),
        ("30d", "monthly"),
        ("1mo", "monthly"),
        (None, None),
    ],
)
def test_budget_durations_map_onto_calendar_periods(duration: str | None, period: str | None) -> None:
    assert budget_period(duration) == period


@pytest.mark.parametrize("duration", ["1h", "2d", "90d", "1y", "soon"])
def test_a_budget_duration_llmgate_cannot_keep_is_a_400_naming_it(duration: str) -> None:
    with pytest.raises(InvalidRequest, match="cannot be mapped") as refused:
        budget_period(duration)
    assert refused.value.param == "budget_duration"


def test_key_durations_become_expiries() -> None:
    assert expiry("30s", NOW) == datetime(2027, 1, 31, 12, 0, 30, tzinfo=UTC)
    assert expiry("20m", NOW) == datetime(2027, 1, 31, 12, 20, tzinfo=UTC)
    assert expiry("2h", NOW) == datetime(2027, 1, 31, 14, 0, tzinfo=UTC)
    assert expiry("7d", NOW) == datetime(2027, 2, 7, 12, 0, tzinfo=UTC)
    assert expiry("1mo", NOW) == datetime(2027, 2, 28, 12, 0, tzinfo=UTC)  # the month's last day
    assert expiry(None, NOW) is None
    for bad in ("0d", "forever", "-1d", "99999999999999999999d"):
        with pytest.raises(InvalidRequest):
            expiry(bad, NOW)


def test_a_key_body_in_litellm_names() -> None:
    body = {
        "key_alias": "svc",
        "models": ["a"],
        "max_budget": 10.5,
        "budget_duration": "30d",
        "tpm_limit": 1000,
        "rpm_limit": 10,
        "max_parallel_requests": 2,
        "aliases": {"gpt-4": "a"},
        "metadata": {"app": "x"},
        "team_id": "t",
        "user_id": "u",
        "duration": None,
        "config": {},  # empty: accepted, as SDKs send it
    }
    fields = key_values(body, creating=True)
    assert fields["budget_usd"] == Decimal("10.5") and fields["budget_period"] == "monthly"
    assert (fields["alias"], fields["tpm"], fields["rpm"], fields["max_parallel"]) == ("svc", 1000, 10, 2)
    checked = check_fields(fields, KEY_FIELDS)
    assert checked["aliases"] == {"gpt-4": "a"} and checked["metadata"] == {"app": "x"}
    assert key_values({}, creating=True)["alias"].startswith("litellm-")
    assert key_values({"models": []}, creating=False) == {"models": None}  # LiteLLM's [] is every model


def test_fields_llmgate_does_not_implement_are_refused_when_given() -> None:
    with pytest.raises(InvalidRequest) as refused:
        key_values({"soft_budget": 5}, creating=True)
    assert refused.value.param == "soft_budget"
    with pytest.raises(InvalidRequest):
        user_values({"user_id": "u", "permissions": {"get_spend_routes": True}})
    assert team_values({"team_id": "t", "blocked": False, "team_alias": "T"}) == {"alias": "T"}
