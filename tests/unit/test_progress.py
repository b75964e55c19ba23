"""Progress when the output is not a terminal: plain lines a person can follow in a log."""

from __future__ import annotations

import pytest

from tutorloop.loop.context import UI


def test_a_phase_prints_start_periodic_and_final_lines_when_not_a_terminal(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ui = UI(enabled=True)
    assert ui._console is not None and not ui._console.is_terminal  # captured stderr is not a TTY
    monkeypatch.setattr(UI, "PLAIN_EVERY_S", 0.0)  # a progress line after every step
    with ui.phase("Labelling", 3) as advance:
        for _ in range(3):
            advance()
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "Labelling: 0/3 ..."
    assert lines[1].startswith("Labelling: 1/3, ") and lines[2].startswith("Labelling: 2/3, ")
    assert lines[-1].startswith("Labelling: 3/3 done in ") and len(lines) == 4
    with ui.phase("Tokens", 10) as advance:
        advance(4)  # several steps at once
        advance(6)
    lines = capsys.readouterr().err.splitlines()
    assert lines[1].startswith("Tokens: 4/10, ") and lines[-1].startswith("Tokens: 10/10 done in ")


def test_a_disabled_ui_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    with UI(enabled=False).phase("Labelling", 3) as advance:
        advance()
    assert capsys.readouterr().err == ""
