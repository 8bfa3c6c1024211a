"""The tool-call parser on outputs small models really produce, and on garbage."""

from __future__ import annotations

import json

from hypothesis import given, strategies as st
import pytest

from milo_services.llm.tool_calls import (
    ToolCallDetector,
    iter_stream_deltas,
    parse_tool_calls,
)

TOOLS = {"HassTurnOn", "get_surf"}


@pytest.mark.parametrize(
    ("output", "name", "arguments"),
    [
        # Hermes / SmolLM2 / Qwen style
        (
            '<tool_call>{"name": "HassTurnOn", "arguments": {"name": "kitchen"}}</tool_call>',
            "HassTurnOn",
            {"name": "kitchen"},
        ),
        # closing tag forgotten at the end of generation
        (
            '<tool_call>\n{"name": "get_surf", "arguments": {"beach": "East Strand"}}\n',
            "get_surf",
            {"beach": "East Strand"},
        ),
        # SmolLM2's training format: a list inside the tag
        (
            '<tool_call>[{"name": "get_surf", "arguments": {"beach": "West Strand"}}]</tool_call>',
            "get_surf",
            {"beach": "West Strand"},
        ),
        # Llama 3.x style: bare JSON with "parameters"
        ('{"name": "HassTurnOn", "parameters": {"name": "lamp"}}', "HassTurnOn", {"name": "lamp"}),
        (
            '<|python_tag|>{"name": "HassTurnOn", "parameters": {"name": "fan"}}',
            "HassTurnOn",
            {"name": "fan"},
        ),
        # code fence, arguments as a JSON string (OpenAI's own wire format)
        (
            '```json\n{"name": "get_surf", "arguments": "{\\"beach\\": \\"East Strand\\"}"}\n```',
            "get_surf",
            {"beach": "East Strand"},
        ),
        # OpenAI's message shape echoed back
        (
            '{"type": "function", "function": {"name": "HassTurnOn", "arguments": {"name": "tv"}}}',
            "HassTurnOn",
            {"name": "tv"},
        ),
        # a raw newline inside a string, which strict JSON forbids
        (
            '{"name": "HassTurnOn", "arguments": {"name": "kitchen\n"}}',
            "HassTurnOn",
            {"name": "kitchen\n"},
        ),
        # no arguments at all
        ('<tool_call>{"name": "get_surf"}</tool_call>', "get_surf", {}),
    ],
)
def test_parses_model_dialects(output: str, name: str, arguments: dict) -> None:
    content, calls = parse_tool_calls(output, TOOLS)
    assert content == ""
    assert len(calls) == 1
    assert calls[0].name == name
    assert json.loads(calls[0].arguments) == arguments
    assert calls[0].id.startswith("call_")
    assert calls[0].as_openai()["type"] == "function"


def test_text_around_tagged_calls_is_kept() -> None:
    output = (
        "Sure, on it. "
        '<tool_call>{"name": "HassTurnOn", "arguments": {"name": "a"}}</tool_call>'
        '<tool_call>{"name": "HassTurnOn", "arguments": {"name": "b"}}</tool_call>'
    )
    content, calls = parse_tool_calls(output, TOOLS)
    assert content == "Sure, on it."
    assert [json.loads(c.arguments)["name"] for c in calls] == ["a", "b"]
    assert len({c.id for c in calls}) == 2


def test_several_bare_objects_are_several_calls() -> None:
    output = '{"name": "get_surf", "parameters": {}}; {"name": "HassTurnOn", "parameters": {}}'
    _content, calls = parse_tool_calls(output, TOOLS)
    assert [c.name for c in calls] == ["get_surf", "HassTurnOn"]


@pytest.mark.parametrize(
    "output",
    [
        "The surf at East Strand is flat, like my enthusiasm.",
        '<tool_call>{"name": "HassTurnOn", "arguments": {"name": </tool_call>',  # truncated JSON
        '<tool_call>{"name": "launch_rockets", "arguments": {}}</tool_call>',  # not offered
        '{"name": "HassTurnOn", "arguments": "not json"}',
        '{"name": "HassTurnOn", "arguments": [1, 2]}',
        '{"answer": 42}',
        '{"name": "HassTurnOn"} and then some chatter',
        "[laughs] fine.",
        "{",
        "<tool_call>",
        "",
    ],
)
def test_malformed_or_unknown_calls_stay_text(output: str) -> None:
    content, calls = parse_tool_calls(output, TOOLS)
    assert calls == []
    assert content == output


def test_no_tools_means_no_parsing() -> None:
    output = '{"name": "HassTurnOn", "arguments": {}}'
    assert parse_tool_calls(output, set()) == (output, [])


@given(st.text(max_size=200))
def test_parser_never_raises(output: str) -> None:
    content, calls = parse_tool_calls(output, TOOLS)
    assert isinstance(content, str)
    assert all(call.name in TOOLS for call in calls)


def _stream(pieces: list[str]) -> tuple[str, str, list]:
    detector = ToolCallDetector(TOOLS)
    shown = "".join(detector.feed(piece) for piece in pieces)
    held, calls = detector.finish()
    return shown, held, calls


def test_detector_streams_plain_text_immediately() -> None:
    detector = ToolCallDetector(TOOLS)
    assert detector.feed("Hello") == "Hello"
    assert detector.feed(" there") == " there"
    assert detector.finish() == ("", [])


def test_detector_holds_back_a_call_split_into_tokens() -> None:
    output = '<tool_call>{"name": "get_surf", "arguments": {"beach": "East Strand"}}</tool_call>'
    shown, held, calls = _stream([output[i : i + 3] for i in range(0, len(output), 3)])
    assert shown == ""
    assert held == ""
    assert [c.name for c in calls] == ["get_surf"]


def test_detector_releases_text_before_a_late_call() -> None:
    pieces = [
        "Okay",
        ", turning it on",
        " <tool",
        '_call>{"name": "HassTurnOn", ',
        '"arguments": {}}',
    ]
    shown, held, calls = _stream(pieces)
    assert shown == "Okay, turning it on "
    assert held == ""
    assert [c.name for c in calls] == ["HassTurnOn"]


def test_detector_gives_back_json_that_is_no_call() -> None:
    shown, held, calls = _stream(['{"mood"', ': "sarcastic"}'])
    assert (shown, calls) == ("", [])
    assert held == '{"mood": "sarcastic"}'


def test_detector_does_not_hold_a_lone_angle_bracket_forever() -> None:
    shown, held, _calls = _stream(["<", "b>bold</b> move"])
    assert shown + held == "<b>bold</b> move"


def test_stream_deltas_follow_openai_order() -> None:
    _content, calls = parse_tool_calls('{"name": "get_surf", "parameters": {"beach": "x"}}', TOOLS)
    header, arguments = list(iter_stream_deltas(calls))
    assert header == {
        "index": 0,
        "id": calls[0].id,
        "type": "function",
        "function": {"name": "get_surf", "arguments": ""},
    }
    assert json.loads(arguments["function"]["arguments"]) == {"beach": "x"}
