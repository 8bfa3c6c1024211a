"""Validation of /v1/chat/completions bodies into generation requests."""

from __future__ import annotations

from typing import Any

import pytest

from milo_services.llm.openai_request import ApiError, parse_chat_request

MODEL = "SmolLM2-135M-Instruct.Q4_1"
USER = [{"role": "user", "content": "Hi"}]
LIGHT = {
    "type": "function",
    "function": {
        "name": "HassTurnOn",
        "parameters": {"type": "object", "properties": {"name": {"type": "string"}}},
    },
}
SURF = {"type": "function", "function": {"name": "get_surf"}}


def parse(**body: Any):
    return parse_chat_request({"messages": USER, **body}, MODEL, "PERSONA")


def test_defaults_and_persona() -> None:
    call = parse()
    assert not call.stream
    assert call.tool_names == []
    assert call.generation.messages[0] == {"role": "system", "content": "PERSONA"}
    assert call.generation.forced_tool_schema is None


def test_sampling_parameters_are_passed_on() -> None:
    call = parse(
        model=MODEL,
        temperature=0.2,
        top_p=0.5,
        max_tokens=12,
        stop="\n",
        seed=7,
        stream=True,
        stream_options={"include_usage": True},
    )
    generation = call.generation
    assert (generation.temperature, generation.top_p, generation.max_tokens) == (0.2, 0.5, 12)
    assert (generation.stop, generation.seed) == (["\n"], 7)
    assert call.stream
    assert call.include_usage
    assert parse(max_completion_tokens=5).generation.max_tokens == 5


def test_tool_choice_modes() -> None:
    assert parse(tools=[LIGHT, SURF]).tool_names == ["HassTurnOn", "get_surf"]
    none = parse(tools=[LIGHT], tool_choice="none")
    assert none.tool_names == []
    assert none.generation.tools == []

    named = parse(
        tools=[LIGHT, SURF], tool_choice={"type": "function", "function": {"name": "get_surf"}}
    )
    schema = named.generation.forced_tool_schema
    assert schema is not None
    assert schema["properties"]["name"] == {"const": "get_surf"}

    required = parse(tools=[LIGHT, SURF], tool_choice="required").generation.forced_tool_schema
    assert required is not None
    assert [o["properties"]["name"]["const"] for o in required["anyOf"]] == [
        "HassTurnOn",
        "get_surf",
    ]
    light_arguments = required["anyOf"][0]["properties"]["arguments"]
    assert light_arguments["properties"]["name"] == {"type": "string", "maxLength": 160}
    assert LIGHT["function"]["parameters"]["properties"]["name"] == {"type": "string"}


def test_response_format_json() -> None:
    assert parse(response_format={"type": "json_object"}).generation.forced_tool_schema == {
        "type": "object"
    }
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}}
    fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
    assert parse(response_format=fmt).generation.forced_tool_schema == schema


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"messages": []}, 400, "messages"),
        ({"messages": "hi"}, 400, "messages"),
        ({"messages": [{"role": "robot", "content": "x"}]}, 400, "messages[0].role"),
        ({"messages": [{"role": "user", "content": 5}]}, 400, "messages[0].content"),
        ({"messages": [{"role": "user", "content": ["x"]}]}, 400, "messages[0].content"),
        ({"messages": ["hi"]}, 400, "messages[0]"),
        (
            {"messages": [{"role": "assistant", "tool_calls": [{"function": {}}]}]},
            400,
            "messages[0].tool_calls",
        ),
        ({"model": "gpt-4o"}, 404, "model"),
        ({"n": 2}, 400, "n"),
        ({"temperature": 3}, 400, "temperature"),
        ({"temperature": "hot"}, 400, "temperature"),
        ({"temperature": True}, 400, "temperature"),
        ({"top_p": -1}, 400, "top_p"),
        ({"max_tokens": 0}, 400, "max_tokens"),
        ({"max_tokens": 1.5}, 400, "max_tokens"),
        ({"stop": ["a", "b", "c", "d", "e"]}, 400, "stop"),
        ({"stop": [""]}, 400, "stop"),
        ({"stream": "yes"}, 400, "stream"),
        ({"stream_options": []}, 400, "stream_options"),
        ({"tools": {"name": "x"}}, 400, "tools"),
        ({"tools": [{"type": "retrieval"}]}, 400, "tools[0]"),
        (
            {"tools": [{"type": "function", "function": {"name": "bad name!"}}]},
            400,
            "tools[0].function.name",
        ),
        (
            {"tools": [{"type": "function", "function": {"name": "x", "parameters": []}}]},
            400,
            "tools[0].function.parameters",
        ),
        ({"tool_choice": "required"}, 400, "tool_choice"),
        (
            {"tools": [SURF], "tool_choice": {"type": "function", "function": {"name": "nope"}}},
            400,
            "tool_choice",
        ),
        ({"tools": [SURF], "tool_choice": {"function": "get_surf"}}, 400, "tool_choice"),
        ({"response_format": {"type": "xml"}}, 400, "response_format"),
    ],
)
def test_bad_requests_name_the_parameter(body: dict, status: int, param: str) -> None:
    with pytest.raises(ApiError) as caught:
        parse_chat_request({"messages": USER, **body}, MODEL, "PERSONA")
    assert caught.value.status == status
    assert caught.value.param == param
    error = caught.value.body()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"]


@pytest.mark.parametrize("body", [[], "x", None, 3])
def test_body_must_be_an_object(body: Any) -> None:
    with pytest.raises(ApiError, match="JSON object"):
        parse_chat_request(body, MODEL, "PERSONA")
