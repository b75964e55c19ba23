"""tutorloop init / run / export through the real CLI entry point, with FakeLLM in place of the LLM."""

from __future__ import annotations

import json
import os
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


RUN_ARGS = ["--classifier", "tfidf", "--rounds", "0", "--examples-per-label", "6", "--val-per-label", "3"]


def sentiment_task(tmp_path: Path) -> Path:
    task = tmp_path / "t.yaml"
    task.write_text("task: Classify reviews\nlabels: [positive, negative]\n")
    return task


@pytest.mark.parametrize("how", ["chmod", "access-denied"])
def test_read_only_run_folder_fails_before_any_llm_call(
    tmp_path: Path, fake: list, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    out = tmp_path / "r"
    out.mkdir()
    if how == "chmod":
        if os.geteuid() == 0:
            pytest.skip("root writes to read-only folders; the access-denied case covers the message")
        out.chmod(0o555)
    else:  # what os.access says for a read-only folder, also when the tests run as root
        real = os.access

        def access(path: str | Path, mode: int, **kw: object) -> bool:
            return not (Path(path) == out and mode & os.W_OK) and real(path, mode, **kw)

        monkeypatch.setattr(os, "access", access)
    try:
        with pytest.raises(SystemExit) as info:
            main(["run", str(sentiment_task(tmp_path)), "--out", str(out), *RUN_ARGS])
    finally:
        out.chmod(0o755)
    assert info.value.code == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"ConfigError: Cannot write to the run folder {out} (") and "\n" not in err
    assert "choose another --out folder" in err
    assert fake == []  # no LLM was even built
    assert list(out.iterdir()) == []


def test_disk_full_while_storing_is_one_line_and_resume_completes(
    tmp_path: Path, fake: list, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    from tutorloop.data.store import Store

    class FullDisk:
        """The store's connection, failing the examples' INSERT as SQLite does when the disk is full."""

        def __init__(self, db: sqlite3.Connection):
            self.db = db

        def execute(self, sql: str, *args: object) -> sqlite3.Cursor:
            if sql.startswith("INSERT INTO examples"):
                exc = sqlite3.OperationalError("database or disk is full")
                exc.sqlite_errorcode = sqlite3.SQLITE_FULL  # type: ignore[attr-defined]
                raise exc
            return self.db.execute(sql, *args)

        def __getattr__(self, name: str) -> object:
            return getattr(self.db, name)

    real_add = Store.add_examples
    failed: list[str] = []

    def add_examples(self: Store, rows: list, *, job: str | None = None, result: object = None) -> list[int]:
        if len(rows) and not failed and job and job.startswith("gen:"):  # the first generation job
            failed.append(job)
            db, self._db = self._db, FullDisk(self._db)  # type: ignore[assignment]
            try:
                return real_add(self, rows, job=job, result=result)
            finally:
                self._db = db
        return real_add(self, rows, job=job, result=result)

    monkeypatch.setattr(Store, "add_examples", add_examples)
    out = tmp_path / "r"
    with pytest.raises(SystemExit) as info:
        main(["run", str(sentiment_task(tmp_path)), "--out", str(out), *RUN_ARGS])
    assert info.value.code == 1 and failed
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith(
        f"StorageError: Could not write to {out / 'store.sqlite'} (database or disk is full)"
    )
    assert "then resume" in err
    store = Store(out / "store.sqlite")
    assert store.job_result(failed[0]) is None  # neither the job nor its rows were stored
    assert not [e for e in store.examples(status=None) if e.get("job") == failed[0]]
    store.close()
    main(["run", "--resume", str(out), "--json"])
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [h["round"] for h in result["history"]] == [0]
    store = Store(out / "store.sqlite")
    assert store.job_result(failed[0]) is not None
    store.close()


def test_full_disk_on_a_file_write_is_one_line_naming_it(
    tmp_path: Path, fake: list, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    import tutorloop.loop.runner as runner

    def full(path: Path, text: str) -> Path:
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(runner, "atomic_write_text", full)
    out = tmp_path / "r"
    with pytest.raises(SystemExit) as info:
        main(["run", str(sentiment_task(tmp_path)), "--out", str(out), *RUN_ARGS])
    assert info.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err == (
        f"StorageError: Could not write {out / 'rounds.jsonl'} (No space left on device). Nothing finished "
        f"is lost: free some space (or make it writable), then: tutorloop run --resume {out}"
    )
    monkeypatch.undo()
    main(["run", "--resume", str(out)])
    assert (out / "rounds.jsonl").is_file()


def test_resume_talks_to_the_saved_base_url_and_never_saves_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import httpx
    from test_loop_support import Curator  # noqa: E402

    import tutorloop.llm
    from tutorloop.types import LLMRequest, Message

    curator = Curator(["positive", "negative"])
    hosts: list[str] = []
    fail_after: list[int | None] = [6]  # the server goes away mid-curation

    def server(request: httpx.Request) -> httpx.Response:
        """An OpenAI-compatible server whose replies come from the keyword curator."""
        hosts.append(request.url.host)
        if fail_after[0] is not None and len(hosts) > fail_after[0]:
            return httpx.Response(503, json={"error": {"message": "overloaded"}})
        body = json.loads(request.content)
        req = LLMRequest(
            messages=tuple(Message(m["role"], m["content"]) for m in body["messages"]),
            json_schema=body["response_format"]["json_schema"]["schema"],
            sample_index=body.get("seed", 0) % 1_000_003,
        )
        content = json.dumps(curator(req))
        usage = {"prompt_tokens": 10, "completion_tokens": 5}
        return httpx.Response(200, json={"choices": [{"message": {"content": content}}], "usage": usage})

    real_get_llm = tutorloop.llm.get_llm
    monkeypatch.setattr(
        tutorloop.llm,
        "get_llm",
        lambda spec, **kw: real_get_llm(spec, transport=httpx.MockTransport(server), max_retries=0, **kw),
    )
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret")
    out = tmp_path / "r"
    base = ["--llm", "openai:m", "--no-cache", *RUN_ARGS]
    task = str(sentiment_task(tmp_path))
    with pytest.raises(SystemExit) as info:
        main(["run", task, "--out", str(out), "--base-url", "https://llm.test/v1", *base])
    assert info.value.code == 1 and "LLMServerError: https://llm.test/v1" in capsys.readouterr().err
    saved = (out / "config.json").read_text()
    assert json.loads(saved)["base_url"] == "https://llm.test/v1" and "sk-test-secret" not in saved

    fail_after[0], before = None, len(hosts)
    main(["run", "--resume", str(out), "--no-cache"])  # no --base-url: the saved one
    assert len(hosts) > before and set(hosts) == {"llm.test"}
    assert (out / "rounds.jsonl").is_file()

    with pytest.warns(UserWarning, match="This run used --base-url https://llm.test/v1; it now goes on with"):
        main(["run", "--resume", str(out), "--no-cache", "--base-url", "https://other.test/v1"])


def test_concurrency_and_rate_limit_options_reach_the_backend(tmp_path: Path, fake: list) -> None:
    task_file = tmp_path / "task.yaml"
    task_file.write_text("task: Sentiment of movie reviews\nlabels: [positive, negative]\n")
    args = ["run", str(task_file), "--classifier", "tfidf", "--rounds", "0", "--examples-per-label", "4"]
    args += ["--val-per-label", "2", "--no-cache", "--json"]
    r = CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "a")])
    assert r.exit_code == 0, r.output
    options = ("api_key_env", "max_concurrency", "requests_per_minute", "tokens_per_minute")
    assert not set(options) & set(fake[-1][1])  # left out: the backend's defaults
    extra = ["--max-concurrency", "32", "--requests-per-minute", "600", "--tokens-per-minute", "1e6"]
    extra += ["--api-key-env", "MY_TEACHER_KEY"]
    r = CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "b"), *extra])
    assert r.exit_code == 0, r.output
    kwargs = fake[-1][1]
    assert [kwargs[k] for k in options] == ["MY_TEACHER_KEY", 32, 600.0, 1e6]
    r = CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "c"), "--max-concurrency", "0"])
    assert r.exit_code == 2 and "--max-concurrency" in r.output
