"""Turn hotwords, entity names and terms into a Whisper biasing prompt.

Whisper conditions its decoder on up to 223 "previous text" tokens; names that appear
there ("Portrush", "East Strand", "Kitchen Lamp") come out spelled right. A long list makes
the model echo words that were never said, so the list is cut at a token budget in priority
order: the operator's `--hotwords`, then the request's `transcript_names`, then its
`transcript_terms` (wyoming 1.10 gives names priority over terms).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
import logging

_LOGGER = logging.getLogger(__name__)

# Whisper truncates prompts past 223 tokens; stay clear of it.
PROMPT_MAX_TOKENS = 200


def merge_phrases(*groups: Iterable[object] | None) -> list[str]:
    """Concatenate groups in order, normalising whitespace and dropping duplicates/non-strings."""
    phrases: list[str] = []
    seen: set[str] = set()
    for group in groups:
        for value in group or ():
            if not isinstance(value, str):
                continue
            phrase = " ".join(value.split())
            if phrase and phrase.casefold() not in seen:
                seen.add(phrase.casefold())
                phrases.append(phrase)
    return phrases


def build_prompt(
    phrases: list[str],
    count_tokens: Callable[[str], int],
    max_tokens: int = PROMPT_MAX_TOKENS,
) -> str | None:
    """Comma-join as many phrases as fit in `max_tokens`; None when there are none."""
    chosen: list[str] = []
    for phrase in phrases:
        if count_tokens(", ".join([*chosen, phrase]) + ".") > max_tokens:
            _LOGGER.debug("Prompt budget reached; dropped %d phrases", len(phrases) - len(chosen))
            break
        chosen.append(phrase)
    return ", ".join(chosen) + "." if chosen else None
