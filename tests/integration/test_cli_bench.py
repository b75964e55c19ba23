"""``tutorloop bench`` through click: error paths, a TF-IDF-only run, and one real-encoder run (slow)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tutorloop.cli.main import cli, main
from tutorloop.errors import ConfigError, DataError


def make_set(root: Path, name: str = "reviews", per_class: int = 12) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "labels.json").write_text(json.dumps(["negative", "positive"]))
    good = [
        "a wonderful, moving film",
        "great acting and a clever plot",
        "I loved every minute",
        "brilliant and funny",
        "a joy to watch",
        "superb direction",
    ]
    bad = [
        "a dull, tedious mess",
        "terrible acting and a silly plot",
        "I hated every minute",
        "boring and stupid",
        "a waste of time",
        "awful direction",
    ]
    rows = [
        {"text": f"{t} ({i})", "label": lab}
        for i in range(per_class)
        for t, lab in ((good[i % 6], "positive"), (bad[i % 6], "negative"))
    ]
    (folder / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def test_missing_labels_json_is_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = make_set(tmp_path)
    (folder / "labels.json").unlink()
    with pytest.raises(SystemExit) as exc:
        main(["bench", "--data", str(folder), "--methods", "few-shot-tfidf", "--out", str(tmp_path / "o")])
    assert exc.value.code == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("DataError: No labels.json in") and "\n" not in err


def test_k_too_large_and_unknown_method(tmp_path: Path) -> None:
    folder = make_set(tmp_path, per_class=5)
    runner = CliRunner()
    result = runner.invoke(
        cli,
        [
            "bench",
            "--data",
            str(folder),
            "--methods",
            "few-shot-tfidf",
            "--k",
            "8",
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert isinstance(result.exception, ConfigError) and "--k 4" in str(result.exception)
    result = runner.invoke(
        cli, ["bench", "--data", str(folder), "--methods", "few-shot-tfdf", "--out", str(tmp_path / "o")]
    )
    assert isinstance(result.exception, ConfigError)
    assert "did you mean 'few-shot-tfidf'" in str(result.exception)
    result = runner.invoke(cli, ["bench", "--data", str(tmp_path / "nowhere"), "--methods", "few-shot-tfidf"])
    assert isinstance(result.exception, DataError)


def test_unknown_classifier_fails_before_work(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "bench",
            "--data",
            str(make_set(tmp_path)),
            "--methods",
            "tutorloop",
            "--classifier",
            "embd",
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert isinstance(result.exception, ConfigError) and "Did you mean 'embed'" in str(result.exception)
    assert not (tmp_path / "o").exists()


def test_tfidf_run_writes_results_and_resumes(tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = [
        "bench",
        "--data",
        str(make_set(tmp_path)),
        "--methods",
        "few-shot-tfidf",
        "--seeds",
        "2",
        "--k",
        "4",
        "--out",
        str(out),
        "--no-progress",
        "--throughput-texts",
        "50",
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "few-shot-tfidf" in result.output and "results.md" in result.output
    results = json.loads((out / "results.json").read_text())
    assert [c["seed"] for c in results["cells"]] == [0, 1] and results["cells"][0]["n_eval"] == 16
    assert results["meta"]["llm"] is None
    assert (out / "accuracy_vs_tokens.png").exists() and "| reviews | few-shot-tfidf |" in (
        out / "results.md"
    ).read_text()
    before = (out / "cells" / "reviews" / "seed0" / "few-shot-tfidf.json").stat().st_mtime_ns
    assert CliRunner().invoke(cli, args).exit_code == 0
    assert (out / "cells" / "reviews" / "seed0" / "few-shot-tfidf.json").stat().st_mtime_ns == before


@pytest.mark.slow
def test_zero_shot_similarity_with_the_real_encoder(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli,
        [
            "bench",
            "--data",
            str(make_set(tmp_path)),
            "--methods",
            "zero-shot-sim",
            "--seeds",
            "1",
            "--k",
            "2",
            "--out",
            str(out),
            "--no-progress",
            "--throughput-texts",
            "20",
        ],
    )
    assert result.exit_code == 0, result.output
    cell = json.loads((out / "cells" / "reviews" / "seed0" / "zero-shot-sim.json").read_text())
    assert cell["n_eval"] == 20 and cell["throughput"] > 0
    assert cell["accuracy"] >= 0.7  # label names alone separate these obvious reviews


def test_loop_param_must_be_key_value(tmp_path: Path) -> None:
    base = [
        "bench",
        "--data",
        str(make_set(tmp_path)),
        "--methods",
        "tutorloop",
        "--out",
        str(tmp_path / "o"),
    ]
    result = CliRunner().invoke(cli, [*base, "--loop-param", "verify"])
    assert isinstance(result.exception, ConfigError) and "KEY=VALUE" in str(result.exception)
    result = CliRunner().invoke(cli, [*base, "--loop-param", "max_rounds=-1"])
    assert isinstance(result.exception, ConfigError) and "'max_rounds'" in str(result.exception)
    result = CliRunner().invoke(cli, [*base, "--loop-param", "colour=blue"])
    assert isinstance(result.exception, ConfigError) and "Unknown LoopConfig key" in str(result.exception)
    assert not (tmp_path / "o").exists()
