"""OpenAI chat messages -> the prompt text the loaded model was trained on.

The model's own Jinja chat template (GGUF `tokenizer.chat_template`) does the
formatting, so a user's Llama 3.2 or SarcasMLL GGUF is prompted correctly.
Templates that know about tools (Llama 3.x, Qwen) get the tools natively;
for the others (SmolLM2) the tools are described in the system prompt in the
Hermes `<tool_call>` style that small ChatML models have seen in training.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
import json
import logging
from typing import Any

from llama_cpp.llama_chat_format import CHATML_CHAT_TEMPLATE, Jinja2ChatFormatter

from .tool_calls import TOOL_CALL_CLOSE, TOOL_CALL_OPEN

_LOGGER = logging.getLogger(__name__)

Message = dict[str, Any]
Tool = dict[str, Any]

_TOOLS_EXAMPLE = '{"name": "tool_name", "arguments": {"argument": "value"}}'


class PromptError(ValueError):
    """The messages cannot be rendered by this model's chat template."""


@dataclass(frozen=True)
class RenderedPrompt:
    """Prompt text plus the stop strings that end the assistant's turn."""

    text: str
    stop: list[str]


class ChatTemplate:
    """Renders chat messages with the model's own template."""

    def __init__(self, template: str | None, bos_token: str, eos_token: str) -> None:
        if not template:
            _LOGGER.warning("Model has no chat template; falling back to ChatML")
            template = CHATML_CHAT_TEMPLATE
        self.native_tools = "tools" in template
        self._formatter = Jinja2ChatFormatter(
            template=template, eos_token=eos_token, bos_token=bos_token
        )
        self._eos_token = eos_token

    def render(self, messages: Sequence[Message], tools: Sequence[Tool] = ()) -> RenderedPrompt:
        """Format a conversation, ending with the assistant's turn opener."""
        prepared = self._prepare(messages, tools)
        try:
            text = self._render(prepared, tools)
        except PromptError:
            if not prepared or prepared[0]["role"] != "system":
                raise
            # Some templates (Mistral, Gemma) refuse a system role: fold it into
            # the first user message instead of failing the request.
            text = self._render(_fold_system_into_user(prepared), tools)
        stop = [self._eos_token] if self._eos_token else []
        return RenderedPrompt(text=text, stop=stop)

    def _render(self, messages: list[Message], tools: Sequence[Tool]) -> str:
        try:
            response = self._formatter(
                messages=messages,  # type: ignore[arg-type]
                tools=list(tools) if tools and self.native_tools else None,  # type: ignore[arg-type]
            )
        except Exception as err:  # a Jinja template can raise anything
            raise PromptError(f"chat template rejected the messages: {err}") from err
        return response.prompt

    def _prepare(self, messages: Sequence[Message], tools: Sequence[Tool]) -> list[Message]:
        system_parts: list[str] = []
        conversation: list[Message] = []
        for message in messages:
            role = message["role"]
            content = content_text(message.get("content"))
            if role in ("system", "developer"):
                system_parts.append(content)
            elif self.native_tools:
                conversation.append(_native_message(role, content, message))
            else:
                conversation.append(_plain_message(role, content, message))

        if tools and not self.native_tools:
            system_parts.append(tools_instructions(tools))
        prepared = (
            [{"role": "system", "content": "\n\n".join(system_parts)}] if system_parts else []
        )
        prepared.extend(conversation if self.native_tools else _merge_same_roles(conversation))
        return prepared


def content_text(content: Any) -> str:
    """OpenAI content (string, list of parts or null) as plain text."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(
        part.get("text", "")
        for part in content
        if isinstance(part, dict) and part.get("type") == "text"
    )


def tools_instructions(tools: Sequence[Tool]) -> str:
    """Describe the tools for templates that have no tool syntax of their own."""
    described = "\n".join(
        json.dumps(tool.get("function", tool), ensure_ascii=False) for tool in tools
    )
    return (
        f"You can call these tools:\n<tools>\n{described}\n</tools>\n"
        f"To call a tool, answer with nothing but\n"
        f"{TOOL_CALL_OPEN}{_TOOLS_EXAMPLE}{TOOL_CALL_CLOSE}\n"
        "Otherwise answer normally."
    )


def _native_message(role: str, content: str, message: Message) -> Message:
    """Keep tool calls structured, with arguments as objects as Jinja templates expect."""
    native: Message = {"role": role, "content": content}
    if role == "assistant" and message.get("tool_calls"):
        native["tool_calls"] = [
            {
                "id": call.get("id", ""),
                "type": "function",
                "function": {
                    "name": call["function"]["name"],
                    "arguments": _arguments_object(call["function"].get("arguments")),
                },
            }
            for call in message["tool_calls"]
        ]
    if role == "tool" and "tool_call_id" in message:
        native["tool_call_id"] = message["tool_call_id"]
    return native


def _plain_message(role: str, content: str, message: Message) -> Message:
    """Spell tool traffic out as text in the same `<tool_call>` style we ask for."""
    if role == "assistant" and message.get("tool_calls"):
        calls = [
            TOOL_CALL_OPEN
            + json.dumps(
                {
                    "name": call["function"]["name"],
                    "arguments": _arguments_object(call["function"].get("arguments")),
                },
                ensure_ascii=False,
            )
            + TOOL_CALL_CLOSE
            for call in message["tool_calls"]
        ]
        content = "\n".join([content, *calls]).strip()
    if role == "tool":
        return {"role": "user", "content": f"<tool_response>\n{content}\n</tool_response>"}
    return {"role": role, "content": content}


def _arguments_object(arguments: Any) -> Any:
    if isinstance(arguments, str):
        try:
            return json.loads(arguments) if arguments.strip() else {}
        except (ValueError, RecursionError):  # not JSON, or nested too deeply to parse
            return arguments
    return arguments if arguments is not None else {}


def _merge_same_roles(messages: list[Message]) -> list[Message]:
    """Join neighbours with the same role: simple templates expect alternation."""
    merged: list[Message] = []
    for message in messages:
        if merged and merged[-1]["role"] == message["role"]:
            merged[-1] = {
                "role": message["role"],
                "content": f"{merged[-1]['content']}\n\n{message['content']}",
            }
        else:
            merged.append(dict(message))
    return merged


def _fold_system_into_user(messages: list[Message]) -> list[Message]:
    system, rest = messages[0], messages[1:]
    if rest and rest[0]["role"] == "user":
        first = {"role": "user", "content": f"{system['content']}\n\n{rest[0]['content']}"}
        return [first, *rest[1:]]
    return [{"role": "user", "content": system["content"]}, *rest]
