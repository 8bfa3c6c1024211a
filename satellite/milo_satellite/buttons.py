"""The physical buttons, as on the original robot: a mute button and a power button.

Both are optional (`buttons:` in the config) push buttons from a GPIO pin to ground.
The mute button toggles listening (the same mute as `switch.<name>_mute`). The power
button's short press toggles Milo: listening and the head's sleep together; held for
`long_press_s` it says goodbye and runs `shutdown_command` (`systemctl poweroff`).

Debouncing happens here, on the event loop, rather than in gpiozero: a level counts only
once it has held for `debounce_s`, so contact chatter on press or release is one press,
and the same code runs on gpiozero's mock pins (which do not debounce) in the tests.

With `--simulate` the buttons are on gpiozero's mock pins, pressed by lines on standard
input (`mute`, `power`, `power 4` to hold it 4 s): a person at a terminal, or a test
driving a satellite in another process, presses them through the same debouncing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
import functools
import logging
import shlex
import sys
from typing import TYPE_CHECKING, Any, TextIO

from .config import ButtonsConfig
from .voice.fillers import synthesise
from .voice.satellite import VoiceSatellite

if TYPE_CHECKING:
    from .device import HeadLike

_LOGGER = logging.getLogger(__name__)

GOODBYE_TTS_TIMEOUT_S = 5.0  # a TTS that is down must not keep the Pi from shutting down
GOODBYE_PLAY_TIMEOUT_S = 15.0
SIMULATED_PRESS_S = 0.2  # a short press typed as `mute` or `power`


class ButtonError(RuntimeError):
    """A configured button cannot be used (no gpiozero, not a Pi, the pin is taken)."""


class PushButton:
    """One button on a BCM pin: `on_short()` when released, or `on_long()` once it has
    been held `long_press_s` (then nothing on release). Without `on_long`, any press is
    short. Pin edges may arrive from gpiozero's thread; the timing runs on `loop`."""

    def __init__(
        self,
        pin: int,
        loop: asyncio.AbstractEventLoop,
        *,
        on_short: Callable[[], None],
        on_long: Callable[[], None] | None = None,
        debounce_s: float,
        long_press_s: float,
    ) -> None:
        try:
            from gpiozero import Button, GPIOZeroError  # noqa: PLC0415 - only with buttons wired
        except ImportError as err:
            raise ButtonError(
                "the buttons need gpiozero: pip install 'milo-satellite[gpio]'"
            ) from err
        self._loop = loop
        self._on_short, self._on_long = on_short, on_long
        self._debounce_s, self._long_press_s = debounce_s, long_press_s
        self._level = False  # the pin as last seen (True: pressed)
        self._down = False  # the debounced state
        self._held = False  # on_long ran for this press
        self._settle: asyncio.TimerHandle | None = None
        self._hold: asyncio.TimerHandle | None = None
        try:
            self._button: Any = Button(pin, pull_up=True, bounce_time=None)
        except GPIOZeroError as err:
            raise ButtonError(f"cannot use GPIO {pin} for a button: {err}") from err
        self._button.when_pressed = lambda: loop.call_soon_threadsafe(self._edge, True)
        self._button.when_released = lambda: loop.call_soon_threadsafe(self._edge, False)

    def _edge(self, pressed: bool) -> None:
        self._level = pressed
        if self._settle is not None:
            self._settle.cancel()
        self._settle = self._loop.call_later(self._debounce_s, self._settled)

    def _settled(self) -> None:
        self._settle = None
        if self._level == self._down:
            return  # a glitch shorter than debounce_s
        self._down = self._level
        if self._down:
            self._held = False
            if self._on_long is not None:
                self._hold = self._loop.call_later(
                    self._long_press_s - self._debounce_s, self._long
                )
            return
        if self._hold is not None:
            self._hold.cancel()
            self._hold = None
        if not self._held:
            self._on_short()

    def _long(self) -> None:
        self._hold = None
        self._held = True
        if self._on_long is not None:
            self._on_long()

    def close(self) -> None:
        for handle in (self._settle, self._hold):
            if handle is not None:
                handle.cancel()
        self._button.close()


class Buttons:
    """The configured buttons, acting on the voice satellite and the head."""

    def __init__(
        self,
        config: ButtonsConfig,
        voice: VoiceSatellite,
        head: HeadLike | None,
        *,
        tts_uri: str = "",
        simulated: bool = False,
    ) -> None:
        """`simulated`: mock pins pressed from standard input (see above)."""
        self.config = config
        self.voice = voice
        self.head = head
        self.tts_uri = tts_uri
        self.simulated = simulated
        self.powering_off = False
        self._buttons: list[PushButton] = []
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        config, loop = self.config, asyncio.get_running_loop()
        pins = {"mute": config.mute_pin, "power": config.power_pin}
        wired = {name: pin for name, pin in pins.items() if pin is not None}
        if self.simulated and wired:
            from gpiozero import Device  # noqa: PLC0415 - only with buttons wired
            from gpiozero.pins.mock import MockFactory  # noqa: PLC0415

            Device.pin_factory = Device.pin_factory or MockFactory()
            self._spawn(self._press_from(sys.stdin, wired))
        timing = functools.partial(
            PushButton, debounce_s=config.debounce_s, long_press_s=config.long_press_s
        )
        if config.mute_pin is not None:
            self._buttons.append(timing(config.mute_pin, loop, on_short=self.toggle_listening))
        if config.power_pin is not None:
            self._buttons.append(
                timing(
                    config.power_pin,
                    loop,
                    on_short=lambda: self._spawn(self.toggle_milo()),
                    on_long=lambda: self._spawn(self.power_off()),
                )
            )

    async def stop(self) -> None:
        for button in self._buttons:
            button.close()
        self._buttons.clear()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def toggle_listening(self) -> None:
        """The mute button."""
        if not self.powering_off:
            _LOGGER.info("Mute button: %s", "listening" if self.voice.muted else "muted")
            self.voice.set_muted(not self.voice.muted)

    async def toggle_milo(self) -> None:
        """The power button's short press: asleep (muted, head asleep) or awake."""
        if self.powering_off:
            return
        asleep = not self.voice.muted
        _LOGGER.info("Power button: %s", "asleep" if asleep else "awake")
        self.voice.set_muted(asleep)
        if self.head is not None:
            await self.head.set_sleep(asleep)

    async def power_off(self) -> None:
        """The power button held: goodbye, the head to rest, then `shutdown_command`."""
        if self.powering_off:
            return
        self.powering_off = True
        _LOGGER.warning("Power button held: saying goodbye and shutting down")
        try:
            async with asyncio.timeout(GOODBYE_PLAY_TIMEOUT_S):
                await self.voice.player.play([await self._goodbye()], "goodbye")
        except TimeoutError:
            _LOGGER.warning("The goodbye took too long; shutting down anyway")
        if self.head is not None:
            await self.head.set_sleep(True)
        command = shlex.split(self.config.shutdown_command)
        try:
            proc = await asyncio.create_subprocess_exec(*command)
            code = await proc.wait()
        except OSError as err:
            code, detail = -1, str(err)
        else:
            detail = f"exit code {code}"
        if code != 0:
            _LOGGER.error("Shutdown command %r failed: %s", self.config.shutdown_command, detail)
            self.powering_off = False  # still here: the buttons work again

    async def _goodbye(self) -> bytes | str:
        """The goodbye phrase spoken by the Wyoming TTS, else the goodbye sound."""
        if self.tts_uri and self.config.goodbye:
            try:
                async with asyncio.timeout(GOODBYE_TTS_TIMEOUT_S):
                    return await synthesise(
                        self.tts_uri, self.config.goodbye, self.voice.player.sink.format
                    )
            except (OSError, TimeoutError, ValueError) as err:
                _LOGGER.warning("Cannot say goodbye with %s: %s", self.tts_uri, err)
        return self.voice.sounds.goodbye

    async def _press_from(self, stdin: TextIO, wired: dict[str, int]) -> None:
        """Simulation: press the mock pins as standard input's lines say."""
        reader = asyncio.StreamReader()
        loop = asyncio.get_running_loop()
        try:
            stdin.fileno()  # none when replaced (pytest): asyncio would half-make a transport
            transport, _ = await loop.connect_read_pipe(
                lambda: asyncio.StreamReaderProtocol(reader), stdin
            )
        except (OSError, ValueError) as err:
            _LOGGER.warning("Simulated buttons cannot read standard input: %s", err)
            return
        _LOGGER.info("Simulated buttons: type %s (or `NAME SECONDS` to hold)", " or ".join(wired))
        try:
            while line := await reader.readline():
                await self.press_simulated(line.decode(errors="replace"), wired)
        finally:
            transport.close()

    async def press_simulated(self, line: str, wired: dict[str, int]) -> None:
        """`mute`, `power` or `power 4` (held 4 s) on the mock pins; else a warning."""
        from gpiozero import Device  # noqa: PLC0415 - simulation only

        words = line.split()
        try:
            pin = wired[words[0]]
            held_s = float(words[1]) if len(words) > 1 else SIMULATED_PRESS_S
        except (IndexError, KeyError, ValueError):
            _LOGGER.warning(
                "Simulated buttons: %r is not `NAME [SECONDS]`, NAME one of %s",
                line.strip(),
                ", ".join(wired),
            )
            return
        _LOGGER.info("Simulated %s button held %.1f s", words[0], held_s)
        mock = Device.pin_factory.pin(pin)
        mock.drive_low()  # pressed: the button pulls the pin to ground
        await asyncio.sleep(held_s)
        mock.drive_high()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
