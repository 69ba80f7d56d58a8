"""OpenAI wire format: the error body and what the gateway reads from request bodies."""

from llmgate.protocol.errors import error_body, error_from_exception
from llmgate.protocol.requests import ParsedRequest, check_body, parse_request, read_body

__all__ = ["ParsedRequest", "check_body", "error_body", "error_from_exception", "parse_request", "read_body"]
