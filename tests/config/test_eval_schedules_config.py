"""``llmgate.alerts`` and ``llmgate.eval_schedules``: defaults, suite paths relative to the config
file, and one-line errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmgate.config import load_config
from llmgate.errors import ConfigError

BASE = """
model_list:
  - model_name: mock-echo
    litellm_params:
      model: mock/echo
"""


def write(tmp_path: Path, llmgate: str) -> Path:
    path = tmp_path / "conf" / "config.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(BASE + "llmgate:\n" + llmgate)
    return path


def test_defaults_are_no_schedules_and_a_log_sink(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "  log_prompts: true\n"))
    assert config.llmgate.eval_schedules == []
    assert config.llmgate.alerts.log is True
    assert config.llmgate.alerts.webhooks == []


def test_schedules_and_alerts_are_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_HOOK_TOKEN", "hook-secret")
    path = write(
        tmp_path,
        """
  alerts:
    log: false
    webhooks:
      - url: http://127.0.0.1:9/hook
        headers: {Authorization: os.environ/TEST_HOOK_TOKEN}
      - url: https://alerts.example.com/x
        timeout: 2
  eval_schedules:
    - cron: "*/5 * * * *"
      suite: ../evals/rag.yaml
    - name: nightly-qa
      cron: "0 2 * * *"
      suite: /abs/qa.yaml
      models: [mock-echo]
      repeat: 3
      concurrency: 2
      alert_on_regression: false
""",
    )
    config = load_config(path)
    first, second = config.llmgate.eval_schedules
    assert first.suite == str((tmp_path / "evals" / "rag.yaml").resolve())
    assert first.name == "../evals/rag.yaml"  # an unnamed schedule is named after its suite
    assert (first.repeat, first.concurrency, first.alert_on_regression, first.models) == (1, 4, True, None)
    assert second.name == "nightly-qa"
    assert second.suite == "/abs/qa.yaml"
    assert (second.models, second.repeat, second.concurrency, second.alert_on_regression) == (
        ["mock-echo"],
        3,
        2,
        False,
    )
    alerts = config.llmgate.alerts
    assert alerts.log is False
    assert alerts.webhooks[0].headers == {"Authorization": "hook-secret"}
    assert alerts.webhooks[0].timeout == 5.0
    assert alerts.webhooks[1].timeout == 2.0


def test_seconds_field_is_accepted(tmp_path: Path) -> None:
    path = write(tmp_path, "  eval_schedules:\n    - {cron: '* * * * * *', suite: s.yaml}\n")
    assert load_config(path).llmgate.eval_schedules[0].cron == "* * * * * *"


@pytest.mark.parametrize(
    ("cron", "problem"),
    [
        ("every five minutes", "invalid cron expression 'every five minutes'"),
        ("61 * * * *", "invalid cron expression '61 * * * *'"),
        ("* * *", "invalid cron expression"),
        ("0 0 31 2 *", "invalid cron expression"),  # never fires
    ],
)
def test_bad_cron_is_one_line_naming_the_key(tmp_path: Path, cron: str, problem: str) -> None:
    path = write(tmp_path, f"  eval_schedules:\n    - {{cron: '{cron}', suite: s.yaml}}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = info.value.message
    assert "\n" not in message
    assert message.startswith(f"{path}: llmgate.eval_schedules[0].cron: {problem}")


@pytest.mark.parametrize(
    ("llmgate", "problem"),
    [
        (
            "  eval_schedules:\n    - {suite: s.yaml}\n",
            "llmgate.eval_schedules[0].cron: required key is missing",
        ),
        (
            "  eval_schedules:\n    - {cron: '* * * * *', suite: s.yaml, repeat: 0}\n",
            "llmgate.eval_schedules[0].repeat:",
        ),
        (
            "  eval_schedules:\n    - {cron: '* * * * *', suite: s.yaml, model: x}\n",
            "llmgate.eval_schedules[0].model: unknown key",
        ),
        (
            "  eval_schedules:\n    - {cron: '* * * * *', suite: s.yaml}\n    - {cron: '0 * * * *', suite: s.yaml}\n",
            "llmgate.eval_schedules: two schedules are named 's.yaml'",
        ),
        ("  alerts:\n    webhooks: [{url: 'ftp://x'}]\n", "llmgate.alerts.webhooks[0].url: must be an http"),
        ("  alerts:\n    slack: true\n", "llmgate.alerts.slack: unknown key"),
    ],
)
def test_other_mistakes_name_the_key(tmp_path: Path, llmgate: str, problem: str) -> None:
    path = write(tmp_path, llmgate)
    with pytest.raises(ConfigError, match=None) as info:
        load_config(path)
    assert info.value.message.startswith(f"{path}: {problem}")


def test_store_only_commands_load_without_the_webhook_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TEST_UNSET_HOOK_TOKEN", raising=False)
    path = write(
        tmp_path,
        "  alerts:\n    webhooks: [{url: 'http://127.0.0.1:9/h', headers: {X-Token: os.environ/TEST_UNSET_HOOK_TOKEN}}]\n",
    )
    assert load_config(path, for_store_only=True).llmgate.alerts.webhooks[0].headers == {"X-Token": None}
    with pytest.raises(ConfigError, match="TEST_UNSET_HOOK_TOKEN is not set"):
        load_config(path)
