"""Validating OpenAI chat-completion requests into what the model needs.

Every rejection names the offending parameter, in the error shape OpenAI
clients already know how to show (`{"error": {"message", "type", "param",
"code"}}`), so a misconfigured client says what is wrong instead of hanging.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import math
import re
from typing import Any

from .model import DEFAULT_TEMPERATURE, GenerationRequest
from .persona import with_system_prompt

_ROLES = ("system", "developer", "user", "assistant", "tool")
_TOOL_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
MAX_STOP_SEQUENCES = 4
MAX_MESSAGES = 1000
"""More than any real conversation (Home Assistant sends one session's history, tool calls
included); the request body's size (see `http_api.MAX_BODY_BYTES`) bounds the text."""
MAX_ARGUMENT_CHARS = 160
"""Longest free-text tool argument when a call is forced (entity names, short messages)."""
_CONSTRAINED_STRING = frozenset({"maxLength", "enum", "const", "pattern", "format"})


class ApiError(Exception):
    """An HTTP error with an OpenAI-style JSON body."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        error_type: str = "invalid_request_error",
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.error_type = error_type

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.error_type,
                "param": self.param,
                "code": self.code,
            }
        }


@dataclass
class ChatCompletionCall:
    """A parsed request: what to generate and how to answer."""

    generation: GenerationRequest
    stream: bool = False
    include_usage: bool = False
    tool_names: list[str] = field(default_factory=list)
    """Tools the answer may call; empty when tool calls must not be parsed."""


def parse_chat_request(body: Any, model_id: str, persona: str) -> ChatCompletionCall:
    """Check a `/v1/chat/completions` body; raises ApiError on the first problem."""
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object.")

    model = body.get("model")
    if model is not None and model != model_id:
        raise ApiError(
            404,
            f"The model '{model}' does not exist. This server serves '{model_id}'.",
            param="model",
            code="model_not_found",
        )
    if body.get("n", 1) != 1:
        raise ApiError(400, "Only n=1 is supported.", param="n")

    messages = _messages(body.get("messages"))
    tools = _tools(body.get("tools"))
    tool_choice = _tool_choice(body.get("tool_choice"), tools)
    offered = [] if tool_choice == "none" else tools
    stream_options = body.get("stream_options")
    if stream_options is None:
        stream_options = {}
    if not isinstance(stream_options, dict):
        raise ApiError(400, "stream_options must be an object.", param="stream_options")

    generation = GenerationRequest(
        messages=with_system_prompt(messages, persona),
        tools=offered,
        forced_tool_schema=_forced_schema(tool_choice, offered)
        or _response_schema(body.get("response_format")),
        temperature=_number(body, "temperature", 0.0, 2.0, DEFAULT_TEMPERATURE),
        top_p=_number(body, "top_p", 0.0, 1.0, 0.95),
        max_tokens=_max_tokens(body),
        stop=_stop(body.get("stop")),
        seed=_optional_int(body, "seed"),
    )
    return ChatCompletionCall(
        generation=generation,
        stream=_bool(body, "stream"),
        include_usage=bool(stream_options.get("include_usage", False)),
        tool_names=[tool["function"]["name"] for tool in offered],
    )


def _messages(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not value:
        raise ApiError(400, "messages must be a non-empty array.", param="messages")
    if len(value) > MAX_MESSAGES:
        raise ApiError(
            400,
            f"messages holds {len(value)} messages; at most {MAX_MESSAGES} are accepted "
            "(older turns beyond the context window are dropped anyway).",
            param="messages",
            code="too_many_messages",
        )
    for index, message in enumerate(value):
        param = f"messages[{index}]"
        if not isinstance(message, dict):
            raise ApiError(400, f"{param} must be an object.", param=param)
        if message.get("role") not in _ROLES:
            raise ApiError(
                400,
                f"{param}.role must be one of {', '.join(_ROLES)}.",
                param=f"{param}.role",
            )
        content = message.get("content")
        if not (content is None or isinstance(content, str | list)):
            raise ApiError(
                400, f"{param}.content must be a string or an array.", param=f"{param}.content"
            )
        if isinstance(content, list):
            _content_parts(content, f"{param}.content")
        _message_tool_calls(message.get("tool_calls"), f"{param}.tool_calls")
    return value


def _content_parts(parts: list[Any], param: str) -> None:
    for index, part in enumerate(parts):
        if not isinstance(part, dict):
            raise ApiError(400, f"{param} parts must be objects.", param=param)
        if part.get("type") == "text" and not isinstance(part.get("text"), str):
            raise ApiError(
                400, f"{param}[{index}].text must be a string.", param=f"{param}[{index}].text"
            )


def _message_tool_calls(calls: Any, param: str) -> None:
    if calls is None:
        return
    if not isinstance(calls, list):
        raise ApiError(400, f"{param} must be an array.", param=param)
    for index, call in enumerate(calls):
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise ApiError(400, f"{param}[{index}] needs a function name.", param=param)
        if not isinstance(function.get("arguments"), str | dict | None):
            raise ApiError(
                400,
                f"{param}[{index}].function.arguments must be a JSON string or an object.",
                param=param,
            )


def _tools(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ApiError(400, "tools must be an array.", param="tools")
    for index, tool in enumerate(value):
        function = tool.get("function") if isinstance(tool, dict) else None
        if (
            not isinstance(tool, dict)
            or tool.get("type", "function") != "function"
            or not isinstance(function, dict)
        ):
            raise ApiError(400, f"tools[{index}] must be a function tool.", param=f"tools[{index}]")
        name = function.get("name")
        if not isinstance(name, str) or not _TOOL_NAME.match(name):
            raise ApiError(
                400,
                f"tools[{index}].function.name must match {_TOOL_NAME.pattern}.",
                param=f"tools[{index}].function.name",
            )
        if not isinstance(function.get("parameters", {}), dict):
            raise ApiError(
                400,
                f"tools[{index}].function.parameters must be a JSON schema object.",
                param=f"tools[{index}].function.parameters",
            )
    return value


def _tool_choice(value: Any, tools: list[dict[str, Any]]) -> str | dict[str, Any]:
    if value is None:
        return "auto" if tools else "none"
    if value in ("none", "auto", "required"):
        if value == "required" and not tools:
            raise ApiError(400, "tool_choice 'required' needs tools.", param="tool_choice")
        return str(value)
    function = value.get("function") if isinstance(value, dict) else None
    name = function.get("name") if isinstance(function, dict) else None
    if name not in {tool["function"]["name"] for tool in tools}:
        raise ApiError(
            400,
            "tool_choice must be none, auto, required or a function from tools.",
            param="tool_choice",
        )
    return {"type": "function", "function": {"name": name}}


def _forced_schema(
    tool_choice: str | dict[str, Any], tools: list[dict[str, Any]]
) -> dict[str, Any] | None:
    """A schema that makes the answer one valid call (tool_choice required/named)."""
    if tool_choice in ("none", "auto"):
        return None
    if isinstance(tool_choice, dict):
        tools = [t for t in tools if t["function"]["name"] == tool_choice["function"]["name"]]
    options = [
        {
            "type": "object",
            "properties": {
                "name": {"const": tool["function"]["name"]},
                "arguments": _bounded_strings(
                    tool["function"].get("parameters") or {"type": "object"}
                ),
            },
            "required": ["name", "arguments"],
        }
        for tool in tools
    ]
    return options[0] if len(options) == 1 else {"anyOf": options}


def _bounded_strings(schema: Any) -> Any:
    """A copy of a JSON schema whose free-text strings have a length limit.

    Inside a grammar-forced string a small model can repeat itself until
    `max_tokens` cuts the call in half; a limit makes it close the string.
    """
    if isinstance(schema, list):
        return [_bounded_strings(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    bounded = {key: _bounded_strings(value) for key, value in schema.items()}
    if schema.get("type") == "string" and not _CONSTRAINED_STRING & schema.keys():
        bounded["maxLength"] = MAX_ARGUMENT_CHARS
    return bounded


def _response_schema(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    kind = value.get("type") if isinstance(value, dict) else None
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "object"}
    spec = value.get("json_schema") if kind == "json_schema" else None
    schema = spec.get("schema") if isinstance(spec, dict) else None
    if not isinstance(schema, dict):
        raise ApiError(
            400,
            "response_format must be text, json_object or json_schema with a schema.",
            param="response_format",
        )
    return schema


def _number(body: dict[str, Any], key: str, low: float, high: float, default: float) -> float:
    value = body.get(key)
    if value is None:
        return default
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not low <= value <= high
    ):
        raise ApiError(400, f"{key} must be a number between {low} and {high}.", param=key)
    return float(value)


def _max_tokens(body: dict[str, Any]) -> int | None:
    key = "max_completion_tokens" if "max_completion_tokens" in body else "max_tokens"
    value = _optional_int(body, key)
    if value is not None and value < 1:
        raise ApiError(400, f"{key} must be at least 1.", param=key)
    return value


def _optional_int(body: dict[str, Any], key: str) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiError(400, f"{key} must be an integer.", param=key)
    return value


def _bool(body: dict[str, Any], key: str) -> bool:
    value = body.get(key, False)
    if not isinstance(value, bool) and value is not None:
        raise ApiError(400, f"{key} must be true or false.", param=key)
    return bool(value)


def _stop(value: Any) -> list[str]:
    if value is None:
        return []
    stops = [value] if isinstance(value, str) else value
    if (
        not isinstance(stops, list)
        or len(stops) > MAX_STOP_SEQUENCES
        or not all(isinstance(s, str) and s for s in stops)
    ):
        raise ApiError(
            400,
            f"stop must be a string or up to {MAX_STOP_SEQUENCES} non-empty strings.",
            param="stop",
        )
    return stops
