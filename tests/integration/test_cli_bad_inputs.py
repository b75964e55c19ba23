"""Bad inputs through the real CLI entry point (``tutorloop.cli.main.main``), property-based.

Each command either works, or exits 1 printing one line ``SomeError: message`` and no traceback; ``run``
refuses before its first LLM call (the backend stops the test at that call when an input is accepted).
``TUTORLOOP_FUZZ=N`` runs N times more examples.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from bad_input_strategies import (  # noqa: E402
    TRIED,
    FirstLLMCall,
    data_files,
    examples,
    one_line_error,
    stop_at_first_call,
    task_file_bytes,
    user_files,
    valid_files,
    write,
    wrong_type,
)
from test_loop_support import fake_llm  # noqa: E402

from tutorloop.cli.main import main  # noqa: E402

RUN_ARGS = ["--classifier", "tfidf", "--rounds", "0", "--examples-per-label", "4", "--val-per-label", "2"]


def _no_encoder() -> None:
    raise ImportError("no sentence encoder in the bad-input tests")


@pytest.fixture(autouse=True)
def no_encoder(monkeypatch: pytest.MonkeyPatch) -> None:
    import tutorloop.classifiers.encoder as encoder

    monkeypatch.setattr(encoder, "get_encoder", _no_encoder)


@pytest.fixture()
def backends(monkeypatch: pytest.MonkeyPatch) -> list[list]:
    """``get_llm`` returns a fresh stop-at-first-call backend; the list holds each one's calls."""
    import tutorloop.llm

    made: list[list] = []

    def get_llm(spec: str = "local", **kwargs: object):
        llm, calls = stop_at_first_call()
        made.append(calls)
        return llm

    monkeypatch.setattr(tutorloop.llm, "get_llm", get_llm)
    return made


def cli(argv: list[str], capsys: pytest.CaptureFixture) -> tuple[int | str, str]:
    """``tutorloop ARGV`` through main(): ("llm", "") when it reached the LLM, else (exit code, stderr)."""
    code: int | str = 0
    try:
        main(argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except FirstLLMCall:
        code = "llm"
    return code, capsys.readouterr().err


# -- run ----------------------------------------------------------------------------------------------


@examples(50)
@given(
    task=task_file_bytes(),
    dev=user_files,
    unlabelled=user_files,
)
def test_run_refuses_bad_inputs_in_one_line_before_any_llm_call(
    task: bytes,
    dev: tuple[str, bytes] | None,
    unlabelled: tuple[str, bytes] | None,
    backends: list[list],
    capsys: pytest.CaptureFixture,
) -> None:
    TRIED["cli run"] += 1
    before = len(backends)  # the fixture lives for all the examples
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "task.yaml").write_bytes(task)
        argv = ["run", str(folder / "task.yaml"), "--out", str(folder / "r"), "--no-cache", *RUN_ARGS]
        if dev is not None:
            argv += ["--dev", str(write(folder, "dev", *dev))]
        if unlabelled is not None:
            argv += ["--unlabelled", str(write(folder, "pool", *unlabelled))]
        code, err = cli(argv, capsys)
        TRIED["cli run: " + ("reached the LLM" if code == "llm" else "refused")] += 1
        if code == "llm":
            return
        assert code == 1, err
        one_line_error(err)
        assert all(not calls for calls in backends[before:])  # refused before any LLM call


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A finished run folder (FakeLLM, tfidf, no refinement round)."""
    import tutorloop.llm

    folder = tmp_path_factory.mktemp("finished")
    (folder / "task.yaml").write_text("task: Classify reviews\nlabels: [positive, negative]\n")

    def get_llm(spec: str = "local", **kwargs: object):
        return fake_llm(["positive", "negative"])[0]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(tutorloop.llm, "get_llm", get_llm)
        main(["run", str(folder / "task.yaml"), "--out", str(folder / "r"), "--no-cache", *RUN_ARGS])
    assert (folder / "r" / "model" / "manifest.json").is_file()
    yield folder / "r"


def _garbage(path: Path) -> None:
    path.write_bytes(b"\x00\xffnot a database" * 500)


def _malformed(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:4096] + b"\xde\xad\xbe\xef" * (max(len(data), 40_000) // 4))


def _foreign(path: Path) -> None:
    path.unlink()
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE examples (something_else TEXT)")
    db.commit()
    db.close()


@pytest.mark.parametrize("damage", [_garbage, _malformed, _foreign], ids=["garbage", "malformed", "foreign"])
def test_resume_with_a_damaged_store_is_one_line_naming_the_file(
    finished_run: Path, tmp_path: Path, damage, backends: list[list], capsys: pytest.CaptureFixture
) -> None:
    run_dir = tmp_path / "r"
    shutil.copytree(finished_run, run_dir)
    for suffix in ("-wal", "-shm"):
        (run_dir / f"store.sqlite{suffix}").unlink(missing_ok=True)
    damage(run_dir / "store.sqlite")
    code, err = cli(["run", "--resume", str(run_dir)], capsys)
    assert code == 1, err
    line = one_line_error(err)
    assert line.startswith(
        f"DataError: {run_dir / 'store.sqlite'} is damaged or is not a tutorloop run store"
    )
    assert "restore it from a backup" in line
    assert all(not calls for calls in backends)


def test_resume_with_a_task_yaml_that_is_not_utf8_is_one_line(
    finished_run: Path, tmp_path: Path, backends: list[list], capsys: pytest.CaptureFixture
) -> None:
    run_dir = tmp_path / "r"
    shutil.copytree(finished_run, run_dir)
    (run_dir / "task.yaml").write_bytes(
        "task: Critiques de café\nlabels: [positive, negative]\n".encode("latin-1")
    )
    code, err = cli(["run", "--resume", str(run_dir)], capsys)
    assert code == 1
    assert one_line_error(err).startswith("ConfigError: Task file") and "not UTF-8 text" in err
    assert all(not calls for calls in backends)


# -- predict and eval ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tutorloop.classifiers import make_classifier

    clf = make_classifier("tfidf").fit(
        ["great film", "loved it", "awful film", "hated it"], ["positive", "positive", "negative", "negative"]
    )
    return Path(clf.save(tmp_path_factory.mktemp("model") / "m"))


@examples(60)
@given(file=data_files())
def test_predict_and_eval_take_any_file_or_say_what_is_wrong_in_one_line(
    file: tuple[str, bytes], model_dir: Path, capsys: pytest.CaptureFixture
) -> None:
    TRIED["cli predict/eval"] += 1
    with tempfile.TemporaryDirectory() as tmp:
        path = write(Path(tmp), "input", *file)
        out = Path(tmp) / "out.jsonl"
        code, err = cli(["predict", str(model_dir), "--input", str(path), "--output", str(out)], capsys)
        if code == 0:
            assert all(
                json.loads(line)["label"] in ("positive", "negative") for line in out.read_text().splitlines()
            )
        else:
            assert code == 1, err
            one_line_error(err)
        code, err = cli(["eval", str(model_dir), str(path), "--json"], capsys)
        if code != 0:
            assert code == 1, err
            one_line_error(err)


@examples(30)
@given(file=st.one_of(data_files(), valid_files()))
def test_train_takes_any_file_or_says_what_is_wrong_in_one_line(
    file: tuple[str, bytes], capsys: pytest.CaptureFixture
) -> None:
    TRIED["cli train"] += 1
    with tempfile.TemporaryDirectory() as tmp:
        path = write(Path(tmp), "train", *file)
        code, err = cli(["train", str(path), "--classifier", "tfidf", "--out", str(Path(tmp) / "m")], capsys)
        if code == 0:
            assert (Path(tmp) / "m" / "manifest.json").is_file()
        else:
            assert code == 1, err
            one_line_error(err)


def test_train_on_texts_without_words_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "d.jsonl").write_text('{"text": "1", "label": "a"}\n{"text": "?", "label": "b"}\n')
    code, err = cli(["train", str(tmp_path / "d.jsonl"), "--out", str(tmp_path / "m")], capsys)
    assert code == 1 and one_line_error(err).startswith("DataError: The tfidf classifier found no word")


def test_predict_text_with_a_lone_surrogate_is_one_line(
    model_dir: Path, capsys: pytest.CaptureFixture
) -> None:
    code, err = cli(["predict", str(model_dir), "caf\udcff", "--json"], capsys)  # a non-UTF-8 argv byte
    assert code == 1 and one_line_error(err).startswith("DataError: texts[0] holds an invalid character")


MANIFEST_FIELDS = ["labels", "files", "params", "truncation", "model", "training", "metrics", "extra", "kind"]


@examples(60)
@given(
    field=st.sampled_from([*MANIFEST_FIELDS, "truncation.max_chars", "files.name"]),
    value=st.one_of(wrong_type, st.just([]), st.just({}), st.just("../../etc/passwd")),
)
def test_wrong_typed_manifest_fields_are_an_artifact_error_in_one_line(
    field: str, value: object, model_dir: Path, capsys: pytest.CaptureFixture
) -> None:
    TRIED["manifest field"] += 1
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "m"
        shutil.copytree(model_dir, target)
        manifest = json.loads((target / "manifest.json").read_text())
        if field == "truncation.max_chars":
            manifest["truncation"] = {"max_chars": value}
        elif field == "files.name":
            manifest["files"] = {str(value): "0" * 64}
        else:
            manifest[field] = value
        (target / "manifest.json").write_text(json.dumps(manifest))
        code, err = cli(["predict", str(target), "a great film", "--json"], capsys)
        if code != 0:  # some values are valid (e.g. an empty mapping of metrics)
            assert code == 1, err
            assert one_line_error(err).startswith("ArtifactError: ")
