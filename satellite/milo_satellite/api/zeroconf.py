"""Announce the device as `_esphomelib._tcp` so HA discovers it like an ESPHome board."""

from __future__ import annotations

import logging
import socket

from zeroconf import IPVersion
from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

from .. import __version__
from .server import DeviceIdentity

_LOGGER = logging.getLogger(__name__)

SERVICE_TYPE = "_esphomelib._tcp.local."


def local_address(fallback: str = "127.0.0.1") -> str:
    """The address other hosts reach us at (the one the default route uses); `fallback`
    when there is no route."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("192.0.2.1", 9))  # TEST-NET: nothing is sent
            return str(sock.getsockname()[0])
        except OSError:
            return fallback


class ZeroconfAnnouncer:
    """Announces the device as `_esphomelib._tcp`, so HA discovers it like an ESPHome board."""

    def __init__(
        self, identity: DeviceIdentity, port: int, *, encrypted: bool, host: str | None = None
    ) -> None:
        properties = {
            "version": __version__,
            "mac": identity.mac.replace(":", "").lower(),
            "platform": "linux",
            "board": identity.model,
            "friendly_name": identity.friendly_name or identity.name,
            "project_name": identity.project_name or f"{identity.manufacturer}.{identity.model}",
            "project_version": identity.project_version,
        }
        if encrypted:
            properties["api_encryption"] = "Noise_NNpsk0_25519_ChaChaPoly_SHA256"
        self._info = AsyncServiceInfo(
            SERVICE_TYPE,
            f"{identity.name}.{SERVICE_TYPE}",
            port=port,
            properties=properties,
            server=f"{identity.name}.local.",
            parsed_addresses=[host or local_address()],
        )
        self._zeroconf: AsyncZeroconf | None = None

    async def start(self) -> None:
        """Publish the record."""
        self._zeroconf = AsyncZeroconf(ip_version=IPVersion.V4Only)
        await self._zeroconf.async_register_service(self._info)
        _LOGGER.info("Announced %s on zeroconf", self._info.name)

    async def stop(self) -> None:
        """Withdraw the record."""
        if self._zeroconf is not None:
            await self._zeroconf.async_unregister_service(self._info)
            await self._zeroconf.async_close()
            self._zeroconf = None
