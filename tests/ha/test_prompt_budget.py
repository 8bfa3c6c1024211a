"""The prompt budget's estimates and trimming, and the relevance ranking, on their own."""

from __future__ import annotations

import pytest

from custom_components.milo.budget import (
    TOOLS_TOKENS,
    Budget,
    PromptTooLargeError,
    estimate_tokens,
    fit,
    message_tokens,
    tool_tokens,
    tools_tokens,
)
from custom_components.milo.relevance import ToolWords, devices, named_devices, rank, words

# Counted with the embedded model's tokenizer (SmolLM2-135M-Instruct, llama-cpp-python).
SMOLLM2_COUNTS = [
    (
        "You are Milo, a small desk robot with a camera and a moving head, living in a smart "
        "home near Portrush on the North Coast. Be sarcastic but friendly: tease a little, then "
        "help properly. Answer in one to three short spoken sentences, plain text, no lists or "
        "markdown. Never invent facts: use your tools for the home, surf and weather.",
        78,
    ),
    ("Current time is 08:30:12. Today's date is 2026-06-01.\n", 30),
    (
        '{"name": "intent__HassCancelAllTimers", "parameters": {"type": "object", "properties": '
        '{"area": {"type": "string"}}, "required": []}, "description": "Cancels all timers"}',
        54,
    ),
]


@pytest.mark.parametrize(("text", "tokens"), SMOLLM2_COUNTS)
def test_estimate_is_on_the_safe_side(text: str, tokens: int) -> None:
    """Never fewer tokens than the real tokenizer counts, and not wildly more."""
    assert tokens <= estimate_tokens(text) + 2 <= tokens * 1.6


def test_message_and_tool_sizes() -> None:
    """Template markers, tool calls and the tools wrapper are counted too."""
    plain = {"role": "user", "content": "hello"}
    call = {**plain, "tool_calls": [{"function": {"name": "nod", "arguments": "{}"}}]}
    assert message_tokens(call) > message_tokens(plain) > estimate_tokens("hello")
    assert message_tokens({"role": "assistant", "content": None}) > 0
    tool = {"type": "function", "function": {"name": "nod"}}
    assert tools_tokens([]) == 0
    assert tools_tokens([tool, tool]) == TOOLS_TOKENS + 2 * tool_tokens(tool)


def test_budget_keeps_room_for_the_answer() -> None:
    """The answer gets what was asked, but never more than half the context."""
    assert Budget.for_context(4096, 256) == Budget(4096, 256)
    assert Budget.for_context(600, 500).prompt == 300


def _round(text: str, size: int) -> list[dict]:
    return [{"role": "user", "content": text * size}]


def test_fit_drops_history_then_tools() -> None:
    """Oldest turns go first, then the least relevant tools; the newest turn always stays."""
    system = {"role": "system", "content": "persona"}
    tools = [{"function": {"name": f"tool{i}", "description": "x" * 300}} for i in range(3)]
    rounds = [_round("old ", 100), _round("new ", 50)]

    messages, kept = fit(system, tools, rounds, Budget(10_000, 100))
    assert (len(messages), kept) == (3, tools)

    messages, kept = fit(system, tools, rounds, Budget(700, 100))
    assert messages[1]["content"].startswith("new")
    assert kept == tools

    messages, kept = fit(system, tools, rounds, Budget(450, 100))
    assert len(messages) == 2
    assert kept == tools[:1]

    with pytest.raises(PromptTooLargeError, match="only 50 fit: a context of 150"):
        fit(system, tools, rounds, Budget(150, 100))


def test_words() -> None:
    """Content words, camelCase split, crude plurals; chit-chat is no signal."""
    assert words("intent__HassTurnOn".replace("_", " ")) == {"turn"}
    assert words("Turn the LIGHTS off in the kitchen, please!") == {"turn", "light", "kitchen"}
    assert words("Hi Milo, how are you today?") == set()
    assert words("glass bus starting") == {"glass", "bus", "start"}


def test_rank_by_words_and_named_devices() -> None:
    """Name words count double; a named device brings the tools that control its domain."""
    known = devices(
        {
            "light.desk": {"names": "Desk lamp", "domain": "light", "areas": "Office"},
            "fan.ceiling": {"names": "Ceiling fan", "domain": "fan"},
        }
    )
    assert known[0].label == "Desk lamp (light, in Office)"
    assert known[1].label == "Ceiling fan (fan)"
    tools = [
        ToolWords.of(
            {
                "function": {
                    "name": "HassLightSet",
                    "description": "Sets the brightness of a light",
                    "parameters": {
                        "type": "object",
                        "properties": {"color": {"anyOf": [{"type": "string"}]}},
                    },
                }
            }
        ),
        ToolWords.of(
            {
                "name": "GetLiveContext",
                "parameters": {"properties": {"domain": {"type": "string"}}},
            }
        ),
        ToolWords.of({"name": "get_surf_forecast"}, keywords=("board",)),
        ToolWords.of(
            {
                "name": "HassTurnOn",
                "parameters": {
                    "properties": {"domain": {"type": "array", "items": {"enum": ["light", "fan"]}}}
                },
            }
        ),
    ]
    assert "color" in tools[0].other
    said = words("is the desk lamp too bright?")
    named = named_devices(said, known)
    assert [device.label for device in named] == ["Desk lamp (light, in Office)"]
    assert rank(said, tools, named) == [0, 1, 3]
    assert rank(words("I'll take the board"), tools, []) == [2]
    fan = words("the ceiling fan, please")
    # HassTurnOn lists fans and says "fan"; GetLiveContext takes any domain.
    assert rank(fan, tools, named_devices(fan, known)) == [3, 1]
    assert rank(words("tell me a joke"), tools, []) == []
