"""Text as Milo speaks it: asides and labels cut however the stream splits them, figures plain."""

from __future__ import annotations

import pytest

from custom_components.milo.spoken import SpokenFilter, number


@pytest.mark.parametrize(
    ("chunks", "said"),
    [
        (("Hello there.",), "Hello there."),
        # The note Milo was given, echoed back: not said.
        (("(You're talking to Eileen.) Hello there, Eileen.",), "Hello there, Eileen."),
        # Split across chunks, nested, and in square brackets.
        (("Fine", " (sighs", " deeply (again)", ") fine. [beep] ", "Done."), "Fine fine. Done."),
        # Spaces collapse; none are left at the start or the end.
        (("  Lamp  on. ", "\n"), "Lamp on."),
        # An aside that never closes is not said either.
        (("Sure. (whispers to itself",), "Sure."),
        (("(smiles)",), ""),
        # Starred stage directions, split or not; inside brackets a star is just text;
        # starred emphasis ("**so**") is said.
        (
            (
                "Oh *laughs* hi. *sm",
                "iles* Bye.",
            ),
            "Oh hi. Bye.",
        ),
        (("(a *b) Hi.",), "Hi."),
        (("It was **so** good.",), "It was so good."),
        # A bracket that closes what never opened is not said either.
        (("It's a joke, right?)",), "It's a joke, right?"),
        # A speaker label at the start, whole or split, is not said; a colon later is.
        (("Milo: Oh, hello.",), "Oh, hello."),
        ((" Spec", "ter", ":", " Fine. Note: done."), "Fine. Note: done."),
        # A first word that is not a label, and one that nothing follows.
        (
            (
                "Sure",
                " thing.",
            ),
            "Sure thing.",
        ),
        (("Sure",), "Sure"),
        (("Supercalifragilisticexpialidocious: yes.",), "Supercalifragilisticexpialidocious: yes."),
        (("It's 3:15.",), "It's 3:15."),
        (("3:15 already?",), "3:15 already?"),
    ],
)
def test_asides_and_labels_are_not_said(chunks: tuple[str, ...], said: str) -> None:
    """Whatever the chunks, only the text outside brackets and labels is spoken."""
    spoken = SpokenFilter()
    assert "".join(spoken.feed(chunk) for chunk in chunks) + spoken.flush() == said


@pytest.mark.parametrize(
    ("value", "said"), [(1.2, "1.2"), (15.0, "15"), (3, "3"), (0.50, "0.5"), ("n/a", "n/a")]
)
def test_figures_are_read_plainly(value: float | str, said: str) -> None:
    """No trailing zeros for TTS to read out."""
    assert number(value) == said
