"""A fresh Home Assistant config folder for the demo, written before hass first starts.

Only what the demo needs is loaded (the frontend, Assist, a desk lamp and a weather entity),
not `default_config`: its cloud and discovery extras would need packages and network the
demo has no use for. Integrations that have a config flow (Wyoming, ESPHome, Milo) are added
later through HA's own flow API, as a user would.
"""

from __future__ import annotations

from pathlib import Path
import shutil

# Portrush, where Milo's surf spots are.
LATITUDE = 55.2049
LONGITUDE = -6.6527

CONFIGURATION_YAML = """\
# Written by script/demo for Milo's end-to-end demo. Deleted and rewritten on every run.
homeassistant:
  name: Milo demo
  latitude: {latitude}
  longitude: {longitude}
  elevation: 10
  unit_system: metric
  currency: GBP
  country: GB
  language: en
  time_zone: Europe/London
  internal_url: "{base_url}"

http:
  server_host: 127.0.0.1
  server_port: {port}

logger:
  default: warning
  logs:
    homeassistant.setup: info
    homeassistant.components.assist_pipeline: info
    homeassistant.components.esphome: info
    homeassistant.components.wyoming: info
    custom_components.milo: debug

# The dashboard, onboarding and the config-flow API.
frontend:
config:

# Assist: pipelines and HA's own intents (device commands are handled locally first).
assist_pipeline:
conversation:

# The desk lamp: a template light whose "bulb" is an input_boolean, so its state is real
# HA state that changes only when the light's turn_on/turn_off actions run.
input_boolean:
  desk_lamp_power:
    name: Desk lamp power
    icon: mdi:power-plug

template:
  - light:
      - name: Desk lamp
        unique_id: milo_demo_desk_lamp
        state: "{{{{ is_state('input_boolean.desk_lamp_power', 'on') }}}}"
        turn_on:
          - action: input_boolean.turn_on
            target:
              entity_id: input_boolean.desk_lamp_power
        turn_off:
          - action: input_boolean.turn_off
            target:
              entity_id: input_boolean.desk_lamp_power
  # Fixed, clearly labelled demo weather: this machine has no internet, and the demo must
  # never pass made-up numbers off as a live forecast.
  - weather:
      - name: Demo weather
        unique_id: milo_demo_weather
        attribution: "Demo data written by script/demo, not a forecast"
        condition: "rainy"
        temperature: "{{{{ 12 }}}}"
        humidity: "{{{{ 88 }}}}"
        wind_speed: "{{{{ 24 }}}}"
        wind_bearing: "{{{{ 225 }}}}"
        temperature_unit: "°C"
        wind_speed_unit: "km/h"
        forecast_daily: >-
          {{{{ [
            {{'datetime': (today_at('12:00')).isoformat(), 'condition': 'rainy',
             'temperature': 12, 'templow': 8, 'wind_speed': 24, 'wind_bearing': 225,
             'precipitation_probability': 80}},
            {{'datetime': (today_at('12:00') + timedelta(days=1)).isoformat(),
             'condition': 'partlycloudy', 'temperature': 14, 'templow': 9, 'wind_speed': 15,
             'wind_bearing': 200, 'precipitation_probability': 20}}
          ] }}}}
        # Hourly for today and tomorrow, so Milo can say the morning, midday and evening:
        # today rain clearing to cloud, tomorrow cloud then sun.
        forecast_hourly: >-
          {{%- set ns = namespace(hours=[]) -%}}
          {{%- for h in range(48) -%}}
            {{%- set hour = h % 24 -%}}
            {{%- set today = ['rainy', 'cloudy', 'partlycloudy', 'rainy'] -%}}
            {{%- set tomorrow = ['cloudy', 'sunny', 'partlycloudy', 'clear-night'] -%}}
            {{%- set part = 3 if hour < 6 or hour >= 21 else (0 if hour < 11 else
                                                             (1 if hour < 17 else 2)) -%}}
            {{%- set sky = (today if h < 24 else tomorrow)[part] -%}}
            {{%- set ns.hours = ns.hours + [{{
              'datetime': (today_at('00:00') + timedelta(hours=h)).isoformat(),
              'condition': sky,
              'temperature': ((8 if h < 24 else 9) + (4 if h < 24 else 5)
                              * (1 - ((hour - 14) / 10) ** 2)) | round(0),
              'precipitation': 1.2 if sky == 'rainy' else 0,
              'precipitation_probability': 80 if sky == 'rainy' else 10,
              'humidity': 88 if h < 24 else 70}}] -%}}
          {{%- endfor -%}}
          {{{{ ns.hours }}}}
"""

LIGHT_ENTITY = "light.desk_lamp"
WEATHER_ENTITY = "weather.demo_weather"


def write_config(config_dir: Path, repo_root: Path, port: int) -> str:
    """Replace config_dir with a fresh config; returns HA's base URL."""
    if config_dir.exists():
        shutil.rmtree(config_dir)
    config_dir.mkdir(parents=True)
    base_url = f"http://127.0.0.1:{port}"
    (config_dir / "configuration.yaml").write_text(
        CONFIGURATION_YAML.format(
            latitude=LATITUDE, longitude=LONGITUDE, base_url=base_url, port=port
        ),
        encoding="utf-8",
    )
    custom = config_dir / "custom_components"
    custom.mkdir()
    # A symlink, so the demo always runs the working tree's integration.
    (custom / "milo").symlink_to(repo_root / "custom_components" / "milo")
    return base_url
