"""Tell the listening Milo satellite when the words so far are a whole request.

stt_speculation.py hands over milo-stt's speculative transcript of a pause (0.22 s in);
when Milo's agent would answer it whole without the model and it leaves nothing hanging
(turn_complete.py), the satellite's `end_of_turn` action is called, and a satellite whose
"End of speech" is `balanced` or `fast` ends the turn after a shorter silence instead of
a whole second. The satellite ignores a verdict that comes while the user speaks again.
A question for the model is whole too when the satellite's "End of speech" is `balanced`
(turn_complete.py says why not with `fast`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from homeassistant.components import conversation
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError

from .const import LOGGER
from .satellite_device import BALANCED, Satellite
from .turn_complete import dangles, is_whole

if TYPE_CHECKING:
    from .conversation import MiloConversationEntity


async def async_judge(
    hass: HomeAssistant,
    agent: MiloConversationEntity,
    user_input: conversation.ConversationInput,
    chat_log: conversation.ChatLog,
) -> bool:
    """Judge `user_input` (asked on `chat_log`, a copy) and tell its satellite when it is
    a whole request; whether the satellite was told."""
    if user_input.device_id is None or dangles(user_input.text):
        return False  # cheap first: most pauses inside a request end on such a word
    satellite = Satellite(hass, user_input.device_id)
    if not satellite.ends_turns():
        return False
    handled = await agent.async_handles_whole(user_input, chat_log)
    questions = satellite.end_of_speech() == BALANCED
    if not is_whole(user_input.text, handled_whole=handled, questions=questions):
        LOGGER.debug("Not a whole request yet: %r", user_input.text)
        return False
    try:
        await satellite.async_end_of_turn(user_input.text)
    except HomeAssistantError as err:  # the satellite went away meanwhile
        LOGGER.debug("Could not tell the satellite the request is whole: %s", err)
        return False
    LOGGER.debug("A whole request, told the satellite: %r", user_input.text)
    return True
