"""A request's cache controls: the body's ``cache`` field, Cache-Control, its key's and team's."""

from __future__ import annotations

from typing import Any

import pytest

from llmgate.auth.key_fields import with_cache
from llmgate.cache.directives import read_directives
from llmgate.errors import InvalidRequest


def test_the_body_field_is_read_and_taken_out() -> None:
    body: dict[str, Any] = {
        "model": "m",
        "cache": {"no-cache": True, "ttl": 600, "s-maxage": "60", "namespace": "x"},
    }
    d = read_directives(body, {})
    assert "cache" not in body
    assert (d.no_cache, d.no_store, d.ttl_s, d.max_age_s, d.namespace) == (True, False, 600, 60, "x")
    assert read_directives({"cache": {"no-store": True}}, {}).no_store


def test_cache_control_header() -> None:
    d = read_directives({}, {"cache-control": "no-cache, max-age=30, private"})
    assert d.no_cache and not d.no_store and d.max_age_s == 30
    assert read_directives({}, {"cache-control": "No-Store"}).no_store
    assert read_directives({}, {"cache-control": "max-age=abc"}).max_age_s is None


def test_keys_and_teams_may_be_denied_or_opt_in() -> None:
    assert read_directives({}, {}, key_metadata={"cache": False}).denied
    assert read_directives({}, {}, team_metadata={"cache": {"no-cache": True, "no-store": True}}).denied
    assert not read_directives({}, {}, key_metadata={"cache": {"no-store": True}}).denied
    assert read_directives({}, {}, key_metadata={"cache": {"semantic": True}}).semantic
    assert not read_directives({}, {}, key_metadata={"other": 1}).denied


@pytest.mark.parametrize(("setting", "denied", "semantic"), [("off", True, False), ("semantic", False, True)])
def test_the_settings_of_keys_cache_are_read_as_they_say(setting: str, denied: bool, semantic: bool) -> None:
    """``llmgate keys|teams create --cache ...`` and the admin API's ``cache`` write what this reads."""
    metadata = with_cache({"owner": "data"}, setting)
    for owner in ("key_metadata", "team_metadata"):
        directives = read_directives({}, {}, **{owner: metadata})
        assert (directives.denied, directives.semantic) == (denied, semantic)
    on = read_directives({}, {}, key_metadata=with_cache(metadata, "on"))
    assert not on.denied and not on.semantic


@pytest.mark.parametrize(
    "field",
    [
        "yes",
        {"no-cache": "true"},
        {"ttl": -1},
        {"ttl": "soon"},
        {"ttl": True},
        {"namespace": ""},
        {"nocache": True},
        {"ttl": 1e300},  # past Redis's range: its refusal would count against every tenant's cache
        {"ttl": 366 * 24 * 3600 + 1},
        {"namespace": "n" * 129},
    ],
)
def test_a_bad_cache_field_is_a_400(field: Any) -> None:
    with pytest.raises(InvalidRequest) as error:
        read_directives({"cache": field}, {})
    assert error.value.param == "cache"


def test_the_longest_ttl_and_namespace_are_accepted() -> None:
    found = read_directives({"cache": {"ttl": 366 * 24 * 3600, "namespace": "n" * 128}}, {})
    assert found.ttl_s == 366 * 24 * 3600 and found.namespace == "n" * 128
