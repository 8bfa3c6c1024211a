"""The prompt budget: what a request may hold so the server can take it.

A prompt longer than the model's context is refused outright (HTTP 400), and below that
every prompt token still costs time: about 4 ms each on a small CPU with the embedded
model. The OpenAI API offers no tokenizer, so sizes are estimated from characters, on the
safe side: SmolLM2's tokenizer (the embedded model's, one of the least frugal) needs a
token per 3.2 characters of Home Assistant's tool JSON, per 4.2 of prose, and one per
digit. tests/ha/test_real_llm.py checks the estimate against milo-llm's own count.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
import json
import math
from typing import Any

CHARS_PER_TOKEN = 3.0
# A chat template's markers around each message (ChatML: `<|im_start|>role\n...<|im_end|>\n`).
MESSAGE_TOKENS = 8
# The template's words around the tool list ("You can call these tools: ..."), and per tool.
TOOLS_TOKENS = 120
TOOL_TOKENS = 10
# Home Assistant's date and time line (llm.DATE_TIME_PROMPT), added when no tool tells time.
DATE_TIME_TOKENS = 40


class PromptTooLargeError(Exception):
    """Even the smallest request (system prompt and the newest message) does not fit."""

    def __init__(self, needed: int, budget: Budget) -> None:
        """Say how much was needed and what there was."""
        super().__init__(
            f"the prompt needs about {needed} tokens, but only {budget.prompt} fit: "
            f"a context of {budget.context} minus {budget.reply} for the answer"
        )
        self.needed = needed


def estimate_tokens(text: str) -> int:
    """Tokens a text will take at most, without the model's tokenizer."""
    digits = sum(char.isdigit() for char in text)
    return digits + math.ceil((len(text) - digits) / CHARS_PER_TOKEN)


def message_tokens(message: Mapping[str, Any]) -> int:
    """One OpenAI chat message, with its template markers and tool calls."""
    content = message.get("content")
    text = content if isinstance(content, str) else json.dumps(content)
    if calls := message.get("tool_calls"):
        text += json.dumps(calls, ensure_ascii=False)
    return MESSAGE_TOKENS + estimate_tokens(text)


def tool_tokens(tool: Mapping[str, Any]) -> int:
    """One OpenAI-format tool, as a server writes it into the prompt."""
    return TOOL_TOKENS + estimate_tokens(json.dumps(tool.get("function", tool), ensure_ascii=False))


def tools_tokens(tools: Sequence[Mapping[str, Any]]) -> int:
    """A list of tools, with the template's instructions around it; 0 for none."""
    return TOOLS_TOKENS + sum(map(tool_tokens, tools)) if tools else 0


@dataclass(frozen=True, slots=True)
class Budget:
    """The model's context, split into the prompt and the room kept for the answer."""

    context: int
    reply: int

    @classmethod
    def for_context(cls, context: int, max_tokens: int) -> Budget:
        """An answer never takes more than half the context, or nothing else would fit."""
        return cls(context=context, reply=max(1, min(max_tokens, context // 2)))

    @property
    def prompt(self) -> int:
        """Tokens the prompt may use."""
        return self.context - self.reply


def fit(
    system: Mapping[str, Any],
    tools: list[dict[str, Any]],
    rounds: list[list[dict[str, Any]]],
    budget: Budget,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Messages and tools that fit the budget: history goes first, then the least relevant tools.

    `rounds` are the conversation's turns, oldest first, each starting at a user message so
    a tool call is never separated from its result; `tools` are most relevant first. The
    newest round and the system prompt are never dropped: PromptTooLargeError if they alone
    are too big.
    """
    sizes = [sum(map(message_tokens, chunk)) for chunk in rounds]
    needed = message_tokens(system) + tools_tokens(tools) + sum(sizes)
    while len(rounds) > 1 and needed > budget.prompt:
        rounds, needed = rounds[1:], needed - sizes.pop(0)
    while tools and needed > budget.prompt:
        needed -= tools_tokens(tools) - tools_tokens(tools[:-1])
        tools = tools[:-1]
    if needed > budget.prompt:
        raise PromptTooLargeError(needed, budget)
    return [dict(system), *(message for chunk in rounds for message in chunk)], tools
