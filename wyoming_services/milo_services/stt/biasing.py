"""The words milo-stt biases recognition towards, as a Whisper prompt within its limit.

Whisper conditions its decoder on up to 223 "previous text" tokens; names that appear
there ("Portrush", "East Strand", "Kitchen Lamp") come out spelled right. A long list makes
the model echo words that were never said, so the list is cut at a token budget in priority
order:

1. the operator's `--hotwords`;
2. the request's `transcript_names` (wyoming 1.10; Home Assistant 2026.10 sends none);
3. the home's names, pushed by Home Assistant's Milo integration in its own priority order
   (Milo's name, the surf spots, areas and floors, then the exposed entities and their
   aliases): see `custom_components/milo/stt_names.py` for why it pushes them;
4. the request's `transcript_terms` (wyoming 1.10 gives names priority over terms).

Whatever whisper still mishears of them is put back after transcription (see
name_correction), from the whole list: names past the prompt's budget too.

The push is a Wyoming event of its own, `milo-names` with `{"names": [...]}`, answered by
`milo-names-saved` with how many names were kept and how many fit in the prompt. It
replaces the previous list (the integration always sends the whole list) for every
connection: one milo-stt serves one home.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
import logging

from wyoming.event import Event

from .name_correction import NameCorrector

_LOGGER = logging.getLogger(__name__)

# Whisper truncates prompts past 223 tokens; stay clear of it.
PROMPT_MAX_TOKENS = 200

NAMES_EVENT = "milo-names"
NAMES_SAVED_EVENT = "milo-names-saved"
# A home's names in a Wyoming event: far more than any prompt holds, small enough to keep.
MAX_HOME_NAMES = 2000
MAX_NAME_CHARS = 100


NO_CORRECTION = NameCorrector()


class NamesError(ValueError):
    """A `milo-names` event that milo-stt refuses, and why."""


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


def fitting_phrases(
    phrases: list[str],
    count_tokens: Callable[[str], int],
    max_tokens: int = PROMPT_MAX_TOKENS,
) -> list[str]:
    """The leading phrases whose prompt fits in `max_tokens`."""
    chosen: list[str] = []
    for phrase in phrases:
        if count_tokens(as_prompt([*chosen, phrase]) or "") > max_tokens:
            _LOGGER.debug("Prompt budget reached; dropped %d phrases", len(phrases) - len(chosen))
            break
        chosen.append(phrase)
    return chosen


def as_prompt(phrases: list[str]) -> str | None:
    """The phrases as a sentence a speaker might have said before: comma-joined."""
    return ", ".join(phrases) + "." if phrases else None


def build_prompt(
    phrases: list[str],
    count_tokens: Callable[[str], int],
    max_tokens: int = PROMPT_MAX_TOKENS,
) -> str | None:
    """Comma-join as many phrases as fit in `max_tokens`; None when there are none."""
    return as_prompt(fitting_phrases(phrases, count_tokens, max_tokens))


def names_from_event(event: Event) -> list[str]:
    """The names of a `milo-names` event, checked; raises NamesError."""
    names = (event.data or {}).get("names")
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise NamesError("'names' must be a list of strings")
    if len(names) > MAX_HOME_NAMES:
        raise NamesError(f"{len(names)} names; at most {MAX_HOME_NAMES}")
    if long := [name for name in names if len(name) > MAX_NAME_CHARS]:
        raise NamesError(f"a name is longer than {MAX_NAME_CHARS} characters: {long[0][:40]!r}…")
    return merge_phrases(names)


class Vocabulary:
    """The hotwords and the home's names of one milo-stt, shared by its connections.

    The prompt and the name corrector are built once per combination and kept until the
    names change: building them tokenizes and indexes the list, and Home Assistant asks the
    same every time.
    """

    def __init__(
        self,
        count_tokens: Callable[[str], int],
        hotwords: Iterable[str] = (),
        max_tokens: int = PROMPT_MAX_TOKENS,
    ) -> None:
        self._count_tokens = count_tokens
        self.hotwords = merge_phrases(hotwords)
        self.home_names: list[str] = []
        self._max_tokens = max_tokens
        self._cached: tuple[tuple[tuple[str, ...], tuple[str, ...]], list[str]] | None = None
        self._corrector: tuple[tuple[tuple[str, ...], tuple[str, ...]], NameCorrector] | None = None

    def set_home_names(self, names: list[str]) -> Event:
        """Keep the home's names (in priority order); the `milo-names-saved` reply."""
        changed = names != self.home_names
        if changed:
            self.home_names = names
            self._cached = self._corrector = None
        chosen = {phrase.casefold() for phrase in self._phrases((), ())}
        in_prompt = sum(1 for name in names if name.casefold() in chosen)
        # Home Assistant resends the same list every few minutes: news only when it changed.
        _LOGGER.log(
            logging.INFO if changed else logging.DEBUG,
            "Home names: %d kept, %d in the prompt",
            len(names),
            in_prompt,
        )
        return Event(NAMES_SAVED_EVENT, {"names": len(names), "in_prompt": in_prompt})

    def prompt(
        self, request_names: list[str] | None = None, request_terms: list[str] | None = None
    ) -> str | None:
        """The prompt for a request with these `transcript_names` and `transcript_terms`."""
        return as_prompt(self._phrases(tuple(request_names or ()), tuple(request_terms or ())))

    def corrector(
        self,
        request_names: list[str] | None = None,
        request_terms: list[str] | None = None,
        language: str | None = None,
    ) -> NameCorrector:
        """What puts back the names of a request in `language` (English only: the sound
        rules are English spelling's)."""
        if language != "en":
            return NO_CORRECTION
        asked = tuple(request_names or ()), tuple(request_terms or ())
        if self._corrector is None or self._corrector[0] != asked:
            phrases = merge_phrases(self.hotwords, asked[0], self.home_names, asked[1])
            self._corrector = (asked, NameCorrector(phrases))
        return self._corrector[1]

    def _phrases(self, names: tuple[str, ...], terms: tuple[str, ...]) -> list[str]:
        if self._cached is None or self._cached[0] != (names, terms):
            phrases = merge_phrases(self.hotwords, names, self.home_names, terms)
            chosen = fitting_phrases(phrases, self._count_tokens, self._max_tokens)
            self._cached = ((names, terms), chosen)
        return self._cached[1]
