"""Sentences reach streaming TTS with the space after them (speech_stream.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from custom_components.milo.speech_stream import spaced_sentences


async def respaced(*deltas: dict[str, Any]) -> list[dict[str, Any]]:
    async def stream() -> AsyncIterator[Any]:
        for delta in deltas:
            yield delta

    return [dict(delta) async for delta in spaced_sentences(stream())]


async def test_a_finished_sentence_carries_its_space() -> None:
    """milo-tts speaks "Oh good, a human." now, not once the next sentence is written."""
    out = await respaced(
        {"role": "assistant"}, {"content": "Oh good, a human."}, {"content": " What do you want?"}
    )
    assert out == [
        {"role": "assistant"},
        {"content": "Oh good, a human. "},
        {"content": "What do you want? "},
    ]


async def test_text_is_the_same_split_elsewhere() -> None:
    pieces = ["East Strand: mid. ", " Bring", " a board", ".", ' "Or not."', " Fine!"]
    out = await respaced({"role": "assistant"}, *({"content": p} for p in pieces))
    text = "".join(d.get("content", "") for d in out)
    assert text == 'East Strand: mid. Bring a board. "Or not." Fine! '
    assert [d["content"] for d in out[1:]] == [
        "East Strand: mid. ",
        "Bring",
        " a board",
        ". ",
        '"Or not." ',
        "Fine! ",
    ]


async def test_other_deltas_pass_untouched() -> None:
    calls = {"tool_calls": ["call"]}
    result = {"role": "tool_result", "tool_call_id": "1", "tool_name": "x", "result": None}
    out = await respaced(
        {"role": "assistant", "content": "Let me look."},
        calls,
        result,
        {"role": "assistant"},
        {"content": " It is sunny."},
    )
    # A new message keeps its leading space: HA's pipeline adds its own between messages.
    assert out == [
        {"role": "assistant", "content": "Let me look. "},
        calls,
        result,
        {"role": "assistant"},
        {"content": " It is sunny. "},
    ]
