"""Prompts rendered with the model's own chat template, tools included."""

from __future__ import annotations

import pytest

from milo_services.llm.model import ChatModel
from milo_services.llm.persona import MILO_PERSONA, with_system_prompt
from milo_services.llm.prompt import ChatTemplate, PromptError

SURF_TOOL = {
    "type": "function",
    "function": {
        "name": "get_surf",
        "description": "Surf forecast",
        "parameters": {"type": "object", "properties": {"beach": {"type": "string"}}},
    },
}


def test_embedded_template_is_chatml(chat_model: ChatModel) -> None:
    prompt = chat_model.template.render(
        [{"role": "system", "content": MILO_PERSONA}, {"role": "user", "content": "Hi"}]
    )
    assert prompt.text.startswith(f"<|im_start|>system\n{MILO_PERSONA}<|im_end|>")
    assert prompt.text.endswith("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
    assert prompt.stop == ["<|im_end|>"]
    assert not chat_model.template.native_tools


def test_tools_go_into_the_system_prompt_for_plain_templates(chat_model: ChatModel) -> None:
    messages = [
        {"role": "system", "content": "Be Milo."},
        {"role": "user", "content": [{"type": "text", "text": "Surf?"}]},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_surf", "arguments": '{"beach": "East Strand"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": '{"wave_height_m": 1.2}'},
    ]
    text = chat_model.template.render(messages, [SURF_TOOL]).text
    system = text.split("<|im_end|>")[0]
    assert "Be Milo." in system
    assert "<tools>" in system
    assert '"name": "get_surf"' in system
    assert "<|im_start|>user\nSurf?<|im_end|>" in text
    assert (
        '<tool_call>{"name": "get_surf", "arguments": {"beach": "East Strand"}}</tool_call>' in text
    )
    assert '<tool_response>\n{"wave_height_m": 1.2}\n</tool_response>' in text
    assert "<|im_start|>tool" not in text


# A trimmed-down Llama 3.x style template: it takes `tools` and structured tool calls.
NATIVE_TEMPLATE = (
    "{% if tools %}TOOLS {{ tools | tojson }}\n{% endif %}"
    "{% for m in messages %}[{{ m.role }}] {{ m.content }}"
    "{% if m.tool_calls %} CALL {{ m.tool_calls[0].function.arguments | tojson }}{% endif %}\n"
    "{% endfor %}[assistant]"
)


def test_tool_aware_templates_get_tools_natively() -> None:
    template = ChatTemplate(NATIVE_TEMPLATE, bos_token="<s>", eos_token="</s>")
    assert template.native_tools
    messages = [
        {"role": "user", "content": "Surf?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"function": {"name": "get_surf", "arguments": '{"beach": "W"}'}}],
        },
        {"role": "tool", "content": "flat"},
    ]
    text = template.render(messages, [SURF_TOOL]).text
    assert text.startswith('TOOLS [{"type": "function"')
    assert 'CALL {"beach": "W"}' in text  # arguments handed over as an object
    assert "[tool] flat" in text


MISTRAL_LIKE = (
    "{% for m in messages %}"
    "{% if m.role == 'system' %}{{ raise_exception('no system role') }}{% endif %}"
    "[{{ m.role }}] {{ m.content }}\n{% endfor %}"
)


def test_system_prompt_is_folded_into_user_when_the_template_refuses_it() -> None:
    template = ChatTemplate(MISTRAL_LIKE, bos_token="", eos_token="</s>")
    text = template.render(
        [{"role": "system", "content": "Be Milo."}, {"role": "user", "content": "Hi"}]
    ).text
    assert text == "[user] Be Milo.\n\nHi\n"


def test_template_errors_become_prompt_errors() -> None:
    template = ChatTemplate("{{ raise_exception('nope') }}", bos_token="", eos_token="")
    with pytest.raises(PromptError, match="nope"):
        template.render([{"role": "user", "content": "Hi"}])


def test_missing_template_falls_back_to_chatml() -> None:
    text = ChatTemplate(None, bos_token="", eos_token="").render(
        [{"role": "user", "content": "Hi"}]
    )
    assert text.text == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"


def test_persona_only_when_the_client_sends_no_system_prompt() -> None:
    user = [{"role": "user", "content": "Hi"}]
    assert with_system_prompt(user, "P")[0] == {"role": "system", "content": "P"}
    own = [{"role": "developer", "content": "Mine"}, *user]
    assert with_system_prompt(own, "P") == own
