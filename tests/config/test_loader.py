"""Loading LiteLLM-style configs: what is accepted, what stops the start, what is warned about."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from llmgate.config import build_deployments, load_config
from llmgate.errors import ConfigError

LITELLM_CONFIG = """
model_list:
  - model_name: gpt-4o
    litellm_params:
      model: azure/gpt-4o-eu
      api_base: https://example-eu.openai.azure.com/
      api_key: os.environ/TEST_AZURE_KEY
      api_version: "2024-10-21"
      rpm: 600
      tpm: 100000
      timeout: 30
      input_cost_per_token: 0.0000025
      output_cost_per_token: 0.00001
    model_info:
      id: gpt-4o-eu
      mode: chat
      base_model: azure/gpt-4o
      supports_vision: true
  - model_name: claude
    litellm_params:
      model: anthropic/claude-sonnet-4-5
      api_key: os.environ/TEST_ANTHROPIC_KEY
      max_tokens: 1024
      aws_region_name: us-east-1
litellm_settings:
  drop_params: true
  set_verbose: false
  success_callback: ["langfuse"]
router_settings:
  routing_strategy: simple-shuffle
  num_retries: 2
general_settings:
  master_key: os.environ/TEST_MASTER_KEY
  database_url: postgresql://user@db:5432/llmgate
  alerting: ["slack"]
"""


def write(tmp_path: Path, text: str, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_AZURE_KEY", "azure-secret")
    monkeypatch.setenv("TEST_ANTHROPIC_KEY", "anthropic-secret")
    monkeypatch.setenv("TEST_MASTER_KEY", "sk-master-0123456789")
    monkeypatch.delenv("LLMGATE_DATABASE_URL", raising=False)


def test_litellm_config_loads_unchanged(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, LITELLM_CONFIG))
    azure, claude = build_deployments(config)
    assert azure.id == "gpt-4o-eu" and azure.provider == "azure" and azure.upstream_model == "gpt-4o-eu"
    assert azure.api_key == "azure-secret" and azure.api_base == "https://example-eu.openai.azure.com"
    assert azure.input_cost_per_token == Decimal("0.0000025") and azure.rpm == 600 and azure.timeout == 30
    assert claude.request_defaults == {"max_tokens": 1024}
    assert claude.provider_kwargs == {"aws_region_name": "us-east-1"}
    assert config.general_settings.master_key is not None
    assert config.general_settings.master_key.get_secret_value() == "sk-master-0123456789"
    assert config.llmgate.database_url == "postgresql+psycopg://user@db:5432/llmgate"
    assert config.unimplemented_keys() == [
        "litellm_settings.set_verbose",
        "litellm_settings.success_callback",
        "general_settings.alerting",
    ]


def test_secrets_do_not_show_in_repr(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, LITELLM_CONFIG))
    text = repr(config) + repr(build_deployments(config))
    assert "azure-secret" not in text and "sk-master-0123456789" not in text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "model_list:\n  - model_name: x\n    litellm_params:\n      model: openai/x\n      api_bse: y\n",
            "model_list[0].litellm_params: unknown key 'api_bse'",
        ),
        (
            "model_list:\n  - model_name: x\n    litellm_params:\n      model: openai/x\n      rpm: lots\n",
            "model_list[0].litellm_params.rpm: expected a whole number, got 'lots'",
        ),
        (
            "model_list:\n  - model_name: x\n    litellm_params:\n      model: openai/x\n    model_info:\n      mode: chats\n",
            "model_list[0].model_info.mode: 'chats' is not one of: 'chat', 'completion', 'embedding', 'image_generation',",
        ),
        (
            "general_settings:\n",
            "general_settings: expected a mapping of keys, got nothing (the key is empty)",
        ),
        (
            "router_settings:\n  num_retries: -1\n",
            "router_settings.num_retries: must be greater than or equal to 0",
        ),
        (
            "model_list:\n  - model_name: x\n    litellm_params:\n      model: my-house-model\n",
            "model_list[0].litellm_params.model: unknown model 'my-house-model': no provider is known for it; "
            "write it as 'provider/model' (e.g. 'openai/my-house-model')",
        ),
        (
            "model_list:\n  - model_name: x\n    litellm_params:\n      model: openai/\n",
            "model_list[0].litellm_params.model: must be 'provider/model'",
        ),
        ("model_list:\n  - model_name: x\n", "model_list[0].litellm_params: required key is missing"),
        (
            "model_list:\n  - model_name: x\n    litellm_params:\n      model: openai/x\n      api_key: os.environ/NOT_SET_ANYWHERE\n",
            "model_list[0].litellm_params.api_key: environment variable NOT_SET_ANYWHERE is not set",
        ),
        ("llmgate:\n  log_promts: false\n", "llmgate.log_promts: unknown key"),
        ("general_settings:\n  master_kee: x\n", "general_settings: unknown key 'master_kee'"),
        ("surprise_section: {}\n", "surprise_section: unknown key"),
        ("model_list: [\n", "at line 2"),
        ("- just\n- a list\n", "the top level must be a mapping"),
    ],
)
def test_bad_config_names_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert message in caught.value.message
    assert str(path) in caught.value.message
    assert "\n" not in caught.value.message
    assert "Input should" not in caught.value.message and "Value error" not in caught.value.message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_no_config_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LLMGATE_CONFIG", raising=False)
    with pytest.raises(ConfigError, match="LLMGATE_CONFIG"):
        load_config(None)


def test_relative_sqlite_path_and_spill_dir_follow_the_config_file(tmp_path: Path) -> None:
    sub = tmp_path / "conf"
    sub.mkdir()
    config = load_config(write(sub, "llmgate:\n  database_url: sqlite:///data/gate.db\n"))
    assert config.llmgate.database_url == f"sqlite:///{sub / 'data' / 'gate.db'}"
    assert config.llmgate.spill_dir == str(sub / ".llmgate-spill")


def test_database_url_env_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMGATE_DATABASE_URL", "postgres://a@b/c")
    config = load_config(write(tmp_path, "{}\n"))
    assert config.llmgate.database_url == "postgresql+psycopg://a@b/c"


def test_spill_dir_env_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMGATE_SPILL_DIR", str(tmp_path / "volume" / "spill"))
    config = load_config(write(tmp_path, "llmgate:\n  spill_dir: elsewhere\n"))
    assert config.llmgate.spill_dir == str(tmp_path / "volume" / "spill")
    monkeypatch.delenv("LLMGATE_SPILL_DIR")
    assert load_config(write(tmp_path, "llmgate:\n  spill_dir: elsewhere\n")).llmgate.spill_dir == str(
        tmp_path / "elsewhere"
    )


def test_include_and_environment_variables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TEST_FROM_CONFIG", raising=False)
    write(
        tmp_path,
        "model_list:\n  - model_name: b\n    litellm_params:\n      model: mock/echo\n",
        "models.yaml",
    )
    config = load_config(
        write(
            tmp_path,
            "include: [models.yaml]\n"
            "environment_variables:\n  TEST_FROM_CONFIG: hello\n"
            "model_list:\n  - model_name: a\n    litellm_params:\n      model: mock/echo\n"
            "      mock_response: os.environ/TEST_FROM_CONFIG\n",
        )
    )
    assert [e.model_name for e in config.model_list] == ["a", "b"]
    assert config.model_list[0].litellm_params.mock_response == "hello"


def test_log_prompts_per_model_overrides_global(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            "llmgate:\n  log_prompts: false\nmodel_list:\n"
            "  - model_name: a\n    litellm_params: {model: mock/echo}\n"
            "  - model_name: b\n    log_prompts: true\n    litellm_params: {model: mock/echo}\n"
            "  - model_name: c\n    litellm_params: {model: mock/echo}\n    model_info: {log_prompts: true}\n",
        )
    )
    assert [d.log_prompts for d in build_deployments(config)] == [False, True, True]


def test_max_request_size_mb_from_general_settings(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "general_settings:\n  max_request_size_mb: 2\n"))
    assert config.max_body_bytes == 2 * 1024 * 1024


def test_shipped_configs_load(monkeypatch: pytest.MonkeyPatch) -> None:
    root = Path(__file__).resolve().parents[2]
    assert load_config(root / "configs/default.yaml").model_list
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        monkeypatch.setenv(name, "x")
    monkeypatch.setenv("LLMGATE_MASTER_KEY", "sk-admin-0123456789abcdef")  # at least 16 characters
    assert load_config(root / "configs/example.yaml").model_list
