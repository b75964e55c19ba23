"""A run folder survives crashes and damage: files replaced whole, the model swap, a damaged config.json."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
from test_loop_support import fake_llm

from tutorloop.classifiers import load
from tutorloop.data.io import atomic_write_text
from tutorloop.errors import ConfigError
from tutorloop.loop import LoopConfig, Task, run
from tutorloop.loop.setup import open_run
from tutorloop.loop.train import save_model

LABELS = ["positive", "negative"]
SMALL = LoopConfig(examples_per_label=6, val_per_label=3, max_rounds=0)


def finished_run(out: Path):
    llm, _ = fake_llm(LABELS)
    task = Task.from_labels("Classify movie reviews by sentiment", LABELS)
    return run(task, llm=llm, classifier="tfidf", config=SMALL, out=out, progress=False)


def test_a_failed_write_keeps_the_old_file_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "config.json"
    atomic_write_text(path, '{"config": {}}')

    def disk_full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space left"):
        atomic_write_text(path, '{"config": {"seed": 1}}')
    assert path.read_text() == '{"config": {}}'
    assert [p.name for p in tmp_path.iterdir()] == ["config.json"]  # no temp file left behind


def test_run_files_are_replaced_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    replaced: list[str] = []
    real = os.replace

    def spy(src: str | Path, dst: str | Path) -> None:
        replaced.append(Path(dst).name)
        real(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    out = tmp_path / "r"
    finished_run(out)
    run(None, llm=fake_llm(LABELS)[0], out=out, resume=True, progress=False)  # rewrites them all again
    for name in ("config.json", "task.yaml", "rounds.jsonl", "report.md", "report.html"):
        assert replaced.count(name) == 2, name


@pytest.mark.parametrize("crash_at", ["model.tmp -> model", "removing model.old"])
def test_a_crash_in_the_model_swap_leaves_a_model_that_resume_puts_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, crash_at: str
) -> None:
    out = tmp_path / "r"
    first = finished_run(out)
    record = {"round": 0, "accuracy": 0.5, "macro_f1": 0.5}
    ctx = SimpleNamespace(run_dir=out, task=Task.from_labels("x", LABELS))
    if crash_at == "model.tmp -> model":
        rename = Path.rename

        def crash(self: Path, target: Path) -> Path:
            if self.name == "model.tmp":
                raise KeyboardInterrupt("killed")
            return rename(self, target)

        monkeypatch.setattr(Path, "rename", crash)
    else:
        import tutorloop.loop.train as train

        rmtree = shutil.rmtree

        def crash_rmtree(path: Path, *args: object, **kwargs: object) -> None:
            if Path(path).name == "model.old":
                raise KeyboardInterrupt("killed")
            rmtree(path, *args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(train.shutil, "rmtree", crash_rmtree)
    with pytest.raises(KeyboardInterrupt):
        save_model(ctx, first.predictor, record)  # type: ignore[arg-type]
    monkeypatch.undo()
    assert (out / "model.old").is_dir()  # the previous model is kept whole until the new one is in place
    llm, _ = fake_llm(LABELS)
    again = run(None, llm=llm, out=out, resume=True, progress=False)
    assert llm.requests == [] and again.history == first.history
    assert not (out / "model.old").exists()
    model = load(out / "model")
    assert list(model.predict(["I loved it, a wonderful film"])) == ["positive"]


@pytest.mark.parametrize("damage", ['{"config": {"max_ro', "[]", b"\xff\xfe"])
def test_a_damaged_config_json_is_a_config_error_naming_the_file(tmp_path: Path, damage: str | bytes) -> None:
    out = tmp_path / "r"
    finished_run(out)
    path = out / "config.json"
    path.write_bytes(damage if isinstance(damage, bytes) else damage.encode())
    with pytest.raises(ConfigError) as info:
        open_run(out, resume=True)
    message = str(info.value)
    assert message.startswith(str(path)) and "restore it from a backup" in message
    assert "\n" not in message
    shutil.rmtree(out)


def test_base_url_is_saved_without_credentials_and_only_for_its_backend(tmp_path: Path) -> None:
    task = Task.from_labels("Classify movie reviews by sentiment", LABELS)
    first = open_run(tmp_path / "r", task, llm_spec="openai:m", base_url="https://llm.test/v1")
    first.release()
    resumed = open_run(tmp_path / "r", resume=True)
    resumed.release()
    assert resumed.base_url == "https://llm.test/v1"
    other = open_run(tmp_path / "r", resume=True, llm_spec="local")  # another backend: not its server
    other.release()
    assert other.base_url is None
    with pytest.warns(UserWarning, match="has credentials in it"):
        secret = open_run(tmp_path / "s", task, llm_spec="openai:m", base_url="https://me:pw@llm.test/v1")
    secret.release()
    assert secret.base_url == "https://me:pw@llm.test/v1"  # used now, for this process
    assert "pw@" not in (tmp_path / "s" / "config.json").read_text()
