"""`milo-llm --model ORG/REPO:FILE.gguf` against a local server in the Hub's URL layout.

The server answers like huggingface.co: `HEAD /{repo}/resolve/main/{file}` redirects to a CDN
URL with `X-Linked-Size` and `X-Linked-Etag` (the sha256), the CDN honours `Range`, and
`/api/models/{repo}/revision/main` lists the files. It can misbehave on purpose. Never the
internet: every URL is 127.0.0.1.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
import hashlib
import io
import os
from pathlib import Path
import sys

from aiohttp import ClientSession, web
import pytest
from test_llm_cli import free_port, milo_llm

from milo_services.llm import hub as hub_module
from milo_services.llm.__main__ import build_parser
from milo_services.llm.embedded import EMBEDDED_FILE, embedded_model_path
from milo_services.llm.hub import (
    DownloadProgress,
    HubError,
    HubReference,
    choose_gguf,
    fetch_model,
    parse_reference,
)

REPO = "HuggingFaceTB/SmolLM2-135M-Instruct-GGUF"


@dataclass
class Served:
    """A file in the emulated Hub, and how the server lies about it or breaks off."""

    path: Path
    announced_size: int | None = None
    announced_sha256: str | None = None
    lfs: bool = True
    drop_after: int | None = None
    """Close the connection after this many bytes of the body."""

    @property
    def sha256(self) -> str:
        return sha256_of(self.path)


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class HubServer:
    """An aiohttp app on 127.0.0.1 in the Hub's URL layout; it logs every request."""

    def __init__(self) -> None:
        self.files: dict[str, dict[str, Served]] = {}
        self.renamed: dict[str, str] = {}
        self.requests: list[tuple[str, str, str | None]] = []
        self.authorized: list[str] = []
        self.url = ""
        app = web.Application()
        app.router.add_get("/api/models/{org}/{name}/revision/main", self._listing)
        app.router.add_route("*", "/{org}/{name}/resolve/main/{file:.+}", self._resolve)
        app.router.add_get("/cdn/{org}/{name}/{file:.+}", self._cdn)
        self._runner = web.AppRunner(app)

    async def start(self) -> None:
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        await self._runner.cleanup()

    def serve(self, repo: str, name: str, served: Served) -> None:
        self.files.setdefault(repo, {})[name] = served

    def _log(self, request: web.Request) -> str:
        self.requests.append((request.method, request.path, request.headers.get("Range")))
        if "Authorization" in request.headers:
            self.authorized.append(request.path)
        return f"{request.match_info['org']}/{request.match_info['name']}"

    async def _listing(self, request: web.Request) -> web.Response:
        repo = self._log(request)
        if repo not in self.files:
            raise web.HTTPNotFound(headers={"X-Error-Code": "RepositoryNotFound"})
        siblings = [{"rfilename": name} for name in [".gitattributes", *self.files[repo]]]
        return web.json_response({"id": repo, "siblings": siblings})

    async def _resolve(self, request: web.Request) -> web.StreamResponse:
        repo = self._log(request)
        name = request.match_info["file"]
        if repo in self.renamed:  # the Hub's answer for a renamed repository: relative
            raise web.HTTPTemporaryRedirect(f"/{self.renamed[repo]}/resolve/main/{name}")
        served = self.files.get(repo, {}).get(name)
        if served is None:
            raise web.HTTPNotFound(
                headers={"X-Error-Code": "EntryNotFound", "X-Error-Message": "Entry not found"}
            )
        size = served.announced_size or served.path.stat().st_size
        headers = {"X-Repo-Commit": "0" * 40}
        if not served.lfs:  # a plain git file: served here, with a git-sha1 ETag
            headers["ETag"] = f'"{"a" * 40}"'
            return web.FileResponse(served.path, headers=headers)
        sha = served.announced_sha256 or served.sha256
        headers |= {
            "X-Linked-Size": str(size),
            "X-Linked-Etag": f'"{sha}"',
            "ETag": f'"{"b" * 40}"',
            # The CDN is another host, as on huggingface.co: here `localhost`, same server.
            "Location": f"{self.url.replace('127.0.0.1', 'localhost')}/cdn/{repo}/{name}",
        }
        return web.Response(status=302, headers=headers)

    async def _cdn(self, request: web.Request) -> web.StreamResponse:
        repo = self._log(request)
        served = self.files[repo][request.match_info["file"]]
        if served.drop_after is None:
            return web.FileResponse(served.path)
        data = served.path.read_bytes()
        response = web.StreamResponse(headers={"Content-Length": str(len(data))})
        await response.prepare(request)
        await response.write(data[: served.drop_after])
        assert request.transport is not None
        request.transport.close()
        return response


@pytest.fixture
async def hub() -> AsyncIterator[HubServer]:
    server = HubServer()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def tiny_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Enough bytes for several chunks, with GGUF magic; fetch_model never parses further."""
    path = tmp_path_factory.mktemp("served") / "tiny.gguf"
    path.write_bytes(b"GGUF" + os.urandom(3 * 1024 * 1024 + 17))
    return path


def cached_files(cache: Path) -> list[Path]:
    """What a later run would take as a complete model."""
    return sorted(cache.rglob("*.gguf"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("org/repo", HubReference("org/repo")),
        ("org/repo:model.Q4_K_M.gguf", HubReference("org/repo", file="model.Q4_K_M.gguf")),
        ("org/repo:sub/dir/model.gguf", HubReference("org/repo", file="sub/dir/model.gguf")),
        ("Org-1/Repo_2.v3:Q8_0", HubReference("Org-1/Repo_2.v3", quant="Q8_0")),
        ("models/milo.gguf", None),  # a local path, even when it does not exist
        ("model.gguf", None),
        ("/abs/path/model", None),
        ("./org/repo", None),
        ("a/b/c", None),
    ],
)
def test_reference_forms(text: str, expected: HubReference | None) -> None:
    assert parse_reference(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("org:model.gguf", "not a Hugging Face repository"),
        ("org/re po:model.gguf", "not a Hugging Face repository"),
        ("org/re--po:model.gguf", "not a Hugging Face repository"),
        ("org/repo:", "FILE.gguf or a quantisation"),
        ("org/repo:Q4 K M", "FILE.gguf or a quantisation"),
        ("org/repo:../evil.gguf", "not a file name inside"),
        ("org/repo:/etc/x.gguf", "not a file name inside"),
        ("org/repo:big-00001-of-00003.gguf", "split GGUF files"),
    ],
)
def test_malformed_references_are_refused(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_reference(text)


def test_choosing_a_file_in_a_repository() -> None:
    many = ["m.Q2_K.gguf", "m.Q4_K_M.gguf", "m.Q4_K_S.gguf", "m.Q8_0.gguf", "README.md"]
    assert choose_gguf(["README.md", "only.gguf"], None) == "only.gguf"
    assert choose_gguf(many, None) == "m.Q4_K_M.gguf"  # llama.cpp's default quantisation
    assert choose_gguf(many, "q8_0") == "m.Q8_0.gguf"
    assert choose_gguf(many, "Q4_K") is None  # two match: the user must say which
    assert choose_gguf(["a.Q5_K.gguf", "b.Q6_K.gguf"], None) is None
    assert choose_gguf(["mmproj-f16.gguf", "m-00001-of-00002.gguf", "m.gguf"], None) == "m.gguf"


async def test_milo_llm_downloads_once_then_loads_from_the_cache(
    hub: HubServer, tmp_path: Path
) -> None:
    """The real embedded GGUF (about 100 MB) from the emulated Hub into the real milo-llm."""
    embedded = embedded_model_path()
    assert embedded is not None
    hub.serve(REPO, EMBEDDED_FILE, Served(embedded))
    cache = tmp_path / "cache"
    args = ("--model", f"{REPO}:{EMBEDDED_FILE}", "--model-cache", str(cache))
    args += ("--http-port", str(free_port()), "--http-host", "127.0.0.1", "--n-ctx", "512")
    env = {"HF_ENDPOINT": hub.url}

    async with milo_llm(*args, env=env) as service:
        async with (
            ClientSession() as http,
            http.get(f"http://127.0.0.1:{service.http_port}/v1/models") as response,
        ):
            models = await response.json()
        assert await service.terminate() == 0
    log = "".join(service.log)
    assert f"Downloading {REPO}/{EMBEDDED_FILE} (" in log
    assert f"Downloading {REPO}/{EMBEDDED_FILE}: 100% (" in log  # progress lines in a journal
    assert "SmolLM2" in models["data"][0]["id"]
    downloaded = cache / REPO / EMBEDDED_FILE
    assert cached_files(cache) == [downloaded]
    assert sha256_of(downloaded) == sha256_of(embedded)
    assert [method for method, _path, _range in hub.requests] == ["HEAD", "GET"]

    hub.requests.clear()
    async with milo_llm(*args, env=env) as service:
        assert await service.terminate() == 0
    assert hub.requests == []
    assert any("from the cache" in line for line in service.log)


async def test_a_repository_or_a_quantisation_picks_the_file(
    hub: HubServer, tiny_gguf: Path, tmp_path: Path
) -> None:
    for name in ("m.Q4_K_M.gguf", "m.Q8_0.gguf", "mmproj-m-f16.gguf"):
        hub.serve("org/many", name, Served(tiny_gguf))
    cache = tmp_path / "cache"

    path = await fetch_model(HubReference("org/many"), cache, endpoint=hub.url)
    assert path == cache / "org/many/m.Q4_K_M.gguf"
    path = await fetch_model(HubReference("org/many", quant="q8_0"), cache, endpoint=hub.url)
    assert path == cache / "org/many/m.Q8_0.gguf"

    hub.requests.clear()
    again = await fetch_model(HubReference("org/many", quant="Q8_0"), cache, endpoint=hub.url)
    assert again == path
    assert hub.requests == []  # the cache answers a quantisation too

    with pytest.raises(HubError, match=r"no single GGUF file matching 'Q3'.*m\.Q4_K_M\.gguf"):
        await fetch_model(HubReference("org/many", quant="Q3"), cache, endpoint=hub.url)


async def test_a_renamed_repository_is_followed(
    hub: HubServer, tiny_gguf: Path, tmp_path: Path
) -> None:
    hub.serve("org/new", "m.gguf", Served(tiny_gguf))
    hub.renamed["org/old"] = "org/new"
    path = await fetch_model(HubReference("org/old", file="m.gguf"), tmp_path, endpoint=hub.url)
    assert sha256_of(path) == sha256_of(tiny_gguf)


async def test_the_token_goes_to_the_hub_only(
    hub: HubServer, tiny_gguf: Path, tmp_path: Path
) -> None:
    hub.serve("org/gated", "m.Q4_K_M.gguf", Served(tiny_gguf))
    reference = HubReference("org/gated", quant="Q4_K_M")
    await fetch_model(reference, tmp_path, endpoint=hub.url, token="hf_secret")
    assert hub.authorized == [
        "/api/models/org/gated/revision/main",
        "/org/gated/resolve/main/m.Q4_K_M.gguf",
    ]
    assert hub.requests[-1][1] == "/cdn/org/gated/m.Q4_K_M.gguf"


async def test_a_broken_download_resumes(hub: HubServer, tiny_gguf: Path, tmp_path: Path) -> None:
    served = Served(tiny_gguf, drop_after=1024 * 1024 + 5)
    hub.serve("org/repo", "m.gguf", served)
    reference = HubReference("org/repo", file="m.gguf")
    with pytest.raises(HubError, match=r"broke off at 1\.0 MB of 3\.1 MB.*resume it"):
        await fetch_model(reference, tmp_path, endpoint=hub.url)
    assert cached_files(tmp_path) == []

    served.drop_after = None
    hub.requests.clear()
    path = await fetch_model(reference, tmp_path, endpoint=hub.url)
    assert sha256_of(path) == sha256_of(tiny_gguf)
    assert hub.requests[-1] == ("GET", "/cdn/org/repo/m.gguf", "bytes=1048581-")
    assert not path.with_name("m.gguf.part").exists()


@pytest.mark.parametrize(
    ("lie", "message"),
    [
        ({"announced_sha256": "0" * 64}, "is corrupt: its sha256 is"),
        ({"announced_size": 1000}, "sent more than the 1000 bytes"),
        ({"announced_size": 10**8}, "broke off at 3.1 MB of 100.0 MB"),
        ({"drop_after": 100}, "broke off at 0.0 MB of 3.1 MB"),
    ],
)
async def test_a_bad_download_is_never_cached(
    hub: HubServer, tiny_gguf: Path, tmp_path: Path, lie: dict[str, object], message: str
) -> None:
    hub.serve("org/repo", "m.gguf", Served(tiny_gguf, **lie))  # type: ignore[arg-type]
    with pytest.raises(HubError, match=message):
        await fetch_model(HubReference("org/repo", file="m.gguf"), tmp_path, endpoint=hub.url)
    assert cached_files(tmp_path) == []


async def test_a_file_without_sha256_is_checked_for_gguf_magic(
    hub: HubServer, tmp_path: Path
) -> None:
    page = tmp_path / "served.gguf"
    page.write_text("<html>a captive portal</html>")
    hub.serve("org/repo", "m.gguf", Served(page, lfs=False))
    cache = tmp_path / "cache"
    with pytest.raises(HubError, match="not a GGUF file; the partial file was removed"):
        await fetch_model(HubReference("org/repo", file="m.gguf"), cache, endpoint=hub.url)
    assert [path for path in cache.rglob("*") if path.is_file()] == []


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        (HubReference("org/repo", file="missing.gguf"), "HTTP 404 Entry not found"),
        (HubReference("org/missing"), "org/missing: HTTP 404"),
    ],
)
async def test_missing_files_and_repositories(
    hub: HubServer, tiny_gguf: Path, tmp_path: Path, reference: HubReference, message: str
) -> None:
    hub.serve("org/repo", "m.gguf", Served(tiny_gguf))
    with pytest.raises(HubError, match=message):
        await fetch_model(reference, tmp_path, endpoint=hub.url)
    assert cached_files(tmp_path) == []


async def test_an_unreachable_hub(tmp_path: Path) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(HubError, match=f"cannot reach {endpoint} for org/repo:m.gguf"):
        await fetch_model(HubReference("org/repo", file="m.gguf"), tmp_path, endpoint=endpoint)
    assert cached_files(tmp_path) == []


def test_progress_is_a_bar_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hub_module, "PROGRESS_DRAW_EVERY_S", 0.0)  # draw every update

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    progress = DownloadProgress("org/repo/m.gguf", 4_000_000, 0, terminal)
    progress.update(1_000_000)
    progress.update(4_000_000)
    progress.finish()
    drawn = terminal.getvalue()
    assert drawn.startswith("\rorg/repo/m.gguf [######------------------] 25% (1.0 of 4.0 MB")
    assert "[########################] 100% (4.0 of 4.0 MB" in drawn
    assert drawn.endswith("\n")


@pytest.mark.parametrize(
    ("args", "endpoint", "message"),
    [
        (["--model", "org:model.gguf"], None, "argument --model: 'org:model.gguf': 'org' is not"),
        (["--model", "org/repo:x-00001-of-00002.gguf"], None, "split GGUF files"),
        (["--hub-url", "ftp://mirror"], None, "argument --hub-url: 'ftp://mirror' is not an http"),
        (["--model", "org/repo"], "mirror.example", "HF_ENDPOINT: 'mirror.example' is not"),
    ],
)
async def test_bad_references_exit_2_before_anything_loads(
    args: list[str], endpoint: str | None, message: str
) -> None:
    env = {name: value for name, value in os.environ.items() if name != "HF_ENDPOINT"}
    if endpoint is not None:
        env["HF_ENDPOINT"] = endpoint
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "milo_services.llm", *args, stderr=asyncio.subprocess.PIPE, env=env
    )
    async with asyncio.timeout(60):
        _stdout, stderr = await process.communicate()
    assert process.returncode == 2
    assert message in stderr.decode()


def test_a_bad_hf_endpoint_does_not_stop_a_local_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """HF_ENDPOINT may be set for other tools; it matters only to a Hub reference."""
    monkeypatch.setenv("HF_ENDPOINT", "mirror.example")
    args = build_parser().parse_args(["--model", __file__])
    assert args.model == Path(__file__)
    assert args.hub_url is None


async def test_a_failed_download_ends_milo_llm_with_one_line(
    hub: HubServer, tmp_path: Path
) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "milo_services.llm", "--model", "org/repo:gone.gguf",
        "--model-cache", str(tmp_path), stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "HF_ENDPOINT": hub.url},
    )  # fmt: skip
    async with asyncio.timeout(60):
        _stdout, stderr = await process.communicate()
    assert process.returncode == 1
    last_line = stderr.decode().strip().splitlines()[-1]
    assert last_line.startswith("milo-llm: org/repo:gone.gguf: HTTP 404")
    assert "Traceback" not in stderr.decode()
