"""What an eval run checks before its first case: the setup, so that only the model is on trial.

A broken setup (the quality extra missing for a suite's ``grounded`` or ``similar`` assertions, a
model the gateway does not serve, a gateway that cannot be reached or refuses the key) would
otherwise make every case an error and store an errored run, which CI cannot tell from a model
that got worse. Each check raises ``SetupError`` (a ``ConfigError``: one line; ``llmgate eval
run`` exits 2) before any model is called or anything is stored (but see ``check_extras``).

- ``check_extras``: when a selected case has an assertion scored with the embedder, load it: here
  for the assertions checked answer by answer (``similar``, ``answer_relevance``), and for the
  batchable ones (``grounded``) in the scorer process (``scorer_process.py``), which it starts: it
  loads while the gateway starts and the first model calls go on. The run waits for it before it
  stores anything: an embedder that cannot load there is the same one-line ``ConfigError`` (exit
  2), the calls already sent are cancelled, and no run is stored.
- ``check_gateway``: one ``GET {base_url}/models``: the gateway answers, accepts the key, and
  lists every model the run will call (``models_named``: the models under test and the judges of
  ``llm_judge``). A server without a models list (404 or 405) is taken at its word.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from llmgate.errors import ConfigError
from llmgate.evals.assertions import ASSERTIONS
from llmgate.evals.calls import describe_error
from llmgate.evals.scorer_process import ScorerProcess
from llmgate.evals.suite import Case, Suite
from llmgate.quality.embedder import default_embedder

__all__ = ["SetupError", "check_extras", "check_gateway", "models_named"]


class SetupError(ConfigError):
    """The run cannot be a fair test of its models: an extra, a model or the gateway is missing."""


def check_extras(suite: Suite, cases: Iterable[Case]) -> ScorerProcess | None:
    """Start the scorer process if an assertion of ``cases`` that it scores (a batchable one) needs
    the embedder (its ``wait_ready`` raises the ``ConfigError`` when the embedder cannot load); load
    the embedder here if an assertion scored here needs it (``SetupError`` when it cannot)."""
    needing = sorted(
        {
            spec.type
            for case in cases
            for spec in suite.assertions_for(case)
            if ASSERTIONS[spec.type].needs_embedder
        }
    )
    what = f"suite {suite.name!r} uses {', '.join(needing)}"
    if any(ASSERTIONS[kind].check_batch is None for kind in needing):
        try:
            default_embedder().load()
        except ConfigError as exc:
            raise SetupError(f"{what}: {exc.message}") from None
    if any(ASSERTIONS[kind].check_batch is not None for kind in needing):
        return ScorerProcess(what)
    return None


def models_named(suite: Suite, models: Sequence[str], cases: Iterable[Case]) -> list[str]:
    """The models a run of ``cases`` calls: ``models`` (under test), then the ``llm_judge`` judges."""
    named = list(dict.fromkeys(models))
    for case in cases:
        for spec in suite.assertions_for(case):
            if spec.type == "llm_judge":
                judge = spec.model or spec.provider or suite.defaults.judge_model
                if judge and judge not in named:
                    named.append(judge)
    return named


def check_gateway(
    base_url: str, api_key: str, models: Sequence[str], *, where: str | None = None, timeout_s: float = 10.0
) -> None:
    """The gateway at ``base_url`` answers, takes ``api_key`` and serves every one of ``models``.

    ``where`` names the gateway in messages (default: its URL).
    """
    import openai  # the client eval runs call the gateway with

    label = where or f"the gateway at {base_url}"
    try:
        with openai.OpenAI(base_url=base_url, api_key=api_key, max_retries=0, timeout=timeout_s) as client:
            served = {model.id for model in client.models.list()}
    except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
        raise SetupError(
            f"{label} refused the API key ({describe_error(exc)}): pass --api-key or set LLMGATE_API_KEY"
        ) from None
    except openai.APIStatusError as exc:
        if exc.status_code in (404, 405):
            return  # no models list to check against: the calls will say
        raise SetupError(f"{label} cannot list its models ({describe_error(exc)})") from None
    except openai.APIConnectionError as exc:  # timeouts too
        reason = describe_error(exc).removeprefix("cannot reach the gateway: ")
        raise SetupError(f"cannot reach {label}: {reason}") from None
    unknown = [model for model in models if model not in served]
    if unknown:
        names = ", ".join(repr(m) for m in unknown)
        offer = ", ".join(sorted(served)) or "none"
        noun = "model" if len(unknown) == 1 else "models"
        raise SetupError(f"unknown {noun} {names}: {label} serves {offer}")
