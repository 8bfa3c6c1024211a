"""Turn a small model's free-form output into OpenAI tool calls.

Small GGUF models write tool calls in several dialects: Hermes/ChatML style
`<tool_call>{...}</tool_call>` (SmolLM2, Qwen), a bare JSON object with
`parameters` (Llama 3.x), sometimes wrapped in a code fence or a list. The
parser accepts all of them, only for tools the client actually offered, and
never raises: anything it cannot read as a call stays ordinary text.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass
import json
import re
from typing import Any
import uuid

TOOL_CALL_OPEN = "<tool_call>"
TOOL_CALL_CLOSE = "</tool_call>"
_PYTHON_TAG = "<|python_tag|>"
_TAGGED_CALL = re.compile(
    re.escape(TOOL_CALL_OPEN) + r"(.*?)(?:" + re.escape(TOOL_CALL_CLOSE) + r"|\Z)", re.DOTALL
)
_CODE_FENCE = re.compile(r"\A```(?:json)?\s*(.*?)\s*(?:```)?\s*\Z", re.DOTALL)
_ARGUMENT_KEYS = ("arguments", "parameters", "args")


@dataclass(frozen=True)
class ToolCall:
    """One call in OpenAI's shape: `arguments` is JSON text, as the API sends it."""

    id: str
    name: str
    arguments: str

    def as_openai(self) -> dict[str, Any]:
        """The `tool_calls` entry of a chat completion message."""
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments},
        }


def new_call_id() -> str:
    """An id in the `call_...` style OpenAI clients expect."""
    return f"call_{uuid.uuid4().hex[:24]}"


def parse_tool_calls(text: str, tool_names: Collection[str]) -> tuple[str, list[ToolCall]]:
    """Split model output into the text to show and the tool calls it made.

    Malformed or unknown-tool calls are left in the text untouched so nothing
    the model said is lost.
    """
    if not tool_names or not text.strip():
        return text, []

    if TOOL_CALL_OPEN in text:
        calls: list[ToolCall] = []
        kept: list[str] = []
        position = 0
        for match in _TAGGED_CALL.finditer(text):
            found = _calls_from_json_text(match.group(1), tool_names)
            if found:
                kept.append(text[position : match.start()])
                calls.extend(found)
            else:
                kept.append(text[position : match.end()])
            position = match.end()
        kept.append(text[position:])
        return "".join(kept).strip() if calls else text, calls

    calls = _calls_from_json_text(text, tool_names)
    return ("", calls) if calls else (text, [])


def _calls_from_json_text(text: str, tool_names: Collection[str]) -> list[ToolCall]:
    """Calls from a JSON object or list, or [] when it is not wholly made of calls."""
    candidate = text.strip().removeprefix(_PYTHON_TAG).strip()
    if fence := _CODE_FENCE.match(candidate):
        candidate = fence.group(1)
    if not candidate.startswith(("{", "[")):
        return []

    # strict=False: small models put raw newlines inside JSON strings.
    decoder = json.JSONDecoder(strict=False)
    values: list[Any] = []
    position = 0
    # Several objects in a row ("{...}\n{...}" or "{...}; {...}") are several calls.
    while position < len(candidate):
        try:
            value, end = decoder.raw_decode(candidate, position)
        except json.JSONDecodeError:
            return []
        values.extend(value if isinstance(value, list) else [value])
        position = end
        while position < len(candidate) and candidate[position] in " \t\r\n;,":
            position += 1

    calls = [call for value in values if (call := _call_from_value(value, tool_names))]
    return calls if len(calls) == len(values) else []


def _call_from_value(value: Any, tool_names: Collection[str]) -> ToolCall | None:
    if not isinstance(value, dict):
        return None
    if isinstance(value.get("function"), dict):  # OpenAI's own shape, echoed back
        value = value["function"]
    name = value.get("name")
    if not isinstance(name, str) or name not in tool_names:
        return None
    arguments: Any = next((value[key] for key in _ARGUMENT_KEYS if key in value), {})
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments, strict=False) if arguments.strip() else {}
        except json.JSONDecodeError:
            return None
    if not isinstance(arguments, dict):
        return None
    return ToolCall(new_call_id(), name, json.dumps(arguments, ensure_ascii=False))


class ToolCallDetector:
    """Streams text through while holding back anything that may become a tool call.

    Text is released as soon as it cannot be the start of a call; a possible
    call is held until the end of generation and then parsed as a whole,
    because a half-written JSON argument is of no use to a client.
    """

    def __init__(self, tool_names: Collection[str]) -> None:
        self._tool_names = tool_names
        self._pending = ""
        self._capturing = False
        self._started = False

    def feed(self, piece: str) -> str:
        """Add generated text; return the part that is safe to show now."""
        self._pending += piece
        if self._capturing:
            return ""
        if not self._started:
            stripped = self._pending.lstrip()
            if not stripped:
                return ""
            if _may_open_call(stripped):
                if _is_open_call_prefix(stripped):
                    return ""  # too early to say
                self._capturing = True
                return ""
            self._started = True
        return self._release_text()

    def finish(self) -> tuple[str, list[ToolCall]]:
        """Text still held back and the tool calls found in it."""
        held, self._pending = self._pending, ""
        return parse_tool_calls(held, self._tool_names)

    def _release_text(self) -> str:
        index = self._pending.find(TOOL_CALL_OPEN)
        if index >= 0:
            released, self._pending = self._pending[:index], self._pending[index:]
            self._capturing = True
            return released
        keep = _partial_tag_suffix(self._pending)
        cut = len(self._pending) - keep
        released, self._pending = self._pending[:cut], self._pending[cut:]
        return released


_CALL_OPENERS = (TOOL_CALL_OPEN, _PYTHON_TAG, "{", "[", "```")


def _may_open_call(text: str) -> bool:
    """Whether output starting like this may be a call (or still could become one)."""
    return any(text.startswith(opener) or opener.startswith(text) for opener in _CALL_OPENERS)


def _is_open_call_prefix(text: str) -> bool:
    """True while the text is only a strict prefix of a multi-character opener."""
    return any(opener.startswith(text) and opener != text for opener in _CALL_OPENERS)


def _partial_tag_suffix(text: str) -> int:
    """Length of the longest end of `text` that could grow into `<tool_call>`."""
    for length in range(min(len(text), len(TOOL_CALL_OPEN) - 1), 0, -1):
        if TOOL_CALL_OPEN.startswith(text[-length:]):
            return length
    return 0


def iter_stream_deltas(calls: list[ToolCall]) -> Iterator[dict[str, Any]]:
    """The `delta.tool_calls` entries OpenAI streams: header first, then arguments."""
    for index, call in enumerate(calls):
        yield {
            "index": index,
            "id": call.id,
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }
        yield {"index": index, "function": {"arguments": call.arguments}}
