"""Server-sent events: ``EventSourceResponse`` and ``ServerSentEvent``.

A path operation declared with ``response_class=EventSourceResponse`` that ``yield``s items streams
them as ``text/event-stream``: a ``ServerSentEvent`` is written with its fields, anything else as a
JSON ``data:`` line. While the generator is idle a ``: ping`` comment keeps proxies from timing out.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field, model_validator
from starlette.responses import StreamingResponse

#: Seconds of generator silence after which a keep-alive comment is sent.
PING_INTERVAL: float = 15.0
#: The keep-alive comment.
KEEPALIVE_COMMENT = b": ping\n\n"


class EventSourceResponse(StreamingResponse):
    """A ``text/event-stream`` response; as ``response_class`` it turns a generator path operation
    into an event stream (any HTTP method)."""

    media_type = "text/event-stream"


def _single_line(value: str | None, what: str) -> str | None:
    if value is not None and ("\r" in value or "\n" in value):
        raise ValueError(f"SSE '{what}' must be a single line")
    return value


def _valid_event(value: str | None) -> str | None:
    return _single_line(value, "event")


def _valid_id(value: str | None) -> str | None:
    if value is not None and "\0" in value:
        raise ValueError("SSE 'id' must not contain null characters")
    return _single_line(value, "id")


class ServerSentEvent(BaseModel):
    """One event. ``data`` is always JSON-encoded (a string gets quotes); ``raw_data`` is sent as is."""

    data: Any = None
    raw_data: str | None = None
    event: Annotated[str | None, AfterValidator(_valid_event)] = None
    id: Annotated[str | None, AfterValidator(_valid_id)] = None
    retry: Annotated[int | None, Field(ge=0)] = None
    comment: str | None = None

    @model_validator(mode="after")
    def _data_or_raw_data(self) -> ServerSentEvent:
        if self.data is not None and self.raw_data is not None:
            raise ValueError(
                "Cannot set both 'data' and 'raw_data' on the same ServerSentEvent: use 'data' for "
                "JSON-serialized payloads or 'raw_data' for pre-formatted strings."
            )
        return self


def _lines(value: str) -> list[str]:
    # The SSE line terminators are \n, \r\n and \r; empty trailing lines are kept.
    return value.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def format_sse_event(
    *,
    data_str: str | None = None,
    event: str | None = None,
    id: str | None = None,  # noqa: A002 - the SSE field's name
    retry: int | None = None,
    comment: str | None = None,
) -> bytes:
    """The wire form of one event whose data is already serialized; ends with a blank line."""
    out: list[str] = []
    if comment is not None:
        out.extend(f": {line}" for line in _lines(comment))
    if event is not None:
        out.append(f"event: {event}")
    if data_str is not None:
        out.extend(f"data: {line}" for line in _lines(data_str))
    if id is not None:
        out.append(f"id: {id}")
    if retry is not None:
        out.append(f"retry: {retry}")
    out.extend(("", ""))
    return "\n".join(out).encode("utf-8")


__all__ = ["EventSourceResponse", "ServerSentEvent", "format_sse_event"]
