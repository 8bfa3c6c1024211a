"""OpenAI-compatible HTTP API (`/v1/chat/completions`, `/v1/models`) on aiohttp.

Any OpenAI client library, the Milo Home Assistant integration or curl can
use Milo's brain. Streaming uses server-sent events exactly like OpenAI:
`data: {chunk}` lines and a final `data: [DONE]`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
import hmac
import json
import logging
import time
from typing import Any
import uuid

from aiohttp import web

from .engine import ChatEngine, Completion, ModelUnavailableError
from .model import ContextOverflowError, GenerationResult
from .openai_request import ApiError, ChatCompletionCall, parse_chat_request
from .prompt import PromptError
from .tool_calls import ToolCall, ToolCallDetector, iter_stream_deltas, parse_tool_calls

_LOGGER = logging.getLogger(__name__)

MAX_BODY_BYTES = 4 * 1024 * 1024
"""Home Assistant's prompts with many exposed entities and tools reach a few hundred KB."""

MAX_JSON_DEPTH = 64
"""Tool schemas, the deepest part of a real request, nest a handful of levels."""
_CLOSE_TIMEOUT_S = 1.0
"""Connections left once the engine has stopped every generation (see `ChatEngine.shutdown`)."""

_ENGINE = web.AppKey("engine", ChatEngine)
_PERSONA = web.AppKey("persona", str)
_API_KEY = web.AppKey("api_key", str)
_CREATED = web.AppKey("created", int)
_PUBLIC_PATHS = frozenset({"/health"})
_FIXES = {
    "context_length_exceeded": (
        "start milo-llm with a larger --n-ctx, or have the client send less (the Milo "
        "integration fits its prompt to the context_length that GET /v1/models reports)"
    ),
    "invalid_api_key": "the client's API key must match --api-key (or MILO_LLM_API_KEY)",
    "model_not_found": "the client must ask for a model that GET /v1/models lists",
}
"""What to do about a refusal, for the log: the client only sees the error body."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def create_app(engine: ChatEngine, *, persona: str, api_key: str | None = None) -> web.Application:
    """The aiohttp application; `api_key` makes every /v1 route need a bearer token."""
    app = web.Application(
        client_max_size=MAX_BODY_BYTES, middlewares=[_error_middleware, _auth_middleware]
    )
    app[_ENGINE] = engine
    app[_PERSONA] = persona
    app[_API_KEY] = api_key or ""
    app[_CREATED] = int(time.time())
    app.router.add_get("/health", _health)
    app.router.add_get("/v1/models", _list_models)
    app.router.add_get("/v1/models/{model}", _get_model)
    app.router.add_post("/v1/chat/completions", _chat_completions)
    return app


@web.middleware
async def _error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure as an OpenAI-style JSON error, including aiohttp's own 404/405/413."""
    try:
        return await handler(request)
    except ApiError as err:
        _log_refusal(request, err)
        return _error_response(err)
    except web.HTTPException as err:
        if err.status < 400:
            raise
        error_type = "invalid_request_error" if err.status < 500 else "server_error"
        refusal = ApiError(err.status, err.reason, error_type=error_type)
        _log_refusal(request, refusal)
        return _error_response(refusal)
    except ConnectionError:
        raise
    except Exception:
        _LOGGER.exception("Unexpected error serving %s %s", request.method, request.path)
        return _error_response(
            ApiError(
                500, "The server had an error processing the request.", error_type="server_error"
            )
        )


@web.middleware
async def _auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    api_key = request.app[_API_KEY]
    if api_key and request.path not in _PUBLIC_PATHS:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise ApiError(
                401,
                "Missing API key: send 'Authorization: Bearer <key>'.",
                code="invalid_api_key",
            )
        if not hmac.compare_digest(token.strip().encode(), api_key.encode()):
            raise ApiError(401, "Incorrect API key provided.", code="invalid_api_key")
    return await handler(request)


def _log_refusal(request: web.Request, err: ApiError) -> None:
    """Say in the server's log why a request was refused and what would fix it.

    A client may show only "HTTP 400" (or fall back to something else entirely), so
    the server's log is where a user finds out that the context is too small or the key
    is wrong.
    """
    if err.status >= 500:
        return  # logged where it happened
    fix = _FIXES.get(err.code or "")
    _LOGGER.warning(
        "Refused %s %s from %s (%d %s): %s.%s",
        request.method,
        request.path,
        request.remote,
        err.status,
        err.code or err.error_type,
        err.message.rstrip("."),
        f" Fix: {fix}." if fix else "",
    )


def _error_response(err: ApiError) -> web.Response:
    headers = {"WWW-Authenticate": "Bearer"} if err.status == 401 else None
    return web.json_response(err.body(), status=err.status, headers=headers)


async def _health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def _model_card(request: web.Request) -> dict[str, Any]:
    engine = request.app[_ENGINE]
    return {
        "id": engine.model.model_id,
        "object": "model",
        "created": request.app[_CREATED],
        "owned_by": "milo",
        "context_length": engine.model.n_ctx,
    }


async def _list_models(request: web.Request) -> web.Response:
    return web.json_response({"object": "list", "data": [_model_card(request)]})


async def _get_model(request: web.Request) -> web.Response:
    card = _model_card(request)
    if request.match_info["model"] != card["id"]:
        raise ApiError(
            404,
            f"The model '{request.match_info['model']}' does not exist.",
            param="model",
            code="model_not_found",
        )
    return web.json_response(card)


async def _chat_completions(request: web.Request) -> web.StreamResponse:
    try:
        body = await request.json(loads=_strict_json)
    except ValueError as err:
        raise ApiError(
            400, f"The request body is not valid JSON: {err}", code="invalid_json"
        ) from None
    except RecursionError:
        raise ApiError(
            400, "The request body is JSON nested too deeply to read.", code="invalid_json"
        ) from None
    engine = request.app[_ENGINE]
    call = parse_chat_request(body, engine.model.model_id, request.app[_PERSONA])
    try:
        async with engine.chat(call.generation) as completion:
            if call.stream:
                return await _stream(request, call, completion)
            text = await completion.text()
    except ModelUnavailableError as err:
        raise ApiError(
            503, f"The model is unavailable: {err}.", code="overloaded", error_type="server_error"
        ) from None
    except ContextOverflowError as err:
        raise ApiError(400, str(err), param="messages", code="context_length_exceeded") from None
    except PromptError as err:
        raise ApiError(400, str(err), param="messages") from None

    assert completion.result is not None
    if completion.result.finish_reason == "cancelled":
        raise _cut_off()
    content, calls = parse_tool_calls(text, call.tool_names)
    message: dict[str, Any] = {
        "role": "assistant",
        "content": content if content or not calls else None,
    }
    if calls:
        message["tool_calls"] = [tool_call.as_openai() for tool_call in calls]
    reply = _envelope(engine, "chat.completion")
    reply["choices"] = [
        {
            "index": 0,
            "message": message,
            "finish_reason": _finish_reason(completion.result, calls),
            "logprobs": None,
        }
    ]
    reply["usage"] = _usage(completion.result)
    return web.json_response(reply)


async def _stream(
    request: web.Request, call: ChatCompletionCall, completion: Completion
) -> web.StreamResponse:
    """Send the answer as SSE chunks while it is generated."""
    engine = request.app[_ENGINE]
    pieces = aiter(completion)
    # Wait for the first piece before sending headers, so that a prompt the
    # model cannot take still gets a proper status code.
    first = await anext(pieces, "")
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    envelope = _envelope(engine, "chat.completion.chunk")

    async def send(delta: dict[str, Any], finish_reason: str | None = None) -> None:
        choice = {"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}
        await _send_event(response, {**envelope, "choices": [choice]})

    detector = ToolCallDetector(call.tool_names) if call.tool_names else None
    await send({"role": "assistant", "content": ""})
    calls: list[ToolCall] = []
    try:
        piece = first
        while True:
            visible = detector.feed(piece) if detector else piece
            if visible:
                await send({"content": visible})
            next_piece = await anext(pieces, None)
            if next_piece is None:
                break
            piece = next_piece
        if detector:
            held, calls = detector.finish()
            if held:
                await send({"content": held})
            for tool_delta in iter_stream_deltas(calls):
                await send({"tool_calls": [tool_delta]})
    except ConnectionError:
        raise
    except Exception as err:
        _LOGGER.warning("Generation failed mid-stream: %s", err)
        await _send_event(response, ApiError(500, str(err), error_type="server_error").body())
        await response.write(b"data: [DONE]\n\n")
        return response

    result = completion.result
    assert result is not None
    if result.finish_reason == "cancelled":
        await _send_event(response, _cut_off().body())
        await response.write(b"data: [DONE]\n\n")
        return response
    await send({}, _finish_reason(result, calls))
    if call.include_usage:
        await _send_event(response, {**envelope, "choices": [], "usage": _usage(result)})
    await response.write(b"data: [DONE]\n\n")
    await response.write_eof()
    return response


async def _send_event(response: web.StreamResponse, payload: dict[str, Any]) -> None:
    await response.write(b"data: " + json.dumps(payload, ensure_ascii=False).encode() + b"\n\n")


def _envelope(engine: ChatEngine, kind: str) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": kind,
        "created": int(time.time()),
        "model": engine.model.model_id,
        "system_fingerprint": None,
    }


def _cut_off() -> ApiError:
    """A generation stopped by the server itself, which only happens when it shuts down."""
    return ApiError(
        503,
        "The server is shutting down; the answer was cut off.",
        code="shutting_down",
        error_type="server_error",
    )


def _finish_reason(result: GenerationResult, calls: list[ToolCall]) -> str:
    if calls:
        return "tool_calls"
    return "length" if result.finish_reason == "length" else "stop"


def _usage(result: GenerationResult) -> dict[str, Any]:
    return {
        "prompt_tokens": result.prompt_tokens,
        "completion_tokens": result.completion_tokens,
        "total_tokens": result.prompt_tokens + result.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": result.cached_tokens},
    }


def _strict_json(text: str) -> Any:
    """json.loads without NaN/Infinity, which are not JSON and break numeric checks."""

    def refuse(constant: str) -> Any:
        raise ValueError(f"{constant} is not valid JSON")

    body = json.loads(text, parse_constant=refuse)
    _check_depth(body)
    return body


def _check_depth(value: Any) -> None:
    """Refuse nesting deeper than any real request: rendering and schema handling recurse."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels")
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)


async def start_http(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Serve the app; returns the runner (for cleanup) and the bound port.

    `handler_cancellation` makes aiohttp cancel a request's handler when its
    client disconnects, which in turn stops a non-streaming generation.
    """
    runner = web.AppRunner(
        app, handler_cancellation=True, access_log=None, shutdown_timeout=_CLOSE_TIMEOUT_S
    )
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner, int(runner.addresses[0][1])
