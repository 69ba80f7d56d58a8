"""Reading multipart request bodies (file uploads) on the hot path, without copying the files.

``images/edits`` and ``audio/transcriptions`` / ``audio/translations`` arrive as
``multipart/form-data``. The server reads the body once, bounded by ``llmgate.max_body_bytes``
(``server/http.py``); ``read_form`` then finds the parts with ``bytes.find`` on that one object and
returns what the gateway routes, limits and records on, as ``read_body`` does for JSON:

- the text fields, as strings (a repeated field, ``timestamp_granularities[]``, as a list; ``n``
  and ``stream`` as the number and boolean ``check_body`` expects);
- each file part as an ``Upload``: a ``dict`` holding only its description (``filename``, ``size``,
  ``content_type``, and ``seconds`` for a WAV file, read from its header), which is all a record
  keeps, with the request's ``Form`` beside it as an attribute. JSON (orjson serialises the dict)
  and pickle (``__reduce__``: to the record writer) carry the description only, never the bytes.

Providers find the ``Form`` through ``form_of(body)``: the OpenAI-compatible one forwards the
client's bytes with its ``Content-Type`` (boundary included), changing only the fields the gateway
changed (the upstream ``model``) by slicing around them (``form_pieces``); the others read a file's
bytes as a ``memoryview`` of the same object.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from python_multipart.multipart import parse_options_header

from llmgate.errors import InvalidRequest

__all__ = ["Form", "Upload", "form_of", "form_pieces", "read_form", "text_bytes", "wav_seconds"]

#: text fields that are typed on the JSON side of the API (``check_body`` checks them as such)
_BOOLEAN_FIELDS = frozenset({"stream"})
_INTEGER_FIELDS = frozenset({"n"})


@dataclass(frozen=True, slots=True, eq=False)
class Form:
    """A multipart body as it came: the bytes, the client's ``Content-Type`` and where things are."""

    raw: bytes
    content_type: str
    boundary: bytes
    #: each text field's value as (start, end) offsets into ``raw`` (the first, if repeated)
    fields: Mapping[str, tuple[int, int]]
    #: where the closing delimiter (``\\r\\n--boundary--``) starts
    end: int


class Upload(dict[str, Any]):
    """One file part: its description as the dict (what is recorded), its bytes in ``form``."""

    __slots__ = ("end", "form", "start")

    def __init__(self, form: Form, start: int, end: int, description: dict[str, Any]) -> None:
        super().__init__(description)
        self.form, self.start, self.end = form, start, end

    @property
    def data(self) -> memoryview:
        """The file's bytes, a view of the request body (no copy)."""
        return memoryview(self.form.raw)[self.start : self.end]

    @property
    def filename(self) -> str:
        return str(self.get("filename") or "file")

    @property
    def content_type(self) -> str:
        return str(self.get("content_type") or "application/octet-stream")

    def __reduce__(self) -> tuple[Any, ...]:  # pickled (to the record writer) as its description
        return (dict, (dict(self),))

    def __copy__(self) -> Upload:
        return Upload(self.form, self.start, self.end, dict(self))


def form_of(body: Mapping[str, Any]) -> Form | None:
    """The ``Form`` a request body was read from, if it was a multipart one."""
    for value in body.values():
        if isinstance(value, Upload):
            return value.form
        if isinstance(value, list) and value and isinstance(value[0], Upload):
            return value[0].form
    return None


def text_bytes(body: Mapping[str, Any]) -> int:
    """How many bytes of text a multipart body's fields hold: the most its prompt can be in tokens
    (its files are priced by their pixels and seconds, not as text; see ``auth/worst_case.py``)."""
    form = form_of(body)
    if form is None:
        return 0
    return sum(end - start for start, end in form.fields.values())


def _refuse(reason: str) -> InvalidRequest:
    return InvalidRequest(f"We could not parse the multipart body of your request: {reason}.")


def read_form(raw: bytes, content_type: str | None) -> tuple[dict[str, Any], str]:
    """The form's fields (files as ``Upload``) and the model it asks for, as ``read_body`` returns."""
    kind, options = parse_options_header(content_type or "")
    if kind != b"multipart/form-data":
        raise InvalidRequest(
            "This endpoint takes a multipart/form-data body (a file upload); the request's "
            f"Content-Type is {(content_type or 'missing')[:100]!r}."
        )
    boundary = options.get(b"boundary", b"")
    if not boundary or len(boundary) > 200:
        raise _refuse("the Content-Type has no boundary")
    delimiter = b"--" + boundary
    if raw.startswith(delimiter):
        position = len(delimiter)
    else:  # a preamble, ignored (RFC 2046)
        found = raw.find(b"\r\n" + delimiter)
        if found < 0:
            raise _refuse("the boundary does not occur in the body")
        position = found + 2 + len(delimiter)
    delimiter = b"\r\n" + delimiter
    spans: dict[str, tuple[int, int]] = {}
    parts: list[tuple[str, int, int, dict[bytes, bytes], bytes]] = []
    while True:
        if raw.startswith(b"--", position):  # the closing delimiter
            end = position - len(delimiter)
            break
        if not raw.startswith(b"\r\n", position):
            raise _refuse("a boundary is not followed by a line break")
        head_end = raw.find(b"\r\n\r\n", position + 2)
        following = raw.find(delimiter, position)
        if head_end < 0 or following < 0 or head_end > following:
            raise _refuse("a part is cut short (is the body complete?)")
        disposition, part_type = b"", b""
        for line in raw[position + 2 : head_end].split(b"\r\n"):
            header, _, header_value = line.partition(b":")
            header = header.strip().lower()
            if header == b"content-disposition":
                disposition = header_value
            elif header == b"content-type":
                part_type = header_value.strip()
        _, params = parse_options_header(disposition)
        field = params.get(b"name")
        if field is None:
            raise _refuse("a part has no name")
        parts.append((field.decode("utf-8", "replace"), head_end + 4, following, params, part_type))
        position = following + len(delimiter)
    form_fields: dict[str, Any] = {}
    form = Form(raw, content_type or "", boundary, spans, end)
    for name, start, stop, params, part_type in parts:
        value: Any
        if b"filename" in params:
            description: dict[str, Any] = {
                "filename": params[b"filename"].decode("utf-8", "replace"),
                "size": stop - start,
                "content_type": part_type.decode("latin-1") or "application/octet-stream",
            }
            seconds = wav_seconds(memoryview(raw)[start : min(stop, start + 4096)], stop - start)
            if seconds is not None:
                description["seconds"] = seconds
            value = Upload(form, start, stop, description)
        else:
            try:
                value = raw[start:stop].decode()
            except UnicodeDecodeError:
                raise _refuse(f"the field {name!r} is not UTF-8 text") from None
            value = _typed(name, value)
            spans.setdefault(name, (start, stop))
        if name in form_fields:  # repeated (``image[]``, ``timestamp_granularities[]``): a list
            previous = form_fields[name]
            form_fields[name] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            form_fields[name] = value
    if not any(b"filename" in params for *_, params, _ in parts):
        raise InvalidRequest("The request has no file: this endpoint takes one as a multipart file part.")
    model = form_fields.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest(
            "you must provide a model parameter" if model is None else "'model' must be a non-empty string",
            param="model",
        )
    return form_fields, model


def _typed(name: str, value: str) -> Any:
    """``n`` as a number and ``stream`` as a boolean when they read as one (else left for
    ``check_body`` to refuse in its words)."""
    if name in _INTEGER_FIELDS and value.strip().isdigit():
        return int(value)
    if name in _BOOLEAN_FIELDS and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return value


def wav_seconds(head: memoryview | bytes, size: int) -> float | None:
    """A WAV file's duration from its header (``fmt `` byte rate, ``data`` size), else ``None``."""
    if len(head) < 12 or bytes(head[0:4]) != b"RIFF" or bytes(head[8:12]) != b"WAVE":
        return None
    position, byte_rate = 12, 0
    while position + 8 <= len(head):
        chunk = bytes(head[position : position + 4])
        length: int = struct.unpack_from("<I", head, position + 4)[0]
        if chunk == b"fmt " and position + 20 <= len(head):
            byte_rate = int(struct.unpack_from("<I", head, position + 16)[0])
        elif chunk == b"data":
            if not byte_rate:
                return None
            available = min(length, size - position - 8)
            return round(max(0, available) / byte_rate, 3)
        position += 8 + length + (length & 1)
    return None


def form_pieces(form: Form, body: Mapping[str, Any]) -> list[bytes | memoryview]:
    """The form to forward for ``body``: the client's bytes, with the text fields whose value the
    gateway changed (``model``) replaced and the ones it added (request defaults) appended, as
    slices of the original (no copy of the files). One piece, the same bytes, when nothing changed."""
    changes: list[tuple[int, int, bytes]] = []
    for name, (start, stop) in form.fields.items():
        value = body.get(name)
        if isinstance(value, str) and value.encode() != form.raw[start:stop]:
            changes.append((start, stop, value.encode()))
    added = b"".join(
        b"\r\n--"
        + form.boundary
        + b'\r\nContent-Disposition: form-data; name="'
        + name.encode()
        + b'"\r\n\r\n'
        + _text(value).encode()
        for name, value in body.items()
        if name not in form.fields and isinstance(value, str | int | float)
    )
    if added:
        changes.append((form.end, form.end, added))
    if not changes:
        return [form.raw]
    view = memoryview(form.raw)
    pieces: list[bytes | memoryview] = []
    position = 0
    for start, stop, replacement in sorted(changes):
        pieces += [view[position:start], replacement]
        position = stop
    pieces.append(view[position:])
    return pieces


def _text(value: str | int | float) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)
