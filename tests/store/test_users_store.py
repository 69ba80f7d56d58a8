"""Internal users and team members in the store (SQLite and PostgreSQL): writes with their audit
entries, members created on the fly, and deletions that revoke keys but keep their rows."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy.engine import Engine

from llmgate.auth import key_admin, user_admin
from llmgate.errors import InvalidRequest
from llmgate.store import keys, team_members, users
from llmgate.store.key_rows import NotFound


def test_users_members_and_deletions(engine: Engine) -> None:
    user = user_admin.create_user(
        engine, "alice", actor="test", email="a@example.com", budget_usd=Decimal("2.5"), metadata={"x": 1}
    )
    assert (user.role, user.budget_usd, user.budget_period, user.metadata) == (
        "internal_user",
        Decimal("2.5"),
        "monthly",
        {"x": 1},
    )
    with pytest.raises(InvalidRequest):
        user_admin.create_user(engine, "alice", actor="test")
    changed = user_admin.update_user(
        engine, "alice", actor="test", budget_usd=Decimal(3), budget_period="daily"
    )
    assert (changed.budget_usd, changed.budget_period) == (Decimal(3), "daily")
    before = keys.access_version(engine)

    key_admin.create_team(engine, "search", actor="test", alias="Search", metadata={"cc": "42"})
    team_key = key_admin.issue_key(engine, actor="test", alias="t-key", team_id="search")[1]
    user_key = key_admin.issue_key(engine, actor="test", alias="u-key", user_id="alice")[1]
    members = user_admin.add_members(engine, "search", [("alice", "admin"), ("bob", None)], actor="test")
    assert [(m.user_id, m.role) for m in members] == [("alice", "admin"), ("bob", "user")]
    assert users.get_user(engine, "bob") is not None  # made as a member
    assert keys.access_version(engine) != before
    with pytest.raises(InvalidRequest):
        user_admin.add_members(engine, "search", [("bob", "user")], actor="test")
    assert user_admin.update_member(engine, "search", "bob", "admin", actor="test").role == "admin"
    user_admin.remove_members(engine, "search", ["bob"], actor="test")
    assert [m.user_id for m in team_members.members_of(engine, "search")] == ["alice"]
    assert [m.team_id for m in team_members.teams_of(engine, "alice")] == ["search"]

    assert user_admin.delete_teams(engine, ["search"], actor="test") == {"search": [team_key.id]}
    assert keys.get_team(engine, "search") is None and team_members.teams_of(engine, "alice") == []
    revoked = keys.get_key(engine, team_key.id)
    assert revoked is not None and revoked.revoked_at is not None  # the row stays, for spend
    assert user_admin.delete_users(engine, ["alice"], actor="test") == ["alice"]
    assert users.get_user(engine, "alice") is None
    gone = keys.get_key(engine, user_key.id)
    assert gone is not None and gone.revoked_at is not None
    with pytest.raises(NotFound):
        user_admin.delete_users(engine, ["nobody"], actor="test")
    actions = [entry.action for entry in keys.list_audit(engine)]
    for action in (
        "user.create",
        "user.update",
        "team.member_add",
        "team.member_update",
        "team.member_delete",
        "team.delete",
        "key.revoke",
        "user.delete",
    ):
        assert action in actions
