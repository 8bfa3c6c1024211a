"""Bigger brains from the Hugging Face Hub: `milo-llm --model org/repo:FILE.gguf`.

A GGUF is downloaded once into a cache, then loaded from there without asking the network
again. Our own small downloader (aiohttp is already milo-llm's HTTP library) rather than
`huggingface_hub`: that package checks a download's size but not the sha256 the Hub
announces, shows progress only as a tqdm bar (noise in a journal), and asks the Hub again
on every start unless told to stay offline. The protocol is the Hub's own, as `huggingface_hub`
speaks it: `HEAD {endpoint}/{repo}/resolve/main/{file}` answers with `X-Linked-Size` and
`X-Linked-Etag` (the sha256 of an LFS file) and redirects to the CDN that serves the bytes;
`GET {endpoint}/api/models/{repo}` lists a repository's files. `HF_ENDPOINT` points it at a
mirror, `HF_TOKEN` opens gated repositories.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
import fcntl
import hashlib
import logging
import os
from pathlib import Path, PurePosixPath
import re
import shutil
import time
from typing import IO, TextIO
from urllib.parse import quote

import aiohttp
from yarl import URL

from .. import __version__

_LOGGER = logging.getLogger(__name__)

DEFAULT_ENDPOINT = "https://huggingface.co"
ENDPOINT_ENV = "HF_ENDPOINT"
TOKEN_ENV = "HF_TOKEN"
REVISION = "main"
DEFAULT_QUANT = "q4_k_m"
"""What a repository of many quantisations gives when the reference names none: llama.cpp's
own `-hf` default, a good size/quality trade for small models."""

CHUNK_BYTES = 1 << 20
CONNECT_TIMEOUT_S = 30.0
READ_TIMEOUT_S = 60.0
"""A stalled server ends the download with an error instead of a silent wait."""
MAX_REDIRECTS = 5

_NAME_PART = r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?"
_REPO_ID = re.compile(rf"{_NAME_PART}/{_NAME_PART}")
_TAG = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_SPLIT_PART = re.compile(r"-\d{5}-of-\d{5}\.gguf$", re.IGNORECASE)
_SHA256 = re.compile(r"[0-9a-f]{64}")
GGUF_MAGIC = b"GGUF"


class HubError(Exception):
    """A model that could not be fetched; the message says why and what to do about it."""


@dataclass(frozen=True)
class HubReference:
    """`org/repo`, `org/repo:FILE.gguf` or `org/repo:QUANT` (llama.cpp's `-hf` form)."""

    repo: str
    file: str | None = None
    quant: str | None = None

    def __str__(self) -> str:
        suffix = self.file or self.quant
        return f"{self.repo}:{suffix}" if suffix else self.repo


def parse_reference(text: str) -> HubReference | None:
    """The Hub reference `text` spells, or None when it reads as a local path.

    Anything with a colon is meant as a reference, so a malformed one is an error rather
    than a "file not found"; `org/repo` without one is a reference unless it ends in .gguf.
    """
    if ":" not in text:
        if _REPO_ID.fullmatch(text) and not _is_gguf(text) and _valid_repo(text):
            return HubReference(text)
        return None
    repo, _, spec = text.partition(":")
    if not (_REPO_ID.fullmatch(repo) and _valid_repo(repo)):
        raise ValueError(
            f"{text!r}: {repo!r} is not a Hugging Face repository; "
            "expected ORG/REPO:FILE.gguf, ORG/REPO:QUANT or ORG/REPO"
        )
    if _is_gguf(spec):
        parts = PurePosixPath(spec).parts
        if spec.startswith("/") or "\\" in spec or ".." in parts or "." in spec.split("/"):
            raise ValueError(f"{text!r}: {spec!r} is not a file name inside the repository")
        if _SPLIT_PART.search(spec):
            raise ValueError(
                f"{text!r}: split GGUF files are not supported; pick a single-file quantisation"
            )
        return HubReference(repo, file=spec)
    if not _TAG.fullmatch(spec):
        raise ValueError(
            f"{text!r}: after the colon comes a FILE.gguf or a quantisation such as Q4_K_M"
        )
    return HubReference(repo, quant=spec)


def _is_gguf(name: str) -> bool:
    return name.lower().endswith(".gguf")


def _valid_repo(repo: str) -> bool:
    """The Hub's rules beyond the character set."""
    return "--" not in repo and ".." not in repo and not repo.endswith(".git")


def default_cache_dir() -> Path:
    """`$XDG_CACHE_HOME/milo/models`, else `~/.cache/milo/models`."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "milo" / "models"


def default_endpoint() -> str:
    return os.environ.get(ENDPOINT_ENV) or DEFAULT_ENDPOINT


def choose_gguf(names: Iterable[str], quant: str | None) -> str | None:
    """The one loadable GGUF among `names` that `quant` (or, without it, the repo) means.

    Projector (mmproj) and split files can't be Milo's brain; a repository of several
    quantisations without a QUANT gets Q4_K_M when exactly one file is that.
    """
    candidates = sorted(
        name
        for name in names
        if _is_gguf(name)
        and not _SPLIT_PART.search(name)
        and not PurePosixPath(name).name.lower().startswith("mmproj")
    )
    wanted = (quant or DEFAULT_QUANT).lower()
    matching = [name for name in candidates if wanted in PurePosixPath(name).name.lower()]
    if quant is not None:
        candidates = matching
    if len(candidates) == 1:
        return candidates[0]
    if quant is None and len(matching) == 1:
        return matching[0]
    return None


@dataclass(frozen=True)
class RemoteFile:
    """What the Hub says about a file before it is downloaded."""

    url: URL
    """Where the bytes are: the CDN the Hub redirects to, or the resolve URL itself."""
    size: int
    sha256: str | None
    """Only LFS files (every GGUF in practice) have one; others are checked by size."""
    headers: dict[str, str]
    """The token goes to the Hub only, never to the CDN."""


async def fetch_model(
    reference: HubReference,
    cache_dir: Path,
    *,
    endpoint: str,
    token: str | None = None,
    progress: TextIO | None = None,
) -> Path:
    """The local path of `reference`'s GGUF, downloaded and verified on first use.

    A file already in the cache is used without any request. `progress` is the stream a
    terminal progress bar is drawn on; when it is not a terminal, progress is logged.
    """
    repo_dir = cache_dir / reference.repo
    cached = reference.file or choose_gguf(_cached_ggufs(repo_dir), reference.quant)
    if cached is not None and (repo_dir / cached).is_file():
        _LOGGER.info("Using %s/%s from the cache %s", reference.repo, cached, cache_dir)
        return repo_dir / cached

    headers = {"User-Agent": f"milo-llm/{__version__}", "Accept-Encoding": "identity"}
    auth = {"Authorization": f"Bearer {token}"} if token else {}
    timeout = aiohttp.ClientTimeout(total=None, connect=CONNECT_TIMEOUT_S, sock_read=READ_TIMEOUT_S)
    base = URL(endpoint.rstrip("/"))
    async with aiohttp.ClientSession(
        headers=headers, timeout=timeout, auto_decompress=False
    ) as session:
        try:
            name = reference.file or await _pick_remote(session, base, reference, auth)
            destination = repo_dir / name
            if not destination.is_file():  # a vaguer reference may have fetched it already
                remote = await _file_metadata(session, base, reference.repo, name, auth)
                label = f"{reference.repo}/{name}"
                await _download(session, remote, destination, label, progress)
        except (aiohttp.ClientError, TimeoutError) as err:
            raise HubError(
                f"cannot reach {endpoint} for {reference}: {_describe(err)}; "
                f"check the network or set {ENDPOINT_ENV} to a mirror"
            ) from None
    return destination


def _cached_ggufs(repo_dir: Path) -> list[str]:
    """Complete files only: a download in progress is a `.part` until it is verified."""
    if not repo_dir.is_dir():
        return []
    return [path.relative_to(repo_dir).as_posix() for path in repo_dir.rglob("*.gguf")]


async def _pick_remote(
    session: aiohttp.ClientSession, base: URL, reference: HubReference, auth: dict[str, str]
) -> str:
    url = URL(f"{base}/api/models/{reference.repo}/revision/{REVISION}", encoded=True)
    async with session.get(url, headers=auth) as response:
        await _raise_for_status(response, str(reference))
        try:
            info = await response.json(content_type=None)
        except ValueError:
            info = None
    siblings = info.get("siblings") if isinstance(info, dict) else None
    if not isinstance(siblings, list):
        raise HubError(f"{base} answered the file list of {reference.repo} without `siblings`")
    names = [entry["rfilename"] for entry in siblings if isinstance(entry, dict)]
    chosen = choose_gguf(names, reference.quant)
    if chosen is None:
        ggufs = [name for name in names if _is_gguf(name)]
        which = f"matching {reference.quant!r} " if reference.quant else ""
        listing = ", ".join(ggufs) if ggufs else "none"
        raise HubError(
            f"{reference.repo} has no single GGUF file {which}to pick (its GGUF files: "
            f"{listing}); name one as {reference.repo}:FILE.gguf"
        )
    _LOGGER.info("%s means %s", reference, chosen)
    return chosen


async def _file_metadata(
    session: aiohttp.ClientSession, base: URL, repo: str, name: str, auth: dict[str, str]
) -> RemoteFile:
    """Size, sha256 and location of a file, as `huggingface_hub` reads them.

    Relative redirects (a renamed repository) are followed; the one to the CDN is not:
    its response carries the `X-Linked-*` headers that describe the LFS file.
    """
    url = URL(f"{base}/{repo}/resolve/{REVISION}/{quote(name)}", encoded=True)
    for _ in range(MAX_REDIRECTS):
        async with session.head(url, headers=auth, allow_redirects=False) as response:
            await _raise_for_status(response, f"{repo}:{name}")
            linked_size = response.headers.get("X-Linked-Size")
            location = URL(response.headers.get("Location", ""))
            if response.status >= 300 and not location.is_absolute() and linked_size is None:
                url = url.join(location)
                continue
            target = url.join(location) if response.status >= 300 else url
            size = linked_size or response.headers.get("Content-Length")
            etag = response.headers.get("X-Linked-Etag") or response.headers.get("ETag") or ""
            break
    else:
        raise HubError(f"{repo}:{name}: more than {MAX_REDIRECTS} redirects")
    if size is None or not size.isdigit():
        raise HubError(f"{base} gave no size for {repo}:{name}; cannot check a download")
    digest = etag.removeprefix("W/").strip('"').lower()
    return RemoteFile(
        target,
        int(size),
        digest if _SHA256.fullmatch(digest) else None,
        auth if target.origin() == base.origin() else {},
    )


async def _raise_for_status(response: aiohttp.ClientResponse, what: str) -> None:
    """The Hub's own explanation (`X-Error-Message`) where it gives one."""
    if response.status < 400:
        return
    reason = response.headers.get("X-Error-Message") or response.reason or "error"
    hint = {
        401: f"; a private or gated repository needs {TOKEN_ENV}",
        403: f"; a gated repository needs its licence accepted and {TOKEN_ENV}",
        404: "; check the spelling (and that no local file of that name was meant)",
    }.get(response.status, "")
    raise HubError(f"{what}: HTTP {response.status} {reason}{hint}")


class _Part:
    """The `.part` file being written and the running sha256 of every byte in it."""

    def __init__(self, file: IO[bytes]) -> None:
        self.file = file
        self.size = 0
        self.hasher = hashlib.sha256()

    def keep_prefix(self, size: int) -> None:
        """Continue after the first `size` bytes already on disk (hashed here)."""
        self.file.seek(0)
        while self.size < size:
            chunk = self.file.read(min(CHUNK_BYTES, size - self.size))
            if not chunk:
                break
            self.hasher.update(chunk)
            self.size += len(chunk)
        self.file.truncate(self.size)
        self.file.seek(self.size)

    def restart(self) -> None:
        self.file.seek(0)
        self.file.truncate(0)
        self.size = 0
        self.hasher = hashlib.sha256()

    def append(self, chunk: bytes) -> None:
        self.file.write(chunk)
        self.hasher.update(chunk)
        self.size += len(chunk)


async def _download(
    session: aiohttp.ClientSession,
    remote: RemoteFile,
    destination: Path,
    label: str,
    stream: TextIO | None,
) -> None:
    """Download to `FILE.part`, verify size, hash and GGUF magic, then rename into place.

    A broken transfer of a file with a known sha256 keeps its `.part` and resumes from it
    next time (the hash still covers every byte); a file that fails a check is removed, so
    nothing in the cache is ever an unverified file.
    """
    destination.parent.mkdir(parents=True, exist_ok=True)
    part_path = destination.with_name(destination.name + ".part")
    with part_path.open("a+b") as file:
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise HubError(f"another process is downloading {part_path}") from None
        part = _Part(file)
        on_disk = file.seek(0, os.SEEK_END)
        if remote.sha256 is not None and on_disk <= remote.size:
            await asyncio.to_thread(part.keep_prefix, on_disk)
        else:
            part.restart()
        free = shutil.disk_usage(part_path.parent).free
        if free < remote.size - part.size:
            raise HubError(
                f"{label} needs {_mb(remote.size - part.size)} more but "
                f"{part_path.parent} has {_mb(free)} free"
            )
        if part.size:
            _LOGGER.info("Resuming %s at %s of %s", label, _mb(part.size), _mb(remote.size))
        else:
            _LOGGER.info("Downloading %s (%s) into %s", label, _mb(remote.size), part_path.parent)
        try:
            await _receive(session, remote, part, label, stream)
            _verify(part, remote, label)
        except (aiohttp.ClientError, TimeoutError) as err:
            resumable = remote.sha256 is not None
            if not resumable:
                part_path.unlink()
            raise HubError(
                f"the download of {label} broke off at {_mb(part.size)} of "
                f"{_mb(remote.size)} ({_describe(err)}); run milo-llm again to "
                + ("resume it" if resumable else "retry")
            ) from None
        except HubError:
            part_path.unlink()
            raise
        file.flush()
        os.fsync(file.fileno())
        part_path.replace(destination)
    _LOGGER.info("Saved %s as %s", label, destination)


async def _receive(
    session: aiohttp.ClientSession,
    remote: RemoteFile,
    part: _Part,
    label: str,
    stream: TextIO | None,
) -> None:
    """Append the rest of the file to `part` (all of it if the server ignores the range)."""
    if part.size == remote.size:
        return
    headers = {**remote.headers, "Range": f"bytes={part.size}-"} if part.size else remote.headers
    async with session.get(remote.url, headers=headers) as response:
        if response.status >= 400:
            raise HubError(f"{label}: HTTP {response.status} {response.reason} from the server")
        if response.status != 206:
            part.restart()
        progress = DownloadProgress(label, remote.size, part.size, stream)
        async for chunk in response.content.iter_chunked(CHUNK_BYTES):
            if part.size + len(chunk) > remote.size:
                raise HubError(
                    f"{label}: the server sent more than the {remote.size} bytes the Hub "
                    "announced; the partial file was removed"
                )
            part.append(chunk)
            progress.update(part.size)
        progress.finish()
    if part.size < remote.size:
        raise aiohttp.ClientPayloadError("the server closed the connection early")


def _verify(part: _Part, remote: RemoteFile, label: str) -> None:
    """The checks that make a `.part` a cached model: hash when known, and GGUF magic."""
    digest = part.hasher.hexdigest()
    if remote.sha256 is not None and digest != remote.sha256:
        raise HubError(
            f"{label} is corrupt: its sha256 is {digest}, the Hub says {remote.sha256}; "
            "the partial file was removed, run milo-llm again to download it afresh"
        )
    part.file.seek(0)
    if part.file.read(len(GGUF_MAGIC)) != GGUF_MAGIC:
        raise HubError(f"{label} is not a GGUF file; the partial file was removed")


PROGRESS_DRAW_EVERY_S = 0.2
PROGRESS_LOG_EVERY_S = 15.0
BAR_WIDTH = 24


class DownloadProgress:
    """A bar on a terminal, otherwise a log line every 10 % or 15 s: a download of a
    gigabyte is never a silent screen, nor a journal full of carriage returns."""

    def __init__(self, label: str, total: int, done: int, stream: TextIO | None) -> None:
        self._label = label
        self._total = max(total, 1)
        self._first = done
        self._done = done
        self._started = self._shown_at = time.monotonic()
        self._shown_tenth = done * 10 // self._total
        self._stream = stream if stream is not None and stream.isatty() else None

    def update(self, done: int) -> None:
        self._done = done
        now = time.monotonic()
        if self._stream is not None:
            if now - self._shown_at >= PROGRESS_DRAW_EVERY_S:
                self._shown_at = now
                self._draw()
            return
        tenth = done * 10 // self._total
        if tenth > self._shown_tenth or now - self._shown_at >= PROGRESS_LOG_EVERY_S:
            self._shown_at = now
            self._shown_tenth = tenth
            _LOGGER.info("Downloading %s: %s", self._label, self.describe())

    def finish(self) -> None:
        if self._stream is not None:
            self._draw()
            self._stream.write("\n")
            self._stream.flush()

    def describe(self) -> str:
        """`42% (56.1 of 134.0 MB, 12.3 MB/s, 6 s left)`."""
        elapsed = max(time.monotonic() - self._started, 1e-6)
        rate = (self._done - self._first) / elapsed
        left = f", {(self._total - self._done) / rate:.0f} s left" if rate > 0 else ""
        return (
            f"{self._done * 100 // self._total}% ({self._done / 1e6:.1f} of "
            f"{self._total / 1e6:.1f} MB, {rate / 1e6:.1f} MB/s{left})"
        )

    def _draw(self) -> None:
        assert self._stream is not None
        filled = BAR_WIDTH * self._done // self._total
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        self._stream.write(f"\r{self._label} [{bar}] {self.describe()}\x1b[K")
        self._stream.flush()


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


def _describe(err: BaseException) -> str:
    """aiohttp's errors, some of which have an empty str()."""
    return str(err) or type(err).__name__
