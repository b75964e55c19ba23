"""`tutorloop train / predict / eval / serve` through click's CliRunner, including the error paths."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tutorloop.cli.main import cli, main

TINY = Path(__file__).parents[1] / "contract" / "tiny.jsonl"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "model"
    result = CliRunner().invoke(cli, ["train", str(TINY), "--out", str(out), "--param", "C=20"])
    assert result.exit_code == 0, result.output
    return out


def test_train_records_holdout_metrics(model_dir):
    manifest = json.loads((model_dir / "manifest.json").read_text())
    assert manifest["kind"] == "tfidf"
    assert manifest["params"]["C"] == 20
    assert manifest["metrics"]["n"] == 8  # 20% stratified holdout of 40
    assert manifest["extra"]["n_train"] == 32
    assert 0.0 <= manifest["metrics"]["accuracy"] <= 1.0


def test_train_json_and_no_holdout(tmp_path):
    result = CliRunner().invoke(
        cli, ["train", str(TINY), "--out", str(tmp_path / "m"), "--holdout", "0", "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["metrics"] == {}


def test_predict_single_text(model_dir):
    result = CliRunner().invoke(
        cli, ["predict", str(model_dir), "Bake the cake with butter and sugar", "--json"]
    )
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout)
    assert row["label"] == "cooking"
    assert sum(row["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
    plain = CliRunner().invoke(cli, ["predict", str(model_dir), "Bake the cake with butter and sugar"])
    assert plain.stdout.startswith("cooking\tcooking=")


@pytest.mark.parametrize("fmt", ["txt", "jsonl", "csv", "parquet"])
def test_predict_file_streams_to_jsonl(model_dir, tmp_path, fmt):
    texts = [f"snow and rain forecast number {i}" for i in range(300)] + ["the striker scored a goal"]
    src = tmp_path / f"in.{fmt}"
    if fmt == "txt":
        src.write_text("\n".join(texts) + "\n")
    elif fmt == "jsonl":
        src.write_text("".join(json.dumps({"body": t}) + "\n" for t in texts))
    elif fmt == "csv":
        src.write_text("id,body\n" + "".join(f"{i},{t}\n" for i, t in enumerate(texts)))
    else:
        pa = pytest.importorskip("pyarrow")
        import pyarrow.parquet as pq

        pq.write_table(pa.table({"body": texts}), src)
    out = tmp_path / "out.jsonl"
    args = ["predict", str(model_dir), "--input", str(src), "--output", str(out), "--batch-size", "64"]
    if fmt != "txt":
        args += ["--text-column", "body"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 301 and rows[0]["text"] == texts[0]
    assert rows[0]["label"] == "weather" and rows[-1]["label"] == "sports"


def test_eval_prints_scores_and_json(model_dir):
    result = CliRunner().invoke(cli, ["eval", str(model_dir), str(TINY)])
    assert result.exit_code == 0, result.output
    assert "macro-F1" in result.output and "Confusion matrix" in result.output
    report = json.loads(CliRunner().invoke(cli, ["eval", str(model_dir), str(TINY), "--json"]).stdout)
    assert report["n"] == 40 and report["labels"] == ["cooking", "sports", "tech", "weather"]
    assert report["accuracy"] >= 0.8  # 32 of these 40 were training examples


def _run_main(args, capsys):
    with pytest.raises(SystemExit) as exc:
        main(args)
    return exc.value.code, capsys.readouterr().err


def test_eval_unseen_labels_is_a_clear_error(model_dir, tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"text": "hello there", "label": "greeting"}) + "\n")
    code, err = _run_main(["eval", str(model_dir), str(bad)], capsys)
    assert code == 1
    assert err.startswith("DataError:") and "'greeting'" in err and "The model knows: cooking" in err


def test_errors_exit_1_with_one_line(model_dir, tmp_path, capsys):
    code, err = _run_main(["predict", str(tmp_path / "missing"), "x"], capsys)
    assert code == 1 and err.startswith("ArtifactError:") and "does not exist" in err
    code, err = _run_main(["predict", str(model_dir), ""], capsys)
    assert code == 1 and err.startswith("DataError:") and "empty" in err
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"text": "fine", "label": "a"}\n{"text": "caf\xe9", "label": "b"}\n')
    code, err = _run_main(["train", str(bad), "--out", str(tmp_path / "m")], capsys)
    assert code == 1 and "line 2: not valid UTF-8" in err
    one = tmp_path / "one.jsonl"
    one.write_text("".join(json.dumps({"text": f"t{i}", "label": "only"}) + "\n" for i in range(5)))
    code, err = _run_main(["train", str(one), "--out", str(tmp_path / "m")], capsys)
    assert code == 1 and "only one class" in err
    code, err = _run_main(["train", str(TINY), "--out", str(tmp_path / "m"), "--param", "nope"], capsys)
    assert code == 1 and "NAME=VALUE" in err


def test_predict_needs_text_or_input(model_dir):
    result = CliRunner().invoke(cli, ["predict", str(model_dir)])
    assert result.exit_code == 2 and "either a TEXT" in result.output


def test_serve_help():
    result = CliRunner().invoke(cli, ["serve", "--help"])
    assert result.exit_code == 0 and "/predict" in result.output
