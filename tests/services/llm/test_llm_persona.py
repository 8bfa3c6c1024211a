"""milo-llm's built-in persona tells the same story as the integration's."""

from __future__ import annotations

import re

from milo_services.llm.persona import MILO_PERSONA


def test_troggs_is_the_portrush_surf_shop_not_a_band() -> None:
    """In the original robot, Troggs is the Portrush surf shop (see the integration's
    persona.py); a model told it is a band answers Troggs questions wrongly."""
    assert re.search(r"Troggs, the Portrush surf shop", MILO_PERSONA)
    assert "band" not in MILO_PERSONA.casefold()
