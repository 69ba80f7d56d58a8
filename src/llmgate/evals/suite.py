"""Eval suite files: the YAML format, validated once, with errors that name the file, line and key.

A suite (see ``evals/*.yaml`` for real ones)::

    name: rag-faithfulness
    description: ...                  # optional
    models: [gpt-4o-mini]             # the models under test; --model overrides
    prompt:                           # optional; a case may give messages instead
      system: Answer from the context only.
      user: "Context: {{context}}\\n\\nQuestion: {{question}}"
    defaults:                         # optional
      temperature: 0
      max_tokens: 200
      judge_model: gpt-4o             # llm_judge's default judge
      vars: {audience: engineers}     # merged under every case's vars
      assert: [{type: max_latency_ms, value: 5000}]   # added to every case
    cases:
      - id: eiffel-height             # optional: case-1, case-2, ... by position
        vars: {question: How tall is the Eiffel Tower?}
        context: The Eiffel Tower is 330 m tall.   # or a list of passages
        reference: 330 metres                       # optional, for similar
        tags: [landmarks]
        assert:
          - type: contains
            value: "330"
          - type: grounded
            threshold: 0.6

Templates use ``{{name}}`` (spaces inside the braces allowed): the case's vars over
``defaults.vars``, plus ``context`` (the passages joined by blank lines). A name no case provides
is an error at load time, as is every other problem: one line ``FILE:LINE: KEY: problem``, the
line found from PyYAML's node marks, e.g. ``evals/rag.yaml:14: cases[2].assert[0].type: unknown
assertion type 'contain' (known: ...)``.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from llmgate.errors import ConfigError
from llmgate.evals.assertions import ASSERTIONS, AssertionSpec, SpecProblem
from llmgate.evals.yaml_lines import describe_error, read_yaml

_VAR = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_BRACES = re.compile(r"\{\{(.*?)\}\}")


class SuiteError(ConfigError):
    """A suite file that cannot be read or is not a valid suite (the CLI's exit code 2)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def template_names(template: str) -> list[str]:
    """The variables ``template`` uses; ``SpecProblem`` for a ``{{...}}`` that is not a plain name."""
    for inner in _BRACES.findall(template):
        if not re.fullmatch(r"\s*[A-Za-z_][A-Za-z0-9_]*\s*", inner):
            raise ValueError(f"{{{{{inner}}}}} is not a variable: use {{{{name}}}}")
    return _VAR.findall(template)


def render(template: str, values: dict[str, Any]) -> str:
    """``template`` with every ``{{name}}`` replaced by ``values[name]`` (lists and maps as JSON)."""

    def value_of(match: re.Match[str]) -> str:
        value = values[match.group(1)]
        if isinstance(value, str):
            return value
        return json.dumps(value, ensure_ascii=False) if isinstance(value, list | dict) else str(value)

    return _VAR.sub(value_of, template)


class PromptSpec(_Strict):
    system: str | None = None
    user: str

    @field_validator("system", "user")
    @classmethod
    def _plain_names(cls, value: str | None) -> str | None:
        if value is not None:
            template_names(value)
        return value


class Message(_Strict):
    role: Literal["system", "user", "assistant"]
    content: str

    @field_validator("content")
    @classmethod
    def _plain_names(cls, value: str) -> str:
        template_names(value)
        return value


class Defaults(_Strict):
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, ge=1)
    top_p: float | None = Field(default=None, gt=0, le=1)
    seed: int | None = None
    stop: list[str] | None = None
    judge_model: str | None = None
    vars: dict[str, Any] = Field(default_factory=dict)
    asserts: list[AssertionSpec] = Field(default_factory=list, alias="assert")

    def request_params(self) -> dict[str, Any]:
        """The chat-completion parameters every case's request carries."""
        fields = ("temperature", "max_tokens", "top_p", "seed", "stop")
        return {name: getattr(self, name) for name in fields if getattr(self, name) is not None}


class Case(_Strict):
    id: str | None = None
    description: str | None = None
    vars: dict[str, Any] = Field(default_factory=dict)
    messages: list[Message] | None = None
    context: str | list[str] | None = Field(default=None, union_mode="left_to_right")
    reference: str | None = None
    tags: list[str] = Field(default_factory=list)
    asserts: list[AssertionSpec] = Field(default_factory=list, alias="assert")

    @field_validator("id", mode="before")
    @classmethod
    def _id_text(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        if isinstance(value, str) and not value.strip():
            raise ValueError("must not be empty")
        return value

    @field_validator("context", mode="before")
    @classmethod
    def _context(cls, value: Any) -> Any:
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
        raise ValueError("must be a passage (a string) or a list of passages")

    @field_validator("messages")
    @classmethod
    def _some_messages(cls, value: list[Message] | None) -> list[Message] | None:
        if value is not None and not any(m.role == "user" for m in value):
            raise ValueError("needs at least one user message")
        return value

    @property
    def context_text(self) -> str | None:
        """The passages as one text (blank lines between them)."""
        if self.context is None:
            return None
        return self.context if isinstance(self.context, str) else "\n\n".join(self.context)

    @property
    def passages(self) -> tuple[str, ...]:
        """The context passage by passage (one passage when it is a single text)."""
        if self.context is None:
            return ()
        return (self.context,) if isinstance(self.context, str) else tuple(self.context)


class Suite(_Strict):
    """A validated suite. ``load_suite`` reads one from a file; cases get their ids here."""

    name: str = Field(min_length=1)
    description: str | None = None
    models: list[str] = Field(default_factory=list)
    prompt: PromptSpec | None = None
    defaults: Defaults = Field(default_factory=Defaults)
    cases: list[Case] = Field(min_length=1)

    _path: Path | None = PrivateAttr(default=None)
    _hash: str | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _consistent(self) -> Suite:
        seen: dict[str, int] = {}
        cases: list[Case] = []
        for index, case in enumerate(self.cases):
            case_id = case.id or f"case-{index + 1}"
            if case_id in seen:
                where = ("cases", index, "id") if case.id else ("cases", index)
                raise SpecProblem(where, f"duplicate case id {case_id!r} (also cases[{seen[case_id]}])")
            seen[case_id] = index
            self._check_case(index, case)
            cases.append(case if case.id else case.model_copy(update={"id": case_id}))
        object.__setattr__(self, "cases", cases)
        return self

    def _check_case(self, index: int, case: Case) -> None:
        if case.messages is None and self.prompt is None:
            raise SpecProblem(("cases", index), "no prompt: give the suite a prompt: or the case messages:")
        values = self.variables(case)
        templates: list[tuple[str, str]] = []
        if case.messages is not None:
            templates += [(f"messages[{i}].content", m.content) for i, m in enumerate(case.messages)]
        elif self.prompt is not None:
            templates += [("prompt.user", self.prompt.user)]
            if self.prompt.system is not None:
                templates.append(("prompt.system", self.prompt.system))
        for where, template in templates:
            for name in template_names(template):
                if name not in values:
                    hint = "" if name != "context" else " (the case has no context:)"
                    raise SpecProblem(
                        ("cases", index, "vars"), f"missing variable {name!r} used by {where}{hint}"
                    )
        for source, specs in (("defaults", self.defaults.asserts), ("case", case.asserts)):
            for j, spec in enumerate(specs):
                kind = ASSERTIONS[spec.type]
                at: tuple[str | int, ...] = (
                    ("cases", index, "assert", j) if source == "case" else ("cases", index)
                )
                if kind.needs_context and not case.context:
                    raise SpecProblem(at, f"{spec.type} needs a context: on the case")
                if kind.needs_reference and spec.value is None and not case.reference:
                    raise SpecProblem(at, f"{spec.type} needs a value: or a reference: on the case")

    # --- what the runner needs ------------------------------------------------------------

    @property
    def source_path(self) -> Path | None:
        """The file the suite was read from, if any."""
        return self._path

    @property
    def content_hash(self) -> str:
        """sha256 of the suite file's bytes (of its canonical JSON when it has no file)."""
        if self._hash is None:
            canonical = json.dumps(self.model_dump(mode="json", by_alias=True), sort_keys=True)
            self._hash = hashlib.sha256(canonical.encode()).hexdigest()
        return self._hash

    def variables(self, case: Case) -> dict[str, Any]:
        """The values a case's templates may use."""
        values = {**self.defaults.vars, **case.vars}
        if case.context is not None:
            values.setdefault("context", case.context_text)
        return values

    def messages_for(self, case: Case) -> list[dict[str, str]]:
        """The chat messages sent for ``case``, templates filled in."""
        values = self.variables(case)
        if case.messages is not None:
            return [{"role": m.role, "content": render(m.content, values)} for m in case.messages]
        assert self.prompt is not None  # checked at load
        out: list[dict[str, str]] = []
        if self.prompt.system:
            out.append({"role": "system", "content": render(self.prompt.system, values)})
        out.append({"role": "user", "content": render(self.prompt.user, values)})
        return out

    def question_for(self, case: Case) -> str:
        """What the case asks: its ``question`` (or ``query``, ``input``) variable, else the last user
        message."""
        values = self.variables(case)
        for name in ("question", "query", "input"):
            if isinstance(values.get(name), str) and values[name].strip():
                return str(values[name])
        users = [m["content"] for m in self.messages_for(case) if m["role"] == "user"]
        return users[-1] if users else ""

    def assertions_for(self, case: Case) -> list[AssertionSpec]:
        return [*self.defaults.asserts, *case.asserts]

    def select(self, tags: list[str] | None) -> list[Case]:
        """The cases with any of ``tags`` (every case when ``tags`` is empty)."""
        if not tags:
            return list(self.cases)
        wanted = set(tags)
        return [c for c in self.cases if wanted & set(c.tags)]


# --- reading files --------------------------------------------------------------------------


def load_suite(path: str | Path) -> Suite:
    """Read and validate the suite at ``path``; ``SuiteError`` (one line) if it is not a valid suite."""
    shown = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise SuiteError(f"{shown}: cannot read the suite ({exc.strerror or type(exc).__name__})") from None
    suite = parse_suite(raw, source=shown)
    suite._path = Path(path).resolve()
    return suite


def parse_suite(content: str | bytes, *, source: str = "suite") -> Suite:
    """Validate suite YAML; ``source`` names it in errors. The hash is of ``content``'s bytes."""
    raw = content.encode() if isinstance(content, str) else content
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise SuiteError(f"{source}: the suite is not UTF-8 text") from None
    node, data = read_yaml(text, source, error=SuiteError)
    if not isinstance(data, dict):
        line = f":{node.start_mark.line + 1}" if node is not None else ""
        raise SuiteError(f"{source}{line}: a suite is a mapping with name:, models:, cases: ...")
    try:
        suite = Suite.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        first = describe_error(errors[0], node, source)
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise SuiteError(first + more) from None
    suite._hash = hashlib.sha256(raw).hexdigest()
    return suite
