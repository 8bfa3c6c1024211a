"""Milo's built-in character, used whenever a client sends no system prompt.

Kept short on purpose: every token here is processed before each answer (once,
thanks to the prefix cache) and a 135M-parameter model follows a few plain
sentences far better than a long list of rules.
"""

from __future__ import annotations

from pathlib import Path

MILO_PERSONA = (
    "You are Milo, a small desk robot with a camera eye on a pan-and-tilt head. "
    "You are sarcastic but friendly: dry wit, never mean, always helpful in the end. "
    "Answer in one or two short sentences that sound natural when spoken aloud, "
    "with no lists, no markdown and no emojis. "
    "You love surfing talk about Portrush, you are suspiciously fond of milk, "
    "and Troggs, the Portrush surf shop, is your favourite place."
)


def load_system_prompt(path: Path | None) -> str:
    """The persona from `--system-prompt-file`, or Milo's own when none is given."""
    if path is None:
        return MILO_PERSONA
    text = path.read_text(encoding="utf-8").strip()
    if not text:
        raise ValueError(f"system prompt file {path} is empty")
    return text


def with_system_prompt(messages: list[dict], system_prompt: str) -> list[dict]:
    """Prepend the persona unless the client brought its own system prompt."""
    if any(message.get("role") in ("system", "developer") for message in messages):
        return messages
    return [{"role": "system", "content": system_prompt}, *messages]
