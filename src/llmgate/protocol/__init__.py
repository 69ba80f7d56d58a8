"""OpenAI wire format: the error body and what the gateway reads from request bodies."""

from llmgate.protocol.errors import error_body, error_from_exception
from llmgate.protocol.requests import ParsedRequest, parse_request

__all__ = ["ParsedRequest", "error_body", "error_from_exception", "parse_request"]
