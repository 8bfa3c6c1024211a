"""history.py: which earlier turns go to the model (no Home Assistant needed)."""

from __future__ import annotations

from custom_components.milo.history import recent, rounds, spoken


def turn(n: int, *, tool: bool = False) -> list[dict]:
    messages: list[dict] = [{"role": "user", "content": f"question {n}"}]
    if tool:
        messages += [
            {"role": "assistant", "content": "", "tool_calls": [{"id": f"c{n}"}]},
            {"role": "tool", "tool_call_id": f"c{n}", "content": '{"waves": "big"}'},
        ]
    messages.append({"role": "assistant", "content": f"answer {n} "})
    return messages


def test_a_tool_call_stays_with_its_question() -> None:
    messages = turn(1, tool=True) + turn(2)
    assert [len(t) for t in rounds(messages)] == [4, 2]
    # An answer before any question (a greeting Milo started with) is a turn of its own.
    assert len(rounds([{"role": "assistant", "content": "Hi"}, *turn(1)])) == 2


def test_finished_turns_go_as_spoken_the_newest_whole() -> None:
    sent = recent(rounds(turn(1, tool=True) + turn(2, tool=True)), max_history=6)
    assert sent[0] == [
        {"role": "user", "content": "question 1"},
        {"role": "assistant", "content": "answer 1"},  # stripped, no tool traffic
    ]
    assert sent[1] == turn(2, tool=True)


def test_old_turns_go_in_blocks_so_the_start_stays_put() -> None:
    """Max history 6: the oldest go three at a time, so the first turn sent changes only
    every third message (a prompt-caching server reads the rest from its cache)."""
    firsts = []
    for count in range(7, 14):
        turns = rounds([m for n in range(count) for m in turn(n)])
        sent = recent(turns, max_history=6)
        assert len(sent) <= 7
        assert sent[-1] == turns[-1]
        firsts.append(sent[0][0]["content"])
    assert firsts == ["question 0"] + ["question 3"] * 3 + ["question 6"] * 3


def test_no_limit_and_nothing() -> None:
    turns = rounds([m for n in range(10) for m in turn(n)])
    assert len(recent(turns, max_history=0)) == 10
    assert recent([], max_history=6) == []
    assert spoken(turn(1, tool=True))[1]["content"] == "answer 1"
