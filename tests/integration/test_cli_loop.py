"""tutorloop init / run / export through the real CLI entry point, with FakeLLM in place of the LLM."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from test_loop_support import fake_llm  # noqa: E402

from tutorloop.cli.main import cli, main  # noqa: E402


@pytest.fixture()
def fake(monkeypatch: pytest.MonkeyPatch):
    import tutorloop.llm

    made = []

    def get_llm(spec: str = "local", **kwargs):
        llm, _ = fake_llm(["positive", "negative"])
        if "ledger" in kwargs:  # as the real backends do
            llm.ledger = kwargs["ledger"]
        made.append((spec, kwargs, llm))
        return llm

    monkeypatch.setattr(tutorloop.llm, "get_llm", get_llm)
    return made


def test_init_run_resume_export(tmp_path: Path, fake: list) -> None:
    runner = CliRunner()
    task_file = tmp_path / "task.yaml"
    r = runner.invoke(
        cli,
        ["init", str(task_file), "--task", "Sentiment of movie reviews", "--labels", "positive, negative"],
    )
    assert r.exit_code == 0, r.output
    data = yaml.safe_load(task_file.read_text())
    assert data["labels"] == [
        {"name": "positive", "description": "Texts about positive."},
        {"name": "negative", "description": "Texts about negative."},
    ]
    out = tmp_path / "run"
    args = [
        "run",
        str(task_file),
        "--out",
        str(out),
        "--classifier",
        "tfidf",
        "--rounds",
        "1",
        "--examples-per-label",
        "6",
        "--val-per-label",
        "3",
        "--seed",
        "3",
        "--json",
        "--no-cache",
    ]
    r = runner.invoke(cli, args)
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout.strip().splitlines()[-1])
    assert result["run_dir"] == str(out) and result["history"][0]["round"] == 0
    assert fake[-1][0] == "local" and fake[-1][1]["cache"] is False
    assert json.loads((out / "config.json").read_text())["config"]["seed"] == 3
    r = runner.invoke(cli, ["run", "--resume", str(out), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout.strip().splitlines()[-1])["history"] == result["history"]
    assert fake[-1][2].requests == []  # nothing paid again
    r = runner.invoke(cli, ["export", str(out), "--format", "csv", "--out", str(tmp_path / "d.csv")])
    assert (
        r.exit_code == 0
        and "Wrote" in r.output
        and (tmp_path / "d.csv").read_text().startswith("id,text,label")
    )


def test_price_puts_the_cost_in_the_ledger_and_report(tmp_path: Path, fake: list) -> None:
    task_file = tmp_path / "task.yaml"
    task_file.write_text("task: Sentiment of movie reviews\nlabels: [positive, negative]\n")
    out = tmp_path / "run"
    args = [
        "run",
        str(task_file),
        "--out",
        str(out),
        "--classifier",
        "tfidf",
        "--rounds",
        "0",
        "--examples-per-label",
        "6",
        "--val-per-label",
        "3",
        "--json",
        "--no-cache",
    ]
    r = CliRunner().invoke(cli, [*args, "--price", "1000,2000"])  # USD per million tokens
    assert r.exit_code == 0, r.output
    entries = [json.loads(line) for line in (out / "ledger.jsonl").read_text().splitlines()]
    e = entries[0]
    assert e["cost_usd"] == pytest.approx((e["prompt_tokens"] * 1000 + e["completion_tokens"] * 2000) / 1e6)
    cost = json.loads(r.stdout.strip().splitlines()[-1])["ledger"]["cost_usd"]
    assert cost == pytest.approx(sum(x["cost_usd"] for x in entries)) and cost > 0
    assert f"${cost:.4f}" in (out / "report.md").read_text()
    r = CliRunner().invoke(cli, [*args[:3], str(tmp_path / "run2"), *args[4:], "--price", "cheap"])
    assert "is not PROMPT,COMPLETION USD per million tokens" in str(r.exception)  # main() prints it
    assert not (tmp_path / "run2").exists()


def test_errors_are_one_line_and_exit_1(tmp_path: Path, fake: list, capsys: pytest.CaptureFixture) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("task: x\nlabels: [a]\nextra: 1\n")
    with pytest.raises(SystemExit) as info:
        main(["run", str(bad), "--out", str(tmp_path / "r")])
    assert info.value.code == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("ConfigError: Unknown key 'extra' in task file") and "\n" not in err
    with pytest.raises(SystemExit) as info:
        main(["run", "--resume", str(tmp_path / "nothing")])
    assert info.value.code == 1 and "nothing to resume" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["init", str(bad), "--task", "x", "--labels", "a,b"])
    assert info.value.code == 1 and "--force" in capsys.readouterr().err


def test_ctrl_c_in_run_exits_130_and_says_how_to_resume(
    tmp_path: Path, fake: list, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tutorloop.loop.runner as runner

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "run_opened", interrupted)
    task = tmp_path / "t.yaml"
    task.write_text("task: Classify reviews\nlabels: [positive, negative]\n")
    with pytest.raises(SystemExit) as info:  # through main(), as the console script runs it
        main(["run", str(task), "--out", str(tmp_path / "r")])
    assert info.value.code == 130
    assert f"tutorloop run --resume {tmp_path / 'r'}" in capsys.readouterr().err
