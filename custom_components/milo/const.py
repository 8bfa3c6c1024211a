"""Constants for the Milo integration."""

from __future__ import annotations

import logging
from typing import Final

DOMAIN: Final = "milo"
LOGGER = logging.getLogger(__package__)

DEFAULT_NAME: Final = "Milo"
DEFAULT_URL: Final = "http://homeassistant.local:10501/v1"

# Subentry types
SUBENTRY_CONVERSATION: Final = "conversation"
SUBENTRY_SURF_SPOT: Final = "surf_spot"
# The name HA's own LLM integrations (OpenAI, Ollama) give their AI task subentries.
SUBENTRY_AI_TASK: Final = "ai_task_data"
DEFAULT_AI_TASK_NAME: Final = "Milo AI Task"
# A task's answer may be JSON with several fields, so it gets more room than a spoken one.
DEFAULT_AI_TASK_MAX_TOKENS: Final = 512

# Conversation agent options
CONF_PERSONA_NAME: Final = "persona_name"
CONF_SARCASM: Final = "sarcasm"
CONF_WEATHER_ENTITY: Final = "weather_entity"
CONF_SATELLITE_DEVICE: Final = "satellite_device"
CONF_TEMPERATURE: Final = "temperature"
CONF_MAX_HISTORY: Final = "max_history"
CONF_MAX_TOKENS: Final = "max_tokens"
CONF_CONTEXT_SIZE: Final = "context_size"
CONF_TIME_BUDGET: Final = "time_budget"

DEFAULT_SARCASM: Final = 2
DEFAULT_TEMPERATURE: Final = 0.7
DEFAULT_MAX_HISTORY: Final = 6
DEFAULT_MAX_TOKENS: Final = 256
# The context window assumed when the agent sets none and the server reports none (Ollama,
# llama.cpp's server): the default of Ollama, LM Studio and milo-llm's --n-ctx.
DEFAULT_CONTEXT_SIZE: Final = 4096
# Seconds the model path may stay silent before Milo says so and stops the model (0: no
# limit). A pause of 6 s feels broken in a spoken conversation.
DEFAULT_TIME_BUDGET: Final = 6.0
# The AI task that every entry gets (config flow, migration from 1.1): Milo's voice.
DEFAULT_AI_TASK_OPTIONS: Final = {
    CONF_PERSONA_NAME: DEFAULT_NAME,
    CONF_SARCASM: DEFAULT_SARCASM,
    CONF_TEMPERATURE: DEFAULT_TEMPERATURE,
    CONF_MAX_TOKENS: DEFAULT_AI_TASK_MAX_TOKENS,
}

# Rounds of model -> tools -> model before Milo gives up on a question.
MAX_TOOL_ROUNDS: Final = 5
# Network timeouts (seconds): listing models is quick, a tiny CPU model may think a while.
CONNECT_TIMEOUT: Final = 10
CHAT_TIMEOUT: Final = 120

# Surf spot options
CONF_OFFSHORE: Final = "offshore"
CONF_CROSS_OFFSHORE: Final = "cross_offshore"

COMPASS_POINTS: Final = (
    "N", "NNE", "NE", "ENE", "E", "ESE", "SE", "SSE",
    "S", "SSW", "SW", "WSW", "W", "WNW", "NW", "NNW",
)  # fmt: skip

# Portrush, from the original buddy-milo: SE/SSE is offshore at West Strand, SW/SSW at
# East Strand, and a southerly is cross-offshore at both.
DEFAULT_SPOTS: Final = (
    {
        "name": "East Strand",
        "latitude": 55.208025,
        "longitude": -6.643585,
        CONF_OFFSHORE: ["SW", "SSW"],
        CONF_CROSS_OFFSHORE: ["S"],
    },
    {
        "name": "West Strand",
        "latitude": 55.201625,
        "longitude": -6.660911,
        CONF_OFFSHORE: ["SE", "SSE"],
        CONF_CROSS_OFFSHORE: ["S"],
    },
)

# Surf forecast: Open-Meteo's public APIs, unless the entry's options name others
# (a self-hosted Open-Meteo or a mirror).
MARINE_API_URL: Final = "https://marine-api.open-meteo.com/v1/marine"
FORECAST_API_URL: Final = "https://api.open-meteo.com/v1/forecast"
CONF_MARINE_URL: Final = "marine_url"
CONF_FORECAST_URL: Final = "forecast_url"
SURF_UPDATE_MINUTES: Final = 60
# After a failure the next try comes 1, 2, 4, 8, 16 minutes later, then every 30 (half the
# hourly update), so the sensors are back within minutes of Open-Meteo.
SURF_RETRY_MAX_MINUTES: Final = 30
# Consecutive failed refreshes before a repair issue tells the user: with the retries above,
# about an hour of failures (a short blip raises nothing).
SURF_FAILURES_BEFORE_ISSUE: Final = 7
ISSUE_SURF_API: Final = "surf_api_unavailable"

SERVICE_SURF_REPORT: Final = "surf_report"
ATTR_CONFIG_ENTRY_ID: Final = "config_entry_id"
ATTR_SPOT: Final = "spot"
ATTR_DAY: Final = "day"
DAYS: Final = ("today", "tomorrow")
