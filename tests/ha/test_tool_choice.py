"""tool_choice.py: which tools and device prompt go out within the budget (no Home Assistant)."""

from __future__ import annotations

from typing import Any

from custom_components.milo.budget import TOOLS_TOKENS, estimate_tokens, tool_tokens
from custom_components.milo.relevance import Device, devices
from custom_components.milo.tool_choice import Offer, choose, fitted_device_prompt

PLENTY = 10_000


def spec(tool: str, description: str, **properties: Any) -> dict[str, Any]:
    parameters = {"type": "object", "properties": properties}
    return {
        "type": "function",
        "function": {"name": tool, "description": description, "parameters": parameters},
    }


SURF = Offer(spec("get_surf_forecast", "Get the surf forecast."), ("wave", "beach"))
NOD = Offer(spec("nod", "Nod your head, to agree."), ("head", "agree"))
TURN_ON = Offer(
    spec("HassTurnOn", "Turns on a device or entity", domain={"type": "array"}),
    controls_devices=True,
)
LIGHT_SET = Offer(
    spec("HassLightSet", "Sets the brightness of a light", brightness={"type": "integer"}),
    controls_devices=True,
)
HOME = devices(
    {
        "light.kitchen": {"names": "Kitchen lamp", "domain": "light", "areas": "Kitchen"},
        "light.office": {"names": "Office lamp", "domain": "light", "areas": "Office"},
        "light.desk": {"names": "Desk light", "domain": "light", "areas": "Office"},
    }
)
FULL_PROMPT = "When controlling Home Assistant always call the intent tools. " * 3


def test_small_talk_gets_no_tools_and_no_prompt() -> None:
    choice = choose(
        "how are you doing", [SURF, NOD, TURN_ON], HOME, PLENTY, device_prompt=FULL_PROMPT
    )
    assert choice.chosen == ()
    assert choice.prompt == ""


def test_the_most_relevant_tools_come_first() -> None:
    offers = [NOD, SURF]
    assert choose("are the waves any good at the beach", offers, [], PLENTY).chosen == (1,)
    assert choose("nod if the surf is up", offers, [], PLENTY).chosen == (0, 1)


def test_a_tool_that_does_not_fit_is_skipped_for_a_smaller_one() -> None:
    big = Offer(spec("get_surf_forecast", "Get the surf forecast. " + "Spot. " * 200))
    offers = [big, NOD]
    first = TOOLS_TOKENS + tool_tokens(NOD.spec)  # the first tool also pays for the list
    assert tool_tokens(big.spec) > first
    assert choose("nod, is the surf up", offers, [], first).chosen == (1,)
    assert choose("nod, is the surf up", offers, [], first - 1).chosen == ()
    both = TOOLS_TOKENS + tool_tokens(big.spec) + tool_tokens(NOD.spec)
    assert choose("nod, is the surf up", offers, [], both).chosen == (0, 1)


def test_a_named_device_brings_its_domain_tools_and_the_device_prompt() -> None:
    choice = choose(
        "kitchen lamp brightness to half",
        [SURF, TURN_ON, LIGHT_SET],
        HOME,
        PLENTY,
        device_prompt=FULL_PROMPT,
    )
    # Both serve lights (HassTurnOn any domain); HassLightSet has "brightness" too.
    assert choice.chosen == (2, 1)
    assert choice.prompt == FULL_PROMPT


def test_no_device_prompt_without_a_device_tool_or_a_named_device() -> None:
    # A device is named but only Milo's tools go out.
    nodding = choose("nod at the kitchen lamp", [NOD], HOME, PLENTY, device_prompt=FULL_PROMPT)
    assert nodding.chosen == (0,)
    assert nodding.prompt == ""
    # A device tool goes out but the request names no exposed device.
    choice = choose("turn on the telly", [TURN_ON], HOME, PLENTY, device_prompt=FULL_PROMPT)
    assert choice.chosen == (0,)
    assert choice.prompt == ""


def test_a_prompt_too_long_becomes_the_best_named_devices() -> None:
    allowance = TOOLS_TOKENS + tool_tokens(TURN_ON.spec) + 20
    assert estimate_tokens(FULL_PROMPT) > 20
    choice = choose(
        "turn on the office lamp", [TURN_ON], HOME, allowance, device_prompt=FULL_PROMPT
    )
    # The Office lamp names two words of the request; the Kitchen lamp and the Desk light
    # one each, so they are left out.
    assert choice.prompt == "Devices you can control:\n- Office lamp (light, in Office)"


def test_among_devices_named_as_well_those_where_it_was_heard_come_first() -> None:
    lamps = choose(
        "turn on the lamp", [TURN_ON], HOME, PLENTY, device_prompt="x" * 10**5, area="Office"
    )
    assert lamps.prompt.splitlines()[1:] == [
        "- Office lamp (light, in Office)",
        "- Kitchen lamp (light, in Kitchen)",
    ]


def test_the_device_list_stops_where_the_allowance_does() -> None:
    named: list[Device] = HOME
    header = "Devices you can control:"
    one = f"{header}\n- {named[0].label}"
    assert fitted_device_prompt("x" * 10**5, named, estimate_tokens(one)) == one
    # Not even one device fits: no list at all, not a header alone.
    assert fitted_device_prompt("x" * 10**5, named, estimate_tokens(header)) == ""
    assert fitted_device_prompt("short", named, PLENTY) == "short"
