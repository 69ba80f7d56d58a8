"""Errors of the FastAPI part (admin API, unknown paths) in OpenAI's error shape.

The proxy routes shape their own errors through ``llmgate.protocol``; this module makes sure
every other answer the server gives looks the same, and that no traceback ever reaches a
client: unexpected exceptions are logged here and answered with a generic 500.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from llmgate.errors import LlmgateError
from llmgate.protocol import error_body, error_from_exception

log = logging.getLogger("llmgate.server")

JSON = "application/json"
TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
}


def _reply(status: int, body: bytes, headers: dict[str, str] | None = None) -> Response:
    return Response(content=body, status_code=status, media_type=JSON, headers=headers)


async def _llmgate_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LlmgateError)
    return _reply(exc.status_code, error_from_exception(exc))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = exc.detail if isinstance(exc.detail, str) else "Request failed."
    if exc.status_code == 404:
        message = f"Unknown path: {request.method} {request.url.path}"
    kind = TYPES.get(exc.status_code, "invalid_request_error" if exc.status_code < 500 else "server_error")
    return _reply(exc.status_code, error_body(message, kind), dict(exc.headers or {}))


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
    param = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or None
    return _reply(
        400, error_body(f"Invalid request: {first.get('msg')}", "invalid_request_error", param=param)
    )


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return _reply(500, error_body("The server had an error processing your request.", "server_error"))


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(LlmgateError, _llmgate_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected)
