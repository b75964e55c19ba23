"""The benchmark harness with FakeLLM, a bag-of-words fake encoder and TF-IDF: no model, no network."""

from __future__ import annotations

import json
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_loop_support import fake_llm

from tutorloop.bench import baselines
from tutorloop.bench.harness import run_bench
from tutorloop.bench.registry import METHODS, BenchSettings, Cell, MethodOutput, register_method
from tutorloop.bench.tasks import TaskSpec
from tutorloop.errors import ConfigError, DataError, LLMError
from tutorloop.llm import FakeLLM
from tutorloop.types import LLMRequest

LABELS = ["sports", "politics", "science"]
WORDS = {
    "sports": ["match", "goal", "team"],
    "politics": ["vote", "senate", "law"],
    "science": ["atom", "cell", "lab"],
}


def make_set(root: Path, name: str = "news", per_class: int = 14) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "labels.json").write_text(json.dumps(LABELS))
    rows = [
        {"text": f"{label} {WORDS[label][i % 3]} story {i}", "label": label}
        for i in range(per_class)
        for label in LABELS
    ]
    (folder / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


class BagOfWords:
    """A fake encoder: hashed bag of words, L2-normalised (texts sharing words are close)."""

    def __init__(self) -> None:
        self.calls = 0

    def encode(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        out = np.zeros((len(texts), 128), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().split():
                out[row, zlib.crc32(word.encode()) % 128] += 1.0
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


def keyword_llm() -> FakeLLM:
    """Answers with the label whose name appears in the text (the text is the last message)."""

    def respond(req: LLMRequest) -> dict[str, str]:
        text = req.messages[-1].content
        return {"label": next((lab for lab in LABELS if lab in text), LABELS[0])}

    return FakeLLM(responder=respond)


@pytest.fixture
def recorder():
    """A registered method that records the cells it sees and predicts the first label."""
    seen: list[Cell] = []

    @register_method("recorder", uses=("k",))
    def record(cell: Cell) -> MethodOutput:
        seen.append(cell)
        return MethodOutput(predictions=[cell.dataset.labels[0]] * len(cell.eval_texts))

    yield seen
    METHODS.pop("recorder", None)


def test_all_methods_share_one_evaluation_set(tmp_path: Path, recorder: list[Cell]) -> None:
    llm = keyword_llm()
    res = run_bench(
        [str(make_set(tmp_path))],
        methods=["recorder", "few-shot-tfidf", "zero-shot-sim", "zero-shot-llm"],
        seeds=2,
        out=tmp_path / "out",
        settings=BenchSettings(k=4, llm_sample=10),
        llm=llm,
        encoder=BagOfWords(),
        progress=False,
        plot=False,
    )
    assert [c.seed for c in recorder] == [0, 1]
    cells = {(c["seed"], c["method"]): c for c in res["cells"]}
    assert len(cells) == 8 and not res["failures"]
    for seed, cell in enumerate(recorder):
        assert len(cell.split.train_idx) == 12 and not set(cell.split.train_idx) & set(cell.split.eval_idx)
        for method in ("recorder", "few-shot-tfidf", "zero-shot-sim"):
            assert cells[(seed, method)]["n_eval"] == len(cell.split.eval_idx) == 30
        llm_cell = cells[(seed, "zero-shot-llm")]
        assert llm_cell["n_eval"] == 10 and set(llm_cell["positions"]) <= set(range(30))
    assert recorder[0].split.eval_idx != recorder[1].split.eval_idx
    # the keyword LLM and the bag-of-words similarity are right on this data; the recorder is not
    assert cells[(0, "zero-shot-llm")]["accuracy"] == 1.0
    assert cells[(0, "zero-shot-sim")]["accuracy"] == 1.0
    assert cells[(0, "recorder")]["accuracy"] == pytest.approx(1 / 3)


def teacher_bench(
    root: Path, llm: FakeLLM, sample: int, *, progress: bool = False, tasks: dict[str, TaskSpec] | None = None
) -> dict[str, Any]:
    """``zero-shot-llm`` alone, one seed, on a fresh news set under ``root``."""
    return run_bench(
        [str(make_set(root))],
        methods=["zero-shot-llm"],
        seeds=1,
        out=root / "out",
        settings=BenchSettings(k=2, llm_sample=sample),
        llm=llm,
        tasks=tasks,
        progress=progress,
        plot=False,
    )


def test_zero_shot_llm_prompt_schema_sample_and_tokens(tmp_path: Path) -> None:
    llm = keyword_llm()
    tasks = {"news": TaskSpec("news", "Sort news stories by section.")}
    res = teacher_bench(tmp_path, llm, 7, tasks=tasks)
    cell = res["cells"][0]
    assert len(llm.requests) == 7 == cell["llm_calls"] == cell["n_eval"]
    assert cell["llm_tokens"] > 0 and cell["throughput"] > 0
    req = llm.requests[0]
    assert req.temperature == 0.0
    assert req.json_schema["properties"]["label"]["enum"] == LABELS
    system, user = req.messages
    assert system.role == "system" and "Sort news stories by section." in system.content
    assert all(f"- {lab}" in system.content for lab in LABELS)
    assert len({r.messages[0].content for r in llm.requests}) == 1  # one fixed prefix, texts last
    assert user.content.startswith("Text: ")
    assert any("sample of 7 of 36" in n for n in cell["notes"])
    # the same seed draws the same sample
    again = teacher_bench(tmp_path / "b", keyword_llm(), 7)
    assert again["cells"][0]["positions"] == cell["positions"]


def test_zero_shot_llm_shows_progress_in_a_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Writing to a log (as under nohup), the teacher's classification prints where it stands."""
    teacher_bench(tmp_path, keyword_llm(), 7, progress=True)
    err = capsys.readouterr().err
    assert "Teacher classifying test texts: 0/7 ..." in err
    assert "Teacher classifying test texts: 7/7 done" in err


def test_invalid_llm_replies_count_as_wrong(tmp_path: Path) -> None:
    llm = FakeLLM(responder=lambda req: {"label": "weather"})
    res = teacher_bench(tmp_path, llm, 3)
    cell = res["cells"][0]
    assert cell["accuracy"] == 0.0 and cell["extra"]["invalid"] == 3
    assert cell["predictions"] == [-1, -1, -1]


def test_bad_input_fails_before_any_llm_is_built(tmp_path: Path) -> None:
    built = []

    def factory() -> FakeLLM:
        built.append(1)
        return keyword_llm()

    good = make_set(tmp_path)
    bad = make_set(tmp_path, "broken")
    (bad / "labels.json").unlink()
    with pytest.raises(DataError, match="No labels.json"):
        run_bench(
            [str(good), str(bad)],
            methods=["zero-shot-llm"],
            seeds=1,
            out=tmp_path / "o",
            llm_factory=factory,
            progress=False,
        )
    with pytest.raises(ConfigError, match="'sports' has 14"):
        run_bench(
            [str(good)],
            methods=["zero-shot-llm"],
            seeds=1,
            out=tmp_path / "o",
            settings=BenchSettings(k=20),
            llm_factory=factory,
            progress=False,
        )
    with pytest.raises(ConfigError, match="did you mean 'zero-shot-llm'"):
        run_bench(
            [str(good)],
            methods=["zero-shot-lm"],
            seeds=1,
            out=tmp_path / "o",
            llm_factory=factory,
            progress=False,
        )
    assert built == [] and not (tmp_path / "o").exists()


def test_llm_is_not_built_for_methods_that_need_none(tmp_path: Path) -> None:
    built = []
    run_bench(
        [str(make_set(tmp_path))],
        methods=["few-shot-tfidf"],
        seeds=1,
        out=tmp_path / "o",
        settings=BenchSettings(k=2),
        llm_factory=lambda: built.append(1),
        progress=False,
        plot=False,
    )
    assert built == []


def test_resume_skips_finished_cells(tmp_path: Path, recorder: list[Cell]) -> None:
    data, out = [str(make_set(tmp_path))], tmp_path / "out"
    kwargs: dict[str, Any] = dict(
        methods=["recorder", "few-shot-tfidf"],
        seeds=2,
        out=out,
        settings=BenchSettings(k=2),
        progress=False,
        plot=False,
    )
    first = run_bench(data, **kwargs)
    assert len(recorder) == 2
    run_bench(data, **kwargs)
    assert len(recorder) == 2  # nothing re-run
    (out / "cells" / "news" / "seed1" / "recorder.json").unlink()
    again = run_bench(data, **kwargs)
    assert [c.seed for c in recorder] == [0, 1, 1]
    timing = ("wall_s", "throughput", "finished")
    strip = [{k: v for k, v in c.items() if k not in timing} for c in first["cells"]]
    assert strip == [{k: v for k, v in c.items() if k not in timing} for c in again["cells"]]


def test_report_only_runs_nothing_and_reports_finished_cells(tmp_path: Path, recorder: list[Cell]) -> None:
    data, out = [str(make_set(tmp_path))], tmp_path / "out"
    run_bench(
        data, methods=["recorder"], seeds=1, out=out, settings=BenchSettings(k=2), progress=False, plot=False
    )
    assert len(recorder) == 1
    both = run_bench(
        data,
        methods=["recorder", "few-shot-tfidf"],
        seeds=1,
        out=out,
        settings=BenchSettings(k=2),
        progress=False,
        plot=False,
        report_only=True,
    )
    assert len(recorder) == 1  # nothing ran
    assert [c["method"] for c in both["cells"]] == ["recorder"]  # the unfinished cell is simply absent
    finished = both["cells"][0]["finished"]
    assert both["meta"]["report_only"] and both["meta"]["cells_finished"] == [finished, finished]
    assert f"they finished between {finished} and {finished}" in (out / "results.md").read_text()


def test_interrupted_run_resumes_where_it_stopped(tmp_path: Path) -> None:
    calls: list[int] = []

    @register_method("fragile", uses=("k",))
    def fragile(cell: Cell) -> MethodOutput:
        calls.append(cell.seed)
        if cell.seed == 1 and len(calls) == 2:
            raise KeyboardInterrupt
        return MethodOutput(predictions=[cell.dataset.labels[1]] * len(cell.eval_texts))

    try:
        kwargs: dict[str, Any] = dict(
            methods=["fragile"],
            seeds=3,
            out=tmp_path / "out",
            settings=BenchSettings(k=2),
            progress=False,
            plot=False,
        )
        with pytest.raises(KeyboardInterrupt):
            run_bench([str(make_set(tmp_path))], **kwargs)
        folder = tmp_path / "out" / "cells" / "news"
        assert (folder / "seed0" / "fragile.json").exists()
        assert (folder / "seed1" / "fragile.partial.json").exists()  # time spent before the interruption
        res = run_bench([str(make_set(tmp_path / "again"))], **kwargs)
        assert calls == [0, 1, 1, 2]
        assert [c["seed"] for c in res["cells"]] == [0, 1, 2]
        assert "resumed after an interruption" in res["cells"][1]["notes"][0] and not res["cells"][0]["notes"]
        assert not (folder / "seed1" / "fragile.partial.json").exists()
    finally:
        METHODS.pop("fragile", None)


def test_changed_settings_do_not_mix_with_old_cells(tmp_path: Path) -> None:
    data, out = [str(make_set(tmp_path))], tmp_path / "out"
    run_bench(
        data,
        methods=["few-shot-tfidf"],
        seeds=1,
        out=out,
        settings=BenchSettings(k=2),
        progress=False,
        plot=False,
    )
    with pytest.raises(ConfigError, match="other data or settings"):
        run_bench(
            data,
            methods=["few-shot-tfidf"],
            seeds=1,
            out=out,
            settings=BenchSettings(k=3),
            progress=False,
            plot=False,
        )


def test_failed_cell_is_reported_not_saved(tmp_path: Path) -> None:
    @register_method("flaky", uses=("k",))
    def flaky(cell: Cell) -> MethodOutput:
        raise LLMError("backend went away")

    try:
        res = run_bench(
            [str(make_set(tmp_path))],
            methods=["flaky", "few-shot-tfidf"],
            seeds=1,
            out=tmp_path / "out",
            settings=BenchSettings(k=2),
            progress=False,
            plot=False,
        )
    finally:
        METHODS.pop("flaky", None)
    assert [c["method"] for c in res["cells"]] == ["few-shot-tfidf"]
    assert res["failures"][0]["error"] == "LLMError: backend went away"
    assert not (tmp_path / "out" / "cells" / "news" / "seed0" / "flaky.json").exists()
    assert "flaky: LLMError: backend went away" in (tmp_path / "out" / "results.md").read_text()


def _bench_outputs(tmp_path: Path, *, plot: bool) -> Path:
    out = tmp_path / "out"
    run_bench(
        [str(make_set(tmp_path))],
        methods=["zero-shot-sim", "zero-shot-llm", "few-shot-tfidf"],
        seeds=2,
        out=out,
        settings=BenchSettings(k=2, llm_sample=5),
        llm=keyword_llm(),
        encoder=BagOfWords(),
        command="tutorloop bench --data news",
        progress=False,
        plot=plot,
    )
    return out


def test_outputs_json_and_markdown(tmp_path: Path) -> None:
    out = _bench_outputs(tmp_path, plot=False)
    results = json.loads((out / "results.json").read_text())
    meta = results["meta"]
    assert meta["command"] == "tutorloop bench --data news"
    assert meta["date"].startswith("20") and meta["machine"]["cpus"]
    assert meta["versions"]["tutorloop"] and meta["versions"]["scikit-learn"]
    assert meta["llm"] == {"backend": "fake", "model": "fake"}
    rows = {r["method"]: r for r in results["summary"]}
    assert set(rows) == {"zero-shot-sim", "zero-shot-llm", "few-shot-tfidf"}
    assert rows["zero-shot-sim"]["seeds"] == 2 and rows["zero-shot-sim"]["acc_on_llm_sample"] == 1.0
    md = (out / "results.md").read_text()
    assert "| news | zero-shot-sim | 2 | 100.0 ± 0.0 |" in md
    assert "sample of 5 of 36 texts" in md and "the zero-shot LLM's throughput" in md
    assert not (out / "accuracy_vs_tokens.png").exists()


def test_plot_is_a_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="the plot needs the [report] extra")
    out = _bench_outputs(tmp_path, plot=True)
    assert (out / "accuracy_vs_tokens.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_single_pass_takes_the_full_loops_token_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    configs: list[Any] = []

    def fake_loop(cell: Cell, config: Any) -> tuple[None, MethodOutput]:
        configs.append(config)
        preds = [cell.dataset.labels[0]] * len(cell.eval_texts)
        tokens = 5000 if config.max_rounds else 4800
        history = [{"round": 0, "tokens": 4000}, {"round": 1, "tokens": 1000}]
        extra = {"n_train": 60, "history": history}
        return None, MethodOutput(predictions=preds, llm_tokens=tokens, extra=extra)

    monkeypatch.setattr(baselines, "_run_loop", fake_loop)
    res = run_bench(
        [str(make_set(tmp_path))],
        methods=["single-pass", "tutorloop"],
        seeds=1,
        out=tmp_path / "out",
        settings=BenchSettings(k=2, rounds=2),
        llm=keyword_llm(),
        progress=False,
        plot=False,
    )
    full, single = configs
    assert full.max_rounds == 2 and full.token_budget is None and full.seed == 0
    assert single.max_rounds == 0 and single.token_budget == 5000
    # round 0 asked for the default 24 per label (3 labels) and spent 4,000 of the loop's 5,000 tokens:
    # single-pass asks for 24 × 5000 / 4000 = 30 (more than the loop's final 60 examples / 3 labels)
    assert single.examples_per_label == 30
    assert [c["method"] for c in res["cells"]] == ["tutorloop", "single-pass"]
    assert "token_budget = the full loop's 5,000 tokens" in res["cells"][1]["notes"][0]


def test_tutorloop_and_single_pass_with_the_real_loop(tmp_path: Path) -> None:
    llm, _ = fake_llm(LABELS, keywords={lab: tuple(words) for lab, words in WORDS.items()})
    settings = BenchSettings(
        k=2, classifier="tfidf", rounds=1, examples_per_label=8, loop_params={"val_per_label": 4}
    )
    res = run_bench(
        [str(make_set(tmp_path))],
        methods=["tutorloop", "single-pass"],
        seeds=1,
        out=tmp_path / "o",
        settings=settings,
        llm=llm,
        progress=False,
        plot=False,
    )
    assert not res["failures"], res["failures"]
    full, single = res["cells"]
    assert full["method"] == "tutorloop" and full["llm_tokens"] > 0 and full["n_eval"] == 36
    assert full["accuracy"] >= 0.9  # keyword texts teach TF-IDF this toy task
    assert full["extra"]["history"][0]["round"] == 0 and full["extra"]["n_train"] >= 2 * 8
    assert full["extra"]["history"][0]["val_macro_f1"] == 1.0
    assert single["extra"]["token_budget"] == full["llm_tokens"]
    assert single["extra"]["config"]["max_rounds"] == 0 and single["extra"]["config"]["token_budget"] > 0
    assert "token_budget = the full loop's" in single["notes"][0]
    assert single["llm_tokens"] <= full["llm_tokens"] * 1.1
    assert (tmp_path / "o" / "runs" / "news" / "seed0" / "tutorloop" / "model").is_dir()
    # the loop never saw a test text
    lines = (tmp_path / "news" / "test.jsonl").read_text().splitlines()
    test_texts = {json.loads(line)["text"] for line in lines}
    prompts = " ".join(m.content for r in llm.requests for m in r.messages)
    assert not any(t in prompts for t in test_texts)


def test_progress_in_a_log_is_a_line_per_cell_and_loop_cells_print_their_phases(
    tmp_path: Path, recorder: list[Cell], capsys: pytest.CaptureFixture[str]
) -> None:
    """Captured stderr is not a terminal: each cell gets a start line and an end line with its result,
    a cell already done says so, and cells are told to print their own phase lines."""
    data, out = [str(make_set(tmp_path))], tmp_path / "out"
    run_bench(data, methods=["recorder"], seeds=1, out=out, settings=BenchSettings(k=2), plot=False)
    first = capsys.readouterr().err.splitlines()
    assert first[0] == "bench 1/1: news · seed 0 · recorder ..."
    assert first[1].startswith("bench 1/1: news · seed 0 · recorder: macro-F1 ") and first[1].endswith(" s")
    assert recorder[0].progress is True
    run_bench(data, methods=["recorder"], seeds=2, out=out, settings=BenchSettings(k=2), plot=False)
    again = capsys.readouterr().err.splitlines()
    assert again[0] == "bench 1/2: news · seed 0 · recorder: already done"
    assert again[1] == "bench 2/2: news · seed 1 · recorder ..."
    run_bench(
        data, methods=["recorder"], seeds=3, out=out, settings=BenchSettings(k=2), progress=False, plot=False
    )
    assert capsys.readouterr().err == "" and recorder[-1].progress is False


def test_a_second_bench_on_the_same_out_is_refused_at_once(tmp_path: Path, recorder: list[Cell]) -> None:
    """Two benches on one --out would both compute the same cells: the second stops before any cell,
    and the folder is free again once the first is done (here: a second open file description conflicts
    as a second process would)."""
    from tutorloop.data.lock import RunLock

    data, out = [str(make_set(tmp_path))], tmp_path / "out"
    out.mkdir()
    held = RunLock(out)
    try:
        with pytest.raises(ConfigError, match="in use by another tutorloop process"):
            run_bench(
                data, methods=["recorder"], seeds=1, out=out, settings=BenchSettings(k=2), progress=False
            )
        assert recorder == []
    finally:
        held.release()
    run_bench(
        data, methods=["recorder"], seeds=1, out=out, settings=BenchSettings(k=2), progress=False, plot=False
    )
    assert len(recorder) == 1
    run_bench(
        data, methods=["recorder"], seeds=1, out=out, settings=BenchSettings(k=2), progress=False, plot=False
    )


def test_a_chosen_encoder_reaches_every_method_that_embeds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tutorloop.classifiers import encoder as encoder_module

    enc, asked = BagOfWords(), []
    monkeypatch.setattr(encoder_module, "get_encoder", lambda name=None: asked.append(name) or enc)
    data, out = [str(make_set(tmp_path))], tmp_path / "out"
    settings = BenchSettings(k=2, encoder="my-encoder")

    def bench(method: str, settings: BenchSettings) -> dict[str, Any]:
        return run_bench(
            data, methods=[method], seeds=1, out=out, settings=settings, progress=False, plot=False
        )

    res = bench("zero-shot-sim", settings)
    assert not res["failures"] and asked == ["my-encoder"]
    from tutorloop.bench.datasets import kshot_split, load_dataset

    ds = load_dataset(data[0])
    cell = Cell(ds, 0, "tutorloop", kshot_split(ds, 2, 0), TaskSpec.default("news"), settings, tmp_path)
    assert baselines._loop_config(cell).encoder == "my-encoder"
    assert settings.classifier_params("tfidf") == {}
    # the encoder is part of the fingerprint of the methods that embed, and only of those
    with pytest.raises(ConfigError, match="other data or settings"):
        bench("zero-shot-sim", BenchSettings(k=2))
    bench("few-shot-tfidf", settings)
    bench("few-shot-tfidf", BenchSettings(k=2))  # same cell, not stale: tfidf does not embed


def distill_cell(root: Path, labels: list[str], pool: list[str], budget: int) -> tuple[Cell, FakeLLM]:
    """A ``pool-random-distill`` cell on a set whose texts name their label, after a ``tutorloop-pool``
    that spent ``budget`` tokens; the LLM is the loop tests' curator (right wherever it is offered the
    text's label)."""
    from test_loop_support import fake_llm

    from tutorloop.bench.datasets import kshot_split, load_dataset

    folder = root / "set"
    folder.mkdir()
    (folder / "labels.json").write_text(json.dumps(labels))
    rows = [{"text": f"a {lab} film {i}", "label": lab} for i in range(20) for lab in labels]
    (folder / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "unlabelled.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in pool))
    ds = load_dataset(str(folder))
    llm, _ = fake_llm(labels)
    cell = Cell(
        ds,
        0,
        "pool-random-distill",
        kshot_split(ds, 2, 0),
        TaskSpec.default("set"),
        BenchSettings(k=2, classifier="tfidf"),
        root,
        done={"tutorloop-pool": {"status": "ok", "llm_tokens": budget}},
        llm_factory=lambda: llm,
        encoder_factory=BagOfWords,
        progress=True,
    )
    return cell, llm


def test_random_distillation_spends_the_loops_tokens_and_shows_progress_in_a_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """pool-random-distill labels random pool texts until tutorloop-pool's tokens are spent, trains the
    student on them, and (writing to a log, as under nohup) prints a progress line as it goes."""
    from tutorloop.bench.pool_methods import pool_random_distill

    labels = ["wonderful", "awful"]
    pool = [f"{labels[i % 2]} scene number {i}" for i in range(400)]
    cell, _ = distill_cell(tmp_path, labels, pool, 2500)
    out = pool_random_distill(cell)
    per_call = out.llm_tokens / out.llm_calls
    assert 2500 <= out.llm_tokens < 2500 + 2 * per_call  # stops once the loop's tokens are spent
    assert out.extra["n_train"] < len(pool)
    right = [p == t.split()[1] for p, t in zip(out.predictions, cell.eval_texts, strict=True)]
    assert all(right)  # the student learnt the teacher's (keyword) labels
    err = capsys.readouterr().err
    assert "Teacher labelling random pool texts (k tokens): 0/3 ..." in err
    assert "Teacher labelling random pool texts (k tokens): 3/3 done" in err


def test_random_distillation_offers_the_teacher_the_loops_label_shortlists(tmp_path: Path) -> None:
    """With more than 20 labels the teacher chooses among the 8 labels nearest each batch, as in the loop;
    each text's own label is among them, so the student still learns every label."""
    from test_loop_support import json_after, user_text

    from tutorloop.bench.pool_methods import pool_random_distill

    labels = [f"{c}zone" for c in "abcdefghijklmnopqrstuvwxy"]  # 25, none inside another
    pool = [f"{labels[i % 25]} thing {i}" for i in range(600)]
    cell, llm = distill_cell(tmp_path, labels, pool, 9000)
    out = pool_random_distill(cell)
    assert llm.requests
    for req in llm.requests:
        offered = req.json_schema["properties"]["labels"]["items"]["enum"]
        texts = json_after(user_text(req), "strings):")  # the JSON list of the batch's texts
        assert len(offered) == 8 and all(t.split()[0] in offered for t in texts), (offered, texts)
    assert out.extra["labels_seen"] == 25
    assert all(p == t.split()[1] for p, t in zip(out.predictions, cell.eval_texts, strict=True))
