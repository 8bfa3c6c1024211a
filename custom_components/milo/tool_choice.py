"""Which tools go out with a message, and whether HA's device prompt goes with them.

Pure (no Home Assistant), so the rules are tested on their own; tools.py feeds it the
tools of one message. The most relevant tools come first (relevance.py), as many as the
prompt tokens allowed for tools hold (budget.py): one that does not fit is skipped, since a
less relevant but smaller one may still fit. HA's device prompt (the exposed devices and
how to control them) is only worth its tokens when the request names a device and a tool
that controls devices goes out; when the whole prompt does not fit, a list of the devices
the request names best goes instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .budget import TOOLS_TOKENS, estimate_tokens, tool_tokens
from .relevance import Device, ToolWords, named_devices, rank, words


@dataclass(frozen=True, slots=True)
class Offer:
    """A tool that could go out: its OpenAI-format spec and what the choice needs to know."""

    spec: Mapping[str, Any]
    # Words that point at the tool beyond those of its spec.
    keywords: tuple[str, ...] = ()
    # HA's tools (Assist's intents) control devices; Milo's own tools do not.
    controls_devices: bool = False


@dataclass(frozen=True, slots=True)
class Choice:
    """The offers that go out, by index, most relevant first, and the device prompt."""

    chosen: tuple[int, ...]
    prompt: str


def choose(
    request: str,
    offers: Sequence[Offer],
    devices: Sequence[Device],
    allowance: int,
    *,
    device_prompt: str = "",
    area: str | None = None,
) -> Choice:
    """The offers a request needs within `allowance` prompt tokens, and the device prompt.

    `devices` are the exposed entities the request may name, `area` where it was heard (its
    devices come first among those named as well), and `device_prompt` HA's full one.
    """
    said = words(request)
    named = named_devices(said, devices, area)
    order = rank(said, [ToolWords.of(offer.spec, offer.keywords) for offer in offers], named)
    left = allowance
    chosen: list[int] = []
    prompt: str | None = None
    for index in order:
        cost = tool_tokens(offers[index].spec) + (0 if chosen else TOOLS_TOKENS)
        if cost > left:
            continue
        chosen.append(index)
        left -= cost
        if prompt is None and named and offers[index].controls_devices:
            best = [d for d in named if len(said & d.words) == len(said & named[0].words)]
            prompt = fitted_device_prompt(device_prompt, best, left)
            left -= estimate_tokens(prompt)
    return Choice(tuple(chosen), prompt or "")


def fitted_device_prompt(full: str, named: Sequence[Device], allowance: int) -> str:
    """HA's device prompt, or if it is too long a list of the devices the request names best."""
    if estimate_tokens(full) <= allowance:
        return full
    lines = ["Devices you can control:"]
    for device in named:
        if estimate_tokens("\n".join([*lines, f"- {device.label}"])) > allowance:
            break
        lines.append(f"- {device.label}")
    return "\n".join(lines) if len(lines) > 1 else ""
