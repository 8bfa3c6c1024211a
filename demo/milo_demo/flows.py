"""Drive HA config flows (and subentry flows) through the REST API, as the UI does.

Each flow is answered step by step from a table {step_id: answers}. An unexpected step, an
error shown on a form or an abort becomes a StageError that says which step and what the
form asked for, so a changed integration fails loudly instead of half-configuring HA.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .errors import StageError
from .ha_api import HaApiError, HaRest

MAX_STEPS = 10

Answer = Mapping[str, Any] | Callable[[Mapping[str, Any]], Mapping[str, Any]]

FLOW_PATHS = {
    "config": "/api/config/config_entries/flow",
    "subentry": "/api/config/config_entries/subentries/flow",
    "options": "/api/config/config_entries/options/flow",
}


def _describe_form(result: Mapping[str, Any]) -> str:
    fields = [
        f"{field.get('name')}{'*' if field.get('required') else ''}"
        for field in result.get("data_schema") or []
    ]
    return f"step '{result.get('step_id')}' asks for {fields or 'nothing'}"


async def run_flow(
    rest: HaRest,
    stage: str,
    handler: str | list[str],
    answers: Mapping[str, Answer],
    *,
    kind: str = "config",
    init: Mapping[str, Any] | None = None,
    success_aborts: tuple[str, ...] = (),
    log_hint: Any = None,
) -> dict[str, Any]:
    """Run a flow to its end; returns HA's create_entry (or accepted abort) result.

    init adds to the request that starts the flow (a subentry_id to reconfigure);
    success_aborts are abort reasons that mean success (reconfigure_successful).
    """
    path = FLOW_PATHS[kind]
    body = {"handler": handler, "show_advanced_options": True, **(init or {})}
    try:
        result = await rest.post(path, json=body)
        answered: set[str] = set()
        for _ in range(MAX_STEPS):
            flow_type = result.get("type")
            if flow_type == "create_entry":
                return dict(result)
            if flow_type == "abort" and result.get("reason") in success_aborts:
                return dict(result)
            if flow_type == "abort":
                raise StageError(stage, f"flow aborted: {result.get('reason')}", log_hint)
            step_id = result.get("step_id", "")
            if flow_type == "menu":
                answer = answers.get(step_id)
                if answer is None:
                    raise StageError(
                        stage, f"unexpected menu '{step_id}': {result.get('menu_options')}"
                    )
                payload: Mapping[str, Any] = answer(result) if callable(answer) else answer
            elif flow_type == "form":
                if result.get("errors") and step_id in answered:
                    raise StageError(
                        stage,
                        f"step '{step_id}' refused the answers: {result['errors']}",
                        log_hint,
                    )
                answer = answers.get(step_id)
                if answer is None:
                    raise StageError(stage, f"unexpected {_describe_form(result)}", log_hint)
                payload = answer(result) if callable(answer) else answer
                answered.add(step_id)
            else:
                raise StageError(stage, f"unexpected flow result type {flow_type}: {result}")
            result = await rest.post(f"{path}/{result['flow_id']}", json=dict(payload))
    except HaApiError as err:
        raise StageError(stage, str(err), log_hint) from err
    raise StageError(stage, f"flow did not finish within {MAX_STEPS} steps")


def keep_current(**overrides: Any) -> Callable[[Mapping[str, Any]], Mapping[str, Any]]:
    """An answer that keeps every value the form suggests and changes only `overrides`."""

    def answer(form: Mapping[str, Any]) -> Mapping[str, Any]:
        values: dict[str, Any] = {}
        for field in form.get("data_schema") or []:
            suggested = (field.get("description") or {}).get("suggested_value")
            value = suggested if suggested is not None else field.get("default")
            if value is not None:
                values[field["name"]] = value
        values.update(overrides)
        return values

    return answer
