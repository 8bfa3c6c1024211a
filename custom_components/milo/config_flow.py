"""Config flow: the chat server, then conversation agents and surf spots as subentries."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, override

from homeassistant.config_entries import (
    ConfigEntry,
    ConfigFlow,
    ConfigFlowResult,
    ConfigSubentryData,
    ConfigSubentryFlow,
    OptionsFlow,
    SubentryFlowResult,
)
from homeassistant.const import (
    CONF_API_KEY,
    CONF_LATITUDE,
    CONF_LLM_HASS_API,
    CONF_LONGITUDE,
    CONF_MODEL,
    CONF_NAME,
    CONF_PROMPT,
    CONF_URL,
)
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import config_validation as cv, llm
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.selector import (
    DeviceFilterSelectorConfig,
    DeviceSelector,
    DeviceSelectorConfig,
    EntitySelector,
    EntitySelectorConfig,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    TemplateSelector,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)
from homeassistant.helpers.service_info.zeroconf import ZeroconfServiceInfo
import probatio

from .client import LLMAuthError, LLMConnectionError, LLMError, OpenAICompatibleClient
from .const import (
    COMPASS_POINTS,
    CONF_CONTEXT_SIZE,
    CONF_CROSS_OFFSHORE,
    CONF_FORECAST_URL,
    CONF_MARINE_URL,
    CONF_MAX_HISTORY,
    CONF_MAX_TOKENS,
    CONF_OFFSHORE,
    CONF_PERSONA_NAME,
    CONF_SARCASM,
    CONF_SATELLITE_DEVICE,
    CONF_TEMPERATURE,
    CONF_TIME_BUDGET,
    CONF_WEATHER_ENTITY,
    DEFAULT_AI_TASK_NAME,
    DEFAULT_AI_TASK_OPTIONS,
    DEFAULT_MAX_HISTORY,
    DEFAULT_MAX_TOKENS,
    DEFAULT_NAME,
    DEFAULT_SARCASM,
    DEFAULT_SPOTS,
    DEFAULT_TEMPERATURE,
    DEFAULT_TIME_BUDGET,
    DEFAULT_URL,
    DOMAIN,
    FORECAST_API_URL,
    LOGGER,
    MARINE_API_URL,
    SUBENTRY_AI_TASK,
    SUBENTRY_CONVERSATION,
    SUBENTRY_SURF_SPOT,
)
from .surf import Endpoints, Spot, SurfApiError, async_fetch_forecast
from .weather_report import home_weather_entity

DEFAULT_AGENT_OPTIONS: dict[str, Any] = {
    CONF_PERSONA_NAME: DEFAULT_NAME,
    CONF_SARCASM: DEFAULT_SARCASM,
    CONF_PROMPT: "",
    CONF_LLM_HASS_API: [llm.LLM_API_ASSIST],
    CONF_TEMPERATURE: DEFAULT_TEMPERATURE,
    CONF_MAX_HISTORY: DEFAULT_MAX_HISTORY,
    CONF_MAX_TOKENS: DEFAULT_MAX_TOKENS,
    CONF_TIME_BUDGET: DEFAULT_TIME_BUDGET,
}

# The voice and limits an agent and an AI task both have.
SARCASM_SELECTOR = NumberSelector(
    NumberSelectorConfig(min=0, max=3, step=1, mode=NumberSelectorMode.SLIDER)
)
TEMPERATURE_SELECTOR = NumberSelector(
    NumberSelectorConfig(min=0, max=2, step=0.05, mode=NumberSelectorMode.SLIDER)
)
MAX_TOKENS_SELECTOR = NumberSelector(
    NumberSelectorConfig(min=16, max=8192, step=1, mode=NumberSelectorMode.BOX)
)

SERVER_SCHEMA = probatio.Schema(
    {
        probatio.Required(CONF_URL): TextSelector(TextSelectorConfig(type=TextSelectorType.URL)),
        probatio.Optional(CONF_API_KEY): TextSelector(
            TextSelectorConfig(type=TextSelectorType.PASSWORD)
        ),
    }
)


async def async_fetch_models(
    hass: HomeAssistant, url: str, api_key: str | None
) -> tuple[list[str], dict[str, str]]:
    """Connect to the server: return its models, or the form errors that explain why not."""
    client = OpenAICompatibleClient(async_get_clientsession(hass), url, api_key)
    try:
        models = await client.async_list_models()
    except LLMAuthError:
        return [], {"base": "invalid_auth"}
    except LLMConnectionError:
        return [], {"base": "cannot_connect"}
    except LLMError as err:
        LOGGER.warning("%s does not look like an OpenAI-compatible server: %s", url, err)
        return [], {"base": "cannot_connect"}
    if not models:
        return [], {"base": "no_models"}
    return models, {}


def _clean(user_input: Mapping[str, Any]) -> tuple[str, str | None]:
    """Validated URL (without a trailing slash) and stripped API key from a form."""
    url = cv.url(str(user_input[CONF_URL]).strip()).rstrip("/")
    api_key = str(user_input.get(CONF_API_KEY) or "").strip() or None
    return url, api_key


def _entry_data(url: str, api_key: str | None, model: str) -> dict[str, str]:
    data = {CONF_URL: url, CONF_MODEL: model}
    if api_key:
        data[CONF_API_KEY] = api_key
    return data


class MiloConfigFlow(ConfigFlow, domain=DOMAIN):
    """Connect Milo to an OpenAI-compatible chat server."""

    VERSION = 1
    # 1.2: every entry has an AI task (entries from 1.1 get the default one when migrated).
    MINOR_VERSION = 2

    def __init__(self) -> None:
        """Start with nothing known."""
        self._url = DEFAULT_URL
        self._api_key: str | None = None
        self._models: list[str] = []

    @override
    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Ask for the server URL and key."""
        errors: dict[str, str] = {}
        if user_input is not None:
            try:
                self._url, self._api_key = _clean(user_input)
            except probatio.Invalid:
                errors[CONF_URL] = "invalid_url"
            else:
                self._async_abort_entries_match({CONF_URL: self._url})
                self._models, errors = await async_fetch_models(self.hass, self._url, self._api_key)
                if not errors:
                    return await self.async_step_model()
        return self.async_show_form(
            step_id="user",
            data_schema=self.add_suggested_values_to_schema(
                SERVER_SCHEMA, user_input or {CONF_URL: self._url}
            ),
            errors=errors,
        )

    async def async_step_zeroconf(self, discovery_info: ZeroconfServiceInfo) -> ConfigFlowResult:
        """A milo-llm server announced itself."""
        props = discovery_info.properties
        port = props.get("http_port") or discovery_info.port
        path = props.get("path") or "/v1"
        host = discovery_info.host
        if discovery_info.ip_address.version == 6:
            host = f"[{host}]"
        self._url = f"http://{host}:{port}{path}".rstrip("/")
        await self.async_set_unique_id(discovery_info.name)
        self._abort_if_unique_id_configured(updates={CONF_URL: self._url})
        self._async_abort_entries_match({CONF_URL: self._url})
        self.context["title_placeholders"] = {"url": self._url}
        return await self.async_step_zeroconf_confirm()

    async def async_step_zeroconf_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Confirm the discovered server; fall back to the manual form if it needs a key."""
        if user_input is None:
            return self.async_show_form(
                step_id="zeroconf_confirm", description_placeholders={"url": self._url}
            )
        self._models, errors = await async_fetch_models(self.hass, self._url, None)
        if errors:
            return self.async_show_form(
                step_id="user",
                data_schema=self.add_suggested_values_to_schema(
                    SERVER_SCHEMA, {CONF_URL: self._url}
                ),
                errors=errors,
            )
        return await self.async_step_model()

    async def async_step_model(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Pick the model the server should run."""
        if user_input is None:
            return self.async_show_form(
                step_id="model",
                data_schema=probatio.Schema(
                    {
                        probatio.Required(CONF_MODEL, default=self._models[0]): SelectSelector(
                            SelectSelectorConfig(options=self._models, custom_value=True)
                        )
                    }
                ),
            )
        return self.async_create_entry(
            title=f"Milo ({self._url})",
            data=_entry_data(self._url, self._api_key, user_input[CONF_MODEL]),
            subentries=[
                ConfigSubentryData(
                    subentry_type=SUBENTRY_CONVERSATION,
                    title=DEFAULT_NAME,
                    data=DEFAULT_AGENT_OPTIONS,
                    unique_id=None,
                ),
                ConfigSubentryData(
                    subentry_type=SUBENTRY_AI_TASK,
                    title=DEFAULT_AI_TASK_NAME,
                    data=DEFAULT_AI_TASK_OPTIONS,
                    unique_id=None,
                ),
                *(
                    ConfigSubentryData(
                        subentry_type=SUBENTRY_SURF_SPOT,
                        title=str(spot[CONF_NAME]),
                        data={k: v for k, v in spot.items() if k != CONF_NAME},
                        unique_id=None,
                    )
                    for spot in DEFAULT_SPOTS
                ),
            ],
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the server, key or model."""
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            try:
                url, api_key = _clean(user_input)
            except probatio.Invalid:
                errors[CONF_URL] = "invalid_url"
            else:
                models, errors = await async_fetch_models(self.hass, url, api_key)
                model = str(user_input[CONF_MODEL]).strip()
                if not errors and model not in models:
                    errors[CONF_MODEL] = "model_not_found"
                if not errors:
                    return self.async_update_reload_and_abort(
                        entry,
                        title=f"Milo ({url})",
                        data=_entry_data(url, api_key, model),
                    )
        schema = SERVER_SCHEMA.extend({probatio.Required(CONF_MODEL): TextSelector()})
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=self.add_suggested_values_to_schema(schema, user_input or entry.data),
            errors=errors,
        )

    async def async_step_reauth(self, entry_data: Mapping[str, Any]) -> ConfigFlowResult:
        """The server rejected the key."""
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for a new API key."""
        entry = self._get_reauth_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            api_key = str(user_input.get(CONF_API_KEY) or "").strip() or None
            _models, errors = await async_fetch_models(self.hass, entry.data[CONF_URL], api_key)
            if not errors:
                return self.async_update_reload_and_abort(
                    entry, data=_entry_data(entry.data[CONF_URL], api_key, entry.data[CONF_MODEL])
                )
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=probatio.Schema(
                {
                    probatio.Optional(CONF_API_KEY): TextSelector(
                        TextSelectorConfig(type=TextSelectorType.PASSWORD)
                    )
                }
            ),
            description_placeholders={"url": entry.data[CONF_URL]},
            errors=errors,
        )

    @staticmethod
    @callback
    @override
    def async_get_options_flow(config_entry: ConfigEntry) -> OptionsFlow:
        """Where the surf forecast comes from."""
        return OpenMeteoOptionsFlow()

    @classmethod
    @callback
    @override
    def async_get_supported_subentry_types(
        cls, config_entry: ConfigEntry
    ) -> dict[str, type[ConfigSubentryFlow]]:
        """Conversation agents, AI tasks and surf spots."""
        return {
            SUBENTRY_CONVERSATION: ConversationFlowHandler,
            SUBENTRY_AI_TASK: AITaskFlowHandler,
            SUBENTRY_SURF_SPOT: SurfSpotFlowHandler,
        }


class _OptionsSubentryFlow(ConfigSubentryFlow):
    """One form for adding and for reconfiguring a subentry."""

    def _schema(self, current: Mapping[str, Any]) -> probatio.Schema:
        raise NotImplementedError

    def _validate(self, user_input: dict[str, Any]) -> dict[str, str]:
        return {}

    def _defaults(self) -> Mapping[str, Any]:
        raise NotImplementedError

    def _placeholders(self) -> dict[str, str]:
        return {}

    async def async_step_set_options(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Show or apply the options form."""
        is_new = self.source == "user"
        current = self._defaults() if is_new else self._get_reconfigure_subentry().data
        errors: dict[str, str] = {}
        if user_input is not None:
            errors = self._validate(user_input)
            if not errors:
                title = str(user_input.pop(CONF_NAME, "")).strip()
                if is_new:
                    return self.async_create_entry(title=title, data=user_input)
                return self.async_update_and_abort(
                    self._get_entry(), self._get_reconfigure_subentry(), data=user_input
                )
        schema = self._schema(current)
        if is_new:
            schema = probatio.Schema(
                {probatio.Required(CONF_NAME, default=current.get(CONF_NAME, "")): str}
            ).extend(schema.schema)
        return self.async_show_form(
            step_id="set_options",
            data_schema=self.add_suggested_values_to_schema(schema, user_input or current),
            errors=errors,
            description_placeholders=self._placeholders(),
        )

    async_step_user = async_step_set_options
    async_step_reconfigure = async_step_set_options


class ConversationFlowHandler(_OptionsSubentryFlow):
    """Add or change a Milo conversation agent."""

    def _defaults(self) -> Mapping[str, Any]:
        return {CONF_NAME: DEFAULT_NAME, **DEFAULT_AGENT_OPTIONS}

    def _placeholders(self) -> dict[str, str]:
        """Which forecast Milo uses when no weather entity is chosen."""
        entity_id = home_weather_entity(self.hass)
        state = self.hass.states.get(entity_id) if entity_id else None
        if entity_id is None or state is None:
            return {"home_weather": "none: this home has no weather entity yet"}
        return {"home_weather": f"{state.name} ({entity_id})"}

    def _schema(self, current: Mapping[str, Any]) -> probatio.Schema:
        apis = [
            SelectOptionDict(label=api.name, value=api.id) for api in llm.async_get_apis(self.hass)
        ]
        return probatio.Schema(
            {
                probatio.Required(CONF_PERSONA_NAME): str,
                probatio.Required(CONF_SARCASM): SARCASM_SELECTOR,
                probatio.Optional(CONF_PROMPT): TemplateSelector(),
                probatio.Optional(CONF_LLM_HASS_API): SelectSelector(
                    SelectSelectorConfig(options=apis, multiple=True)
                ),
                probatio.Optional(CONF_WEATHER_ENTITY): EntitySelector(
                    EntitySelectorConfig(domain="weather")
                ),
                probatio.Optional(CONF_SATELLITE_DEVICE): DeviceSelector(
                    DeviceSelectorConfig(filter=DeviceFilterSelectorConfig(integration="esphome"))
                ),
                probatio.Required(CONF_TEMPERATURE): TEMPERATURE_SELECTOR,
                probatio.Required(CONF_MAX_HISTORY): NumberSelector(
                    NumberSelectorConfig(min=0, max=100, step=1, mode=NumberSelectorMode.BOX)
                ),
                probatio.Required(CONF_MAX_TOKENS): MAX_TOKENS_SELECTOR,
                # Empty: what the server reports (milo-llm does), else DEFAULT_CONTEXT_SIZE.
                probatio.Optional(CONF_CONTEXT_SIZE): NumberSelector(
                    NumberSelectorConfig(min=512, max=262144, step=1, mode=NumberSelectorMode.BOX)
                ),
                # An agent set up before the option existed gets the default in the form.
                probatio.Required(CONF_TIME_BUDGET, default=DEFAULT_TIME_BUDGET): NumberSelector(
                    NumberSelectorConfig(
                        min=0,
                        max=120,
                        step=0.5,
                        unit_of_measurement="s",
                        mode=NumberSelectorMode.BOX,
                    )
                ),
            }
        )

    def _validate(self, user_input: dict[str, Any]) -> dict[str, str]:
        for key in (CONF_SARCASM, CONF_MAX_HISTORY, CONF_MAX_TOKENS, CONF_CONTEXT_SIZE):
            if key in user_input:
                user_input[key] = int(user_input[key])
        # Without an override the answer is capped at half the server's context at run time.
        if user_input[CONF_MAX_TOKENS] >= user_input.get(CONF_CONTEXT_SIZE, float("inf")):
            return {CONF_MAX_TOKENS: "max_tokens_too_large"}
        return {}


class AITaskFlowHandler(_OptionsSubentryFlow):
    """Add or change an AI task entity: the voice and limits of `ai_task.generate_data`."""

    def _defaults(self) -> Mapping[str, Any]:
        return {CONF_NAME: DEFAULT_AI_TASK_NAME, **DEFAULT_AI_TASK_OPTIONS}

    def _schema(self, current: Mapping[str, Any]) -> probatio.Schema:
        return probatio.Schema(
            {
                probatio.Required(CONF_PERSONA_NAME): str,
                probatio.Required(CONF_SARCASM): SARCASM_SELECTOR,
                probatio.Required(CONF_TEMPERATURE): TEMPERATURE_SELECTOR,
                probatio.Required(CONF_MAX_TOKENS): MAX_TOKENS_SELECTOR,
            }
        )

    def _validate(self, user_input: dict[str, Any]) -> dict[str, str]:
        for key in (CONF_SARCASM, CONF_MAX_TOKENS):
            user_input[key] = int(user_input[key])
        return {}


class SurfSpotFlowHandler(_OptionsSubentryFlow):
    """Add or change a surf spot."""

    def _defaults(self) -> Mapping[str, Any]:
        return {
            CONF_NAME: "",
            CONF_LATITUDE: self.hass.config.latitude,
            CONF_LONGITUDE: self.hass.config.longitude,
            CONF_OFFSHORE: [],
            CONF_CROSS_OFFSHORE: [],
        }

    def _schema(self, current: Mapping[str, Any]) -> probatio.Schema:
        compass = SelectSelector(SelectSelectorConfig(options=list(COMPASS_POINTS), multiple=True))
        return probatio.Schema(
            {
                probatio.Required(CONF_LATITUDE): NumberSelector(
                    NumberSelectorConfig(min=-90, max=90, step="any", mode=NumberSelectorMode.BOX)
                ),
                probatio.Required(CONF_LONGITUDE): NumberSelector(
                    NumberSelectorConfig(min=-180, max=180, step="any", mode=NumberSelectorMode.BOX)
                ),
                probatio.Optional(CONF_OFFSHORE): compass,
                probatio.Optional(CONF_CROSS_OFFSHORE): compass,
            }
        )

    def _validate(self, user_input: dict[str, Any]) -> dict[str, str]:
        name = str(user_input.get(CONF_NAME, "")).strip()
        if self.source == "user":
            if not name:
                return {CONF_NAME: "name_required"}
            taken = {
                sub.title.casefold()
                for sub in self._get_entry().subentries.values()
                if sub.subentry_type == SUBENTRY_SURF_SPOT
            }
            if name.casefold() in taken:
                return {CONF_NAME: "spot_exists"}
        if set(user_input.get(CONF_OFFSHORE, [])) & set(user_input.get(CONF_CROSS_OFFSHORE, [])):
            return {CONF_CROSS_OFFSHORE: "overlapping_directions"}
        return {}


OPEN_METEO_SCHEMA = probatio.Schema(
    {
        probatio.Required(CONF_MARINE_URL): TextSelector(
            TextSelectorConfig(type=TextSelectorType.URL)
        ),
        probatio.Required(CONF_FORECAST_URL): TextSelector(
            TextSelectorConfig(type=TextSelectorType.URL)
        ),
    }
)


class OpenMeteoOptionsFlow(OptionsFlow):
    """Point the surf forecast at Open-Meteo's public APIs, a self-hosted one or a mirror."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Ask for both API URLs; test them on a configured spot before saving."""
        errors: dict[str, str] = {}
        placeholders = {"error": ""}
        if user_input is not None:
            urls: dict[str, str] = {}
            for key in (CONF_MARINE_URL, CONF_FORECAST_URL):
                try:
                    urls[key] = cv.url(str(user_input[key]).strip())
                except probatio.Invalid:
                    errors[key] = "invalid_url"
            if not errors:
                if error := await self._async_test(Endpoints.from_options(urls)):
                    errors["base"] = "open_meteo_failed"
                    placeholders["error"] = error
                else:
                    return self.async_create_entry(data=urls)
        current = {
            CONF_MARINE_URL: self.config_entry.options.get(CONF_MARINE_URL, MARINE_API_URL),
            CONF_FORECAST_URL: self.config_entry.options.get(CONF_FORECAST_URL, FORECAST_API_URL),
        }
        return self.async_show_form(
            step_id="init",
            data_schema=self.add_suggested_values_to_schema(
                OPEN_METEO_SCHEMA, user_input or current
            ),
            errors=errors,
            description_placeholders=placeholders,
        )

    async def _async_test(self, endpoints: Endpoints) -> str | None:
        """Fetch the first spot's forecast; None when it worked, else what went wrong.

        Without spots there is nothing to ask about, so only the URLs' form is checked.
        """
        spots = [
            Spot.from_config(sub.title, sub.data)
            for sub in self.config_entry.subentries.values()
            if sub.subentry_type == SUBENTRY_SURF_SPOT
        ]
        if not spots:
            return None
        try:
            await async_fetch_forecast(async_get_clientsession(self.hass), spots[0], endpoints)
        except SurfApiError as err:
            return str(err)
        return None
