"""Milo's body: the Raspberry Pi voice satellite and its face-tracking head."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("milo-satellite")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
