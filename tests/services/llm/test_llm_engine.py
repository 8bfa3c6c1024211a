"""The queue in front of the model, prefix caching and trimming, with the real model."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest

from milo_services.llm.engine import ChatEngine, ModelUnavailableError
from milo_services.llm.model import (
    CONVERSATION_STATES,
    ChatModel,
    ContextOverflowError,
    GenerationRequest,
)
from milo_services.llm.persona import MILO_PERSONA


def persona_request(question: str, max_tokens: int = 8) -> GenerationRequest:
    return GenerationRequest(
        messages=[
            {"role": "system", "content": MILO_PERSONA},
            {"role": "user", "content": question},
        ],
        max_tokens=max_tokens,
    )


async def run(engine: ChatEngine, request: GenerationRequest):
    async with engine.chat(request) as completion:
        text = await completion.text()
    assert completion.result is not None
    return text, completion.result


async def test_persona_prefix_survives_other_system_prompts(
    engine: ChatEngine, chat_model: ChatModel
) -> None:
    pirate = GenerationRequest(
        messages=[
            {"role": "system", "content": "You are a pirate. Say arr a lot."},
            {"role": "user", "content": "Hello"},
        ],
        max_tokens=8,
    )
    _text, pirate_result = await run(engine, pirate)
    assert pirate_result.cached_tokens < 20  # another prompt: only the template's opening

    _text, result = await run(engine, persona_request("What's new?"))
    persona_tokens = chat_model.count_tokens(MILO_PERSONA)
    assert result.cached_tokens >= persona_tokens  # restored from the saved state


async def test_a_system_prompt_that_changes_at_its_end_reuses_the_rest(
    engine: ChatEngine, chat_model: ChatModel
) -> None:
    """Like an integration prompt that ends with the current time."""

    def at(clock: str) -> GenerationRequest:
        system = f"{MILO_PERSONA} The kitchen light is on. The time is {clock}."
        return GenerationRequest(
            messages=[{"role": "system", "content": system}, {"role": "user", "content": "Hi"}],
            max_tokens=4,
        )

    await run(engine, at("10:31"))
    await run(engine, persona_request("Something else in between"))
    _text, result = await run(engine, at("10:32"))
    assert result.cached_tokens >= chat_model.count_tokens(MILO_PERSONA) + 5


async def test_conversations_taking_turns_each_keep_their_history_cached(
    engine: ChatEngine, chat_model: ChatModel
) -> None:
    """Two conversations (two satellites, say) alternate: each message reads only its new
    turn, not the whole history again, though the other conversation ran in between."""

    def conversation(name: str, turns: int) -> GenerationRequest:
        messages: list = [{"role": "system", "content": MILO_PERSONA}]
        for turn in range(turns):
            messages.append({"role": "user", "content": f"{name} asks question number {turn}."})
            messages.append({"role": "assistant", "content": f"{name} gets answer {turn}."})
        messages.append({"role": "user", "content": f"{name} asks one more thing."})
        return GenerationRequest(messages=messages, max_tokens=4)

    history = [conversation("Ann", 3), conversation("Bob", 3)]
    first = [(await run(engine, request))[1] for request in history]
    # The next message of each: the previous prompt plus an answer and a question.
    nxt = [conversation("Ann", 4), conversation("Bob", 4)]
    ann = (await run(engine, nxt[0]))[1]
    bob = (await run(engine, nxt[1]))[1]
    persona_tokens = chat_model.count_tokens(MILO_PERSONA)
    for before, after in ((first[0], ann), (first[1], bob)):
        assert after.cached_tokens > persona_tokens + 30  # more than the system prompt
        assert after.cached_tokens >= before.prompt_tokens - 12  # all but the last question


async def test_a_system_prompt_outlives_a_burst_of_other_conversations(
    engine: ChatEngine, chat_model: ChatModel
) -> None:
    """A new conversation with an agent's prompt reads only its own turn, however many
    conversations with another prompt (the agent's remarks, another client) came between."""
    agent = f"Home Assistant's voice agent. {MILO_PERSONA}"

    def ask(system: str, question: str) -> GenerationRequest:
        return GenerationRequest(
            messages=[{"role": "system", "content": system}, {"role": "user", "content": question}],
            max_tokens=4,
        )

    await run(engine, ask(agent, "What's your favourite colour?"))
    for n in range(CONVERSATION_STATES + 2):
        await run(engine, ask("Add one short remark.", f"The surf is mid, number {n}."))
    _text, result = await run(engine, ask(agent, "Tell me about yourself."))
    assert result.cached_tokens >= chat_model.count_tokens(agent)


async def test_without_prefix_cache_everything_is_processed(
    engine: ChatEngine, chat_model: ChatModel
) -> None:
    chat_model.prefix_cache_enabled = False
    try:
        _text, result = await run(engine, persona_request("Hi"))
    finally:
        chat_model.prefix_cache_enabled = True
    assert result.cached_tokens == 0


async def test_first_come_first_served(engine: ChatEngine) -> None:
    order: list[int] = []

    async def client(index: int) -> None:
        async with engine.chat(persona_request(f"Say the number {index}.")) as completion:
            order.append(index)
            await completion.text()

    tasks = []
    for index in range(5):
        tasks.append(asyncio.create_task(client(index)))
        await asyncio.sleep(0)  # let it queue before the next one arrives
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2, 3, 4]


async def test_too_many_waiting_requests_are_refused(chat_model: ChatModel) -> None:
    engine = ChatEngine(chat_model, max_waiting=1)
    inside = asyncio.Event()
    release = asyncio.Event()

    async def holder() -> None:
        async with engine.chat(persona_request("Hello", max_tokens=4)):
            inside.set()
            await release.wait()

    async def waiter() -> str:
        text, _result = await run(engine, persona_request("Hi", max_tokens=4))
        return text

    holding = asyncio.create_task(holder())
    await inside.wait()
    waiting = asyncio.create_task(waiter())
    await asyncio.sleep(0.05)
    with pytest.raises(ModelUnavailableError):
        async with engine.chat(persona_request("Me too")):
            pass
    release.set()
    await holding
    assert await waiting is not None
    await engine.close()


async def test_leaving_early_stops_the_worker(engine: ChatEngine) -> None:
    request = persona_request("Count from one to one hundred, slowly.", max_tokens=1500)
    async with engine.chat(request) as completion:
        async for _piece in completion:
            break
    await engine.wait_idle()
    assert engine.stats.cancelled == 1
    assert completion.result is not None
    assert completion.result.finish_reason == "cancelled"
    assert completion.result.completion_tokens < 200


async def test_waiting_client_that_gives_up_never_runs(engine: ChatEngine) -> None:
    # The model is held by other work until the client waiting behind it has given up.
    # (A short generation would free it on its own: the model is free when the worker
    # stops, and 4 tokens can take less than the wait below.)
    holding_model, release = threading.Event(), threading.Event()

    def hold() -> None:
        holding_model.set()
        release.wait()

    async def impatient() -> None:
        async with engine.chat(persona_request("Hi")):
            raise AssertionError("should never get the model")

    holding = asyncio.create_task(engine.call(hold))
    await asyncio.get_running_loop().run_in_executor(None, holding_model.wait)
    giving_up = asyncio.create_task(impatient())
    await asyncio.sleep(0.05)
    giving_up.cancel()
    release.set()
    await holding
    with pytest.raises(asyncio.CancelledError):
        await giving_up
    text, _result = await run(engine, persona_request("Still there?"))
    assert text


async def test_old_turns_are_dropped_to_fit(engine: ChatEngine, chat_model: ChatModel) -> None:
    history = []
    for index in range(12):
        history += [
            {"role": "user", "content": f"Turn {index}: " + "surf " * 120},
            {"role": "assistant", "content": f"Reply {index}."},
        ]
    request = GenerationRequest(
        messages=[
            {"role": "system", "content": MILO_PERSONA},
            *history,
            {"role": "user", "content": "Last question?"},
        ],
        max_tokens=4,
    )
    _text, result = await run(engine, request)
    kept = result.messages
    assert kept[0]["role"] == "system"
    assert kept[-1] == {"role": "user", "content": "Last question?"}
    assert kept[1]["role"] == "user"
    assert len(kept) < len(request.messages)
    assert result.prompt_tokens + 4 <= chat_model.n_ctx
    # Trimmed in one pass from estimates, yet not much more than needed: within two turns
    # (~125 tokens each) of a full context.
    assert result.prompt_tokens + 4 + 2 * 125 > chat_model.n_ctx


def test_a_client_gone_before_the_fit_costs_nothing(chat_model: ChatModel) -> None:
    """Thousands of turns are not even counted once the client has left (or shutdown began)."""
    turns = [{"role": "user", "content": f"Turn {index}."} for index in range(5000)]
    request = GenerationRequest(messages=[{"role": "system", "content": MILO_PERSONA}, *turns])
    cancelled = threading.Event()
    cancelled.set()
    result = chat_model.generate(request, lambda _text: None, cancelled)
    assert result.finish_reason == "cancelled"
    assert result.prompt_tokens == 0


async def test_an_empty_answer_is_logged_as_a_warning(
    engine: ChatEngine, caplog: pytest.LogCaptureFixture
) -> None:
    # Greedy decoding says the same thing twice; the second time its own words stop it.
    request = persona_request("Say hello.", max_tokens=3)
    request.temperature = 0.0
    said, _result = await run(engine, request)
    assert said.strip()
    request.stop = [said]
    with caplog.at_level(logging.WARNING, logger="milo_services.llm.model"):
        text, result = await run(engine, request)
    assert text == ""
    assert result.finish_reason == "stop"
    assert "empty answer" in caplog.text


async def test_a_prompt_that_can_never_fit(engine: ChatEngine) -> None:
    request = persona_request("surf " * 5000)
    with pytest.raises(ContextOverflowError, match="--n-ctx"):
        await run(engine, request)
    assert engine.stats.failed == 1
    text, _result = await run(engine, persona_request("Hello"))
    assert text


async def test_leaving_during_a_long_prompt_frees_the_model(engine: ChatEngine) -> None:
    """The client goes away while its prompt is still being processed: no token is generated."""
    story = " ".join(f"Wave number {index} was tall and green." for index in range(90))
    request = persona_request(f"Remember this: {story} Now, which wave was the tallest?")
    async with engine.chat(request) as completion:
        await asyncio.sleep(0.2)  # well inside the ~900-token prompt
    await engine.wait_idle()
    assert completion.result is not None
    assert completion.result.finish_reason == "cancelled"
    assert completion.result.completion_tokens == 0
    text, _result = await run(engine, persona_request("Hello again"))
    assert text


async def test_shutdown_lets_a_short_answer_finish(chat_model: ChatModel) -> None:
    engine = ChatEngine(chat_model)
    async with engine.chat(persona_request("Hi", max_tokens=4)) as completion:
        stopping = asyncio.create_task(engine.shutdown(grace_s=60))
        await completion.text()
    await stopping
    assert completion.result is not None
    assert completion.result.finish_reason in ("stop", "length")
    with pytest.raises(ModelUnavailableError, match="shutting down"):
        async with engine.chat(persona_request("Anyone there?")):
            pass
    await engine.close()


async def test_shutdown_cuts_off_a_long_answer_after_the_grace_period(
    chat_model: ChatModel,
) -> None:
    engine = ChatEngine(chat_model)
    request = persona_request("Tell me a story.", max_tokens=1500)
    # A grammar that can't end before thousands of characters: still going after the grace.
    request.forced_tool_schema = {
        "type": "object",
        "properties": {"story": {"type": "string", "minLength": 4000}},
        "required": ["story"],
    }
    async with engine.chat(request) as completion:
        stopping = asyncio.create_task(engine.shutdown(grace_s=0.3))
        await completion.text()
    await stopping
    assert completion.result is not None
    assert completion.result.finish_reason == "cancelled"
    await engine.close()
