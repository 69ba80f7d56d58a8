"""Configuration: the typed schema of the YAML file and its loader."""

from llmgate.config.deployment import Deployment, build_deployments
from llmgate.config.loader import load_config, parse_config
from llmgate.config.schema import GatewayConfig

__all__ = ["Deployment", "GatewayConfig", "build_deployments", "load_config", "parse_config"]
