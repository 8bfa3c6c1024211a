"""The loaded GGUF model: prompt fitting, prefix reuse and token generation.

Everything here is synchronous and must run on one thread at a time (the
engine's worker thread): a llama.cpp context is not thread-safe.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
import json
import logging
from pathlib import Path
import threading
import time
from typing import Any, cast

from llama_cpp import Llama, LlamaGrammar, LlamaState

from .kv_shift import Cut, apply_cut, can_cut, find_cut
from .prefix_cache import PrefixStateCache, SystemPromptStore
from .prompt import ChatTemplate, Message, Tool, content_text

_LOGGER = logging.getLogger(__name__)

DEFAULT_TEMPERATURE = 0.6
REPLY_RESERVE_TOKENS = 128
"""Room always kept free for the answer when a request sets no `max_tokens`."""
SYSTEM_STATES = 6
"""Saved states of system prompts with their tools (the persona always among them). Each
serves every new conversation that starts with it, so they live apart from conversations'
states: a burst of other conversations must not push the agent's prompt out. ~25 MB per
1000 tokens with the embedded model."""
CONVERSATION_STATES = 12
"""Saved states of recent conversations, for their next message: enough for the one-turn
requests that come between two messages of a voice conversation (the agent's remarks
after surf and weather facts, a second satellite). ~7 MB for 300 tokens."""
STORED_SYSTEM_PROMPTS = 2
"""System prompts saved for the next start (`prompt_store`): each is read at start-up."""
PROMPT_SLICE_TOKENS = 256
"""Prompt tokens evaluated between two checks for a client that went away."""
TURN_MARKUP_TOKENS = 4
"""What a chat template adds around each message (ChatML: `<|im_start|>role`, `<|im_end|>`)."""


class ContextOverflowError(ValueError):
    """Even the newest message alone does not fit into the context window."""


class _FitCancelledError(Exception):
    """The client went away (or the server is stopping) while the prompt was being fitted."""


@dataclass
class GenerationRequest:
    """One chat completion, already validated."""

    messages: list[Message]
    tools: list[Tool] = field(default_factory=list)
    forced_tool_schema: dict[str, Any] | None = None
    """JSON schema the whole answer must follow (tool_choice required/named)."""
    temperature: float = DEFAULT_TEMPERATURE
    top_p: float = 0.95
    max_tokens: int | None = None
    stop: list[str] = field(default_factory=list)
    seed: int | None = None


@dataclass
class GenerationResult:
    """What happened, for usage figures, logs and conversation memory."""

    finish_reason: str
    """"stop", "length" or "cancelled"."""
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    """Prompt tokens that were not processed again thanks to the KV cache."""
    messages: list[Message]
    """The conversation as sent to the model, after trimming old turns."""
    first_token_s: float | None = None
    """Seconds from the start of work to the first generated text."""


class ChatModel:
    """A llama.cpp model plus its chat template and saved prompt prefixes."""

    def __init__(
        self,
        model_path: Path,
        *,
        weights: Path | None = None,
        n_ctx: int = 4096,
        threads: int | None = None,
        prefix_cache: bool = True,
        prompt_store: Path | None = None,
    ) -> None:
        """`weights`: the file to load when it is not `model_path` but a faster copy of it;
        `prompt_store`: the file that keeps the latest system prompts for the next start."""
        self.model_path = model_path
        self.model_id = model_path.stem
        self.prefix_cache_enabled = prefix_cache
        # By default answers get half the cores (one token at a time gains little from
        # more) and prompts all of them: with OpenMP threads that sleep while they wait
        # (see __init__.py), that reads prompts fastest whether the machine is idle or busy.
        self._llama = Llama(
            model_path=str(weights or model_path),
            n_ctx=n_ctx,
            n_threads=threads,
            n_threads_batch=threads,
            verbose=False,
        )
        self.n_ctx = self._llama.n_ctx()
        self.name = str(self._llama.metadata.get("general.name") or self.model_id)
        self.template = ChatTemplate(
            self._llama.metadata.get("tokenizer.chat_template"),
            bos_token=_token_text(self._llama, self._llama.token_bos()),
            eos_token=_token_text(self._llama, self._llama.token_eos()),
        )
        self._systems = PrefixStateCache(SYSTEM_STATES)
        self._prompt_store: SystemPromptStore | None = None
        if prompt_store is not None and prefix_cache:
            # Tokens are the tokenizer's: another model's (or release's) are not reused.
            key = f"{model_path.name}:{model_path.stat().st_size}"
            self._prompt_store = SystemPromptStore(prompt_store, key, STORED_SYSTEM_PROMPTS)
        self._conversations = PrefixStateCache(CONVERSATION_STATES)
        self._grammars: dict[str, LlamaGrammar] = {}
        self.kv_shift_enabled = can_cut(self._llama)
        """Whether dropped turns are cut out of the KV cache (kv_shift.py); False where the
        model's cache can't move positions, and in benchmarks that compare without it."""

    def close(self) -> None:
        self._llama.close()

    def count_tokens(self, text: str) -> int:
        return len(self._llama.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def cache_system_prompt(self, system_prompt: str) -> int:
        """Process a system prompt now and keep its state for good; returns its length."""
        system = [{"role": "system", "content": system_prompt}]
        tokens = self._tokenize(self.template.render([*system, _PROBES[0]]).text)
        prefix = tokens[: self._system_prefix_len(system, [])]
        self._llama.reset()
        self._llama.eval(prefix)
        self._systems.put(tuple(prefix), self._llama.save_state(), pinned=True)
        return len(prefix)

    def read_stored_system_prompts(self) -> int:
        """Read the system prompts the previous run saw last and keep their states, as the
        persona's; returns how many (none without a store)."""
        if self._prompt_store is None:
            return 0
        prompts = self._prompt_store.load(self._llama.n_vocab())
        for prefix in reversed(prompts):  # the most recent last: the last to be evicted
            if len(prefix) < self.n_ctx:
                self._llama.reset()
                self._llama.eval(prefix)
                self._systems.put(tuple(prefix), self._llama.save_state())
        return len(prompts)

    def generate(
        self,
        request: GenerationRequest,
        on_text: Callable[[str], None],
        cancelled: threading.Event,
    ) -> GenerationResult:
        """Run one completion, handing each piece of text to `on_text` as it comes."""
        started = time.perf_counter()
        try:
            messages, tokens, stop = self._fit(request, cancelled)
        except _FitCancelledError:
            return GenerationResult("cancelled", 0, 0, 0, request.messages)
        system = [m for m in messages if m["role"] in ("system", "developer")]
        prefix_len = self._system_prefix_len(system, request.tools)
        cached = self._restore_prefix(tokens, prefix_len, cancelled)
        # All but the last prompt token; create_completion finds them cached.
        if not self._process(tokens, len(tokens) - 1, cancelled):
            return GenerationResult("cancelled", len(tokens), 0, cached, messages)

        max_tokens = request.max_tokens or self.n_ctx - len(tokens)
        completion = cast(
            "Generator[dict[str, Any], None, None]",
            self._llama.create_completion(
                prompt=tokens,
                max_tokens=min(max_tokens, self.n_ctx - len(tokens)),
                temperature=request.temperature,
                top_p=request.top_p,
                repeat_penalty=1.0 if request.forced_tool_schema else 1.1,
                stop=[*stop, *request.stop],
                seed=request.seed,
                grammar=self._grammar(request.forced_tool_schema),
                stream=True,
            ),
        )
        finish_reason = "cancelled"
        pieces: list[str] = []
        first_token_s: float | None = None
        try:
            for chunk in completion:
                if cancelled.is_set():
                    break
                choice = chunk["choices"][0]
                if text := choice["text"]:
                    if first_token_s is None:
                        first_token_s = time.perf_counter() - started
                    pieces.append(text)
                    on_text(text)
                if choice["finish_reason"]:
                    finish_reason = choice["finish_reason"]
        finally:
            completion.close()
        if self.prefix_cache_enabled and len(tokens) - 1 > max(prefix_len, cached):
            # The conversation so far, answer included, for its next message: a request
            # from another conversation in between (a second satellite, another client)
            # would otherwise leave it to read its whole history again. Saved after the
            # answer, so copying the state never delays the first token.
            llama = self._llama
            self._conversations.put(
                tuple(llama.input_ids[: llama.n_tokens].tolist()), llama.save_state()
            )

        answer = "".join(pieces)
        if finish_reason != "cancelled" and not answer.strip():
            # The client falls back to a canned line; the log must say why.
            _LOGGER.warning(
                "The model gave an empty answer (%s) to a %d-token prompt",
                finish_reason,
                len(tokens),
            )
        return GenerationResult(
            finish_reason=finish_reason,
            prompt_tokens=len(tokens),
            completion_tokens=self.count_tokens(answer),
            cached_tokens=cached,
            messages=messages,
            first_token_s=first_token_s,
        )

    def _fit(
        self, request: GenerationRequest, cancelled: threading.Event
    ) -> tuple[list[Message], list[int], list[str]]:
        """Drop the oldest turns so that prompt plus answer fit into the context.

        One pass: each turn's tokens are counted from the newest back until the budget
        is spent, so a request of thousands of messages costs one tokenisation of what
        might fit, not one render of the whole prompt per dropped turn (which held the
        model for minutes). The estimate is then checked on the real rendered prompt.
        """
        reserve = min(request.max_tokens or REPLY_RESERVE_TOKENS, self.n_ctx // 2)
        system = [m for m in request.messages if m["role"] in ("system", "developer")]
        turns = [m for m in request.messages if m["role"] not in ("system", "developer")]
        budget = self.n_ctx - reserve
        if system or request.tools:  # some templates can't render an empty conversation
            budget -= len(self._tokenize(self.template.render(system, request.tools).text))
        start = len(turns)
        while start > 0:
            _check(cancelled)
            budget -= self._turn_tokens(turns[start - 1])
            if budget < 0:
                break
            start -= 1
        if start > 0:
            turns = _from_next_user_turn(turns[min(start, len(turns) - 1) :])
        while True:
            _check(cancelled)
            messages = [*system, *turns]
            rendered = self.template.render(messages, request.tools)
            tokens = self._tokenize(rendered.text)
            if len(tokens) + reserve <= self.n_ctx or len(turns) <= 1:
                break
            turns = _drop_oldest_turn(turns)
        if len(tokens) + 1 >= self.n_ctx:
            raise ContextOverflowError(
                f"the prompt needs {len(tokens)} tokens but the context window (--n-ctx) "
                f"holds {self.n_ctx}"
            )
        if len(turns) < len(request.messages) - len(system):
            _LOGGER.debug("Trimmed conversation to %d turns (%d tokens)", len(turns), len(tokens))
        return messages, tokens, rendered.stop

    def _turn_tokens(self, message: Message) -> int:
        """A turn's share of the prompt: its text, its tool calls and the template's markup."""
        text = content_text(message.get("content"))
        if message.get("tool_calls"):
            text += json.dumps(message["tool_calls"], ensure_ascii=False)
        return len(self._tokenize(text)) + TURN_MARKUP_TOKENS

    def _restore_prefix(
        self, tokens: list[int], prefix_len: int, cancelled: threading.Event
    ) -> int:
        """Put the system prompt's KV state in place; returns prompt tokens already cached.

        Uses whichever is longer: what the KV cache holds from the last request,
        or the saved state sharing most of this prompt (a system prompt, or a
        conversation's previous prompt; a prompt that only changed near its end,
        like one with the time in it, reuses the rest).
        The part of the system prompt still missing is processed and saved.
        """
        llama = self._llama
        if not self.prefix_cache_enabled:
            llama.reset()
            return 0
        current = Llama.longest_token_prefix(llama.input_ids[: llama.n_tokens].tolist(), tokens)
        saved_len, state = max(
            self._systems.longest_match(tokens),
            self._conversations.longest_match(tokens),
            key=lambda match: match[0],
        )
        if state is not None and saved_len > current:
            llama.load_state(state)
            current = saved_len
        current = self._cut_dropped_turns(tokens, prefix_len, current)
        if current >= prefix_len or prefix_len <= 0:
            return current
        if self._process(tokens, prefix_len, cancelled):
            prefix = tuple(tokens[:prefix_len])
            self._systems.put(prefix, llama.save_state())
            if self._prompt_store is not None:
                self._prompt_store.remember(prefix, llama.n_vocab())
        return current

    def _cut_dropped_turns(self, tokens: list[int], prefix_len: int, reused: int) -> int:
        """Drop turns the client trimmed from the cache, if that reuses more than `reused`.

        Looks at the KV cache and every saved conversation (the agent's remarks
        after surf and weather facts come between two of its messages); returns the
        prompt tokens now cached (`reused` when no cut beats it). The cut must keep
        the system prompt, and the prompt must go on after what it reuses: a trimmed
        conversation always adds a turn, while a cached conversation that merely
        contains this whole prompt (another one asked the same) is not its history.
        """
        if not self.kv_shift_enabled:
            return reused
        llama = self._llama
        best: tuple[Cut, LlamaState | None] | None = None
        live = llama.input_ids[: llama.n_tokens].tolist()
        for cached, state in [(live, None), *self._conversations.snapshots()]:
            cut = find_cut(cached, tokens)
            if (
                cut is not None
                and cut.start >= prefix_len
                and cut.reused < len(tokens)
                and cut.reused > max(reused, best[0].reused if best else 0)
            ):
                best = cut, state
        if best is None:
            return reused
        cut, state = best
        if state is not None:
            llama.load_state(state)
        if not apply_cut(llama, cut):
            _LOGGER.warning("llama.cpp cannot cut its KV cache; reading prompts again instead")
            self.kv_shift_enabled = False
            llama.reset()
            return 0
        _LOGGER.debug(
            "Cut %d dropped tokens from the KV cache; %d of %d prompt tokens cached",
            cut.end - cut.start,
            cut.reused,
            len(tokens),
        )
        return cut.reused

    def _process(self, tokens: list[int], end: int, cancelled: threading.Event) -> bool:
        """Evaluate `tokens[:end]` after what the KV cache already holds, slice by slice.

        Long prompts take seconds on a small CPU; checking between slices lets a
        client that went away free the model before its first token. False if
        cancelled.
        """
        llama = self._llama
        done = Llama.longest_token_prefix(llama.input_ids[: llama.n_tokens].tolist(), tokens[:end])
        llama.n_tokens = done  # eval() drops any KV cache entries after this point
        while done < end:
            if cancelled.is_set():
                return False
            stop = min(done + PROMPT_SLICE_TOKENS, end)
            llama.eval(tokens[done:stop])
            done = stop
        return True

    def _system_prefix_len(self, system: Sequence[Message], tools: Sequence[Tool]) -> int:
        """Tokens the rendered prompt shares whatever the user says next.

        Found by rendering two different probe questions: template-agnostic,
        so it works for ChatML, Llama 3 headers or anything else.
        """
        first, second = (
            self._tokenize(self.template.render([*system, probe], tools).text) for probe in _PROBES
        )
        return Llama.longest_token_prefix(first, second)

    def _tokenize(self, text: str) -> list[int]:
        # The template already wrote BOS and special tokens as text.
        return self._llama.tokenize(text.encode("utf-8"), add_bos=False, special=True)

    def _grammar(self, schema: dict[str, Any] | None) -> LlamaGrammar | None:
        if schema is None:
            return None
        # Key order matters: the grammar writes properties in schema order, and
        # "name" before "arguments" lets the model pick the tool first.
        key = json.dumps(schema)
        if key not in self._grammars:
            try:
                self._grammars[key] = LlamaGrammar.from_json_schema(key, verbose=False)
            except Exception:  # an exotic schema must not fail the request
                _LOGGER.warning("Cannot turn tool schema into a grammar; answering unconstrained")
                return None
        return self._grammars[key]


_PROBES = ({"role": "user", "content": "a"}, {"role": "user", "content": "b"})


def _drop_oldest_turn(turns: list[Message]) -> list[Message]:
    """Remove the oldest message and any replies or tool results that hung off it."""
    rest = turns[1:]
    while len(rest) > 1 and rest[0]["role"] != "user":
        rest = rest[1:]
    return rest


def _from_next_user_turn(turns: list[Message]) -> list[Message]:
    """Start at the first user message, so no reply or tool result hangs off nothing."""
    for index, message in enumerate(turns):
        if message["role"] == "user":
            return turns[index:]
    return turns[-1:]


def _check(cancelled: threading.Event) -> None:
    if cancelled.is_set():
        raise _FitCancelledError


def _token_text(llama: Llama, token: int) -> str:
    if token < 0:
        return ""
    return llama.detokenize([token], special=True).decode("utf-8", errors="ignore")
