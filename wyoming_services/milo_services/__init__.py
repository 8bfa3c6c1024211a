"""Milo's Wyoming services: speech-to-text, text-to-speech and the LLM."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("milo-wyoming-services")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
