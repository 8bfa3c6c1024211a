"""Secrets inside URLs, hidden wherever a URL is shown: diagnostics, logs, repairs, device pages.

Users paste URLs with `?apikey=...` or `user:password@` into the options (a self-hosted or
commercial Open-Meteo, a proxy), and diagnostics and logs get attached to public bug reports.
"""

from __future__ import annotations

from homeassistant.components.diagnostics import REDACTED
from yarl import URL

# Query parameters that carry credentials (compared case-insensitively, without - and _):
# a self-hosted or commercial Open-Meteo takes `apikey=`, proxies often `token=`.
SECRET_PARAMS = {"apikey", "key", "token", "accesstoken", "authtoken", "password", "secret"}


def redact_url(url: str) -> str:
    """Hide the password, user name and secret query values in a URL; keep the rest readable."""
    try:
        parsed = URL(url)
    except (TypeError, ValueError):
        return REDACTED
    redacted = parsed
    if parsed.user is not None or parsed.password is not None:
        redacted = redacted.with_user(REDACTED).with_password(
            REDACTED if parsed.password is not None else None
        )
    if any(_is_secret(name) for name in parsed.query):
        redacted = redacted.with_query(
            [
                (name, REDACTED if _is_secret(name) else value)
                for name, value in parsed.query.items()
            ]
        )
    return url if redacted is parsed else str(redacted)


def _is_secret(param: str) -> bool:
    return param.lower().replace("_", "").replace("-", "") in SECRET_PARAMS
