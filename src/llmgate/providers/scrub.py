"""A deployment's secrets, kept out of what its upstream says back to a client.

An upstream may echo what it was sent: a 401 that quotes the ``Authorization`` header, a 400 that
repeats a credential from ``provider_kwargs``. Every provider passes an upstream error body or
message through here before it can reach a client (or a record): the deployment's ``api_key``, the
values of its credential-named ``extra_headers`` and ``provider_kwargs``, and any text shaped like a
known key format (``protocol/redact.py``) become ``[redacted]``. Error paths only: a successful
answer's bytes are never scanned.
"""

from __future__ import annotations

import re

from llmgate.config.deployment import Deployment
from llmgate.protocol.redact import scrub, scrub_text

#: config names whose values are secret (broader than the recorder's rule: these are our own values)
_SECRET_NAME = re.compile(r"key|secret|token|password|credential|auth", re.IGNORECASE)
#: shorter values are not credentials, and replacing them would garble messages
MIN_SECRET_CHARS = 6


def deployment_secrets(deployment: Deployment) -> list[str]:
    """The deployment's configured secret values, longest first (so none is half-replaced)."""
    found = [deployment.api_key] if deployment.api_key else []
    for mapping in (deployment.provider_kwargs, deployment.extra_headers):
        found += [v for k, v in mapping.items() if isinstance(v, str) and _SECRET_NAME.search(k)]
    return sorted({s for s in found if len(s) >= MIN_SECRET_CHARS}, key=len, reverse=True)


def scrub_body(body: bytes, deployment: Deployment) -> bytes:
    """An upstream error body with the deployment's secrets and known key formats redacted."""
    return scrub(body, deployment_secrets(deployment))


def scrub_message(text: str, deployment: Deployment) -> str:
    """``scrub_body`` for a message already decoded."""
    return scrub_text(text, deployment_secrets(deployment))
