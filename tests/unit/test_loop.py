"""The Curate-Train-Refine loop end to end with FakeLLM and the TF-IDF classifier."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest
from test_loop_support import count_purposes, fake_llm

from tutorloop.data.store import Store
from tutorloop.errors import BudgetError, ConfigError, DataError
from tutorloop.loop import LabelSpec, LoopConfig, Task, run

LABELS = ["positive", "negative"]
SMALL = dict(examples_per_label=8, val_per_label=4, max_rounds=2, patience=2)


def cfg(**kw: object) -> LoopConfig:
    return LoopConfig(**(SMALL | kw))


def sentiment() -> Task:
    return Task(
        "Classify movie reviews by sentiment",
        [LabelSpec("positive", "The reviewer liked it."), LabelSpec("negative", "The reviewer disliked it.")],
    )


def three_way(tmp_path: Path) -> Task:
    dev = tmp_path / "dev.jsonl"
    rows = [
        ("The plot was meh, the cast meh too.", "neutral"),
        ("Honestly meh, a meh evening.", "neutral"),
        ("Pretty meh film overall.", "neutral"),
        ("meh music and meh pace.", "neutral"),
        ("I loved it, wonderful.", "positive"),
        ("Brilliant and wonderful cast.", "positive"),
        ("Awful, I hated it.", "negative"),
        ("Boring and awful script.", "negative"),
    ]
    dev.write_text("".join(json.dumps({"text": t, "label": lab}) + "\n" for t, lab in rows))
    return Task.from_dict(
        {"task": "Classify movie reviews", "labels": ["positive", "negative", "neutral"], "dev": str(dev)}
    )


def test_full_run_produces_artifacts_and_predictor(tmp_path: Path) -> None:
    llm, _ = fake_llm(LABELS)
    result = run(sentiment(), llm=llm, classifier="tfidf", config=cfg(), out=tmp_path / "r", progress=False)
    d = result.run_dir
    for name in (
        "task.yaml",
        "config.json",
        "store.sqlite",
        "ledger.jsonl",
        "rounds.jsonl",
        "report.md",
        "report.html",
    ):
        assert (d / name).is_file(), name
    assert (d / "model" / "manifest.json").is_file()
    assert list(result.predictor.predict(["I loved it, a wonderful film", "awful, I hated it"])) == LABELS
    h0 = result.history[0]
    assert h0["round"] == 0 and h0["n_train"] >= 12 and h0["macro_f1"] == 1.0
    assert set(h0["per_class"]) == set(LABELS) and h0["tokens"] > 0
    assert result.ledger["calls"] == len(llm.ledger.entries) > 0
    assert "## Rounds" in (d / "report.md").read_text()  # plots: tests/unit/test_report.py
    # the saved settings are resolved: a resume keeps the batch sizes its job keys were made with
    saved = json.loads((d / "config.json").read_text())["config"]
    assert saved["verify_batch"] == 1 and saved["examples_per_label"] is not None


def test_curation_crosses_attributes_and_keeps_validation_topics_disjoint(tmp_path: Path) -> None:
    llm, curator = fake_llm(LABELS)
    run(
        sentiment(),
        llm=llm,
        classifier="tfidf",
        config=cfg(examples_per_call=2),
        out=tmp_path / "r",
        progress=False,
    )
    store = Store(tmp_path / "r" / "store.sqlite")
    train, val = store.examples(split="train"), store.examples(split="val")
    for lab in LABELS:
        t_topics = {e["attributes"]["topic"] for e in train if e["label"] == lab}
        v_topics = {e["attributes"]["topic"] for e in val if e["label"] == lab}
        assert len(t_topics) >= 2 and v_topics and not t_topics & v_topics
        assert len({e["attributes"]["style"] for e in train if e["label"] == lab}) >= 3
    gen = [r for r in curator.seen if (r.json_schema or {}).get("title", "").startswith("Texts")]
    assert all("Write 2 different texts" in r.messages[-1].content for r in gen)
    # the fixed part (instructions, label list) comes first and is identical across generation calls
    assert len({r.messages[0].content for r in gen}) == 1
    assert {e["prompt_id"].split("@")[0] for e in train} == {"generate"}
    assert all(re.fullmatch(r"generate@[0-9a-f]{10}", e["prompt_id"]) for e in train)


def test_verification_drops_disputed_examples_and_records_verdict(tmp_path: Path) -> None:
    llm, _ = fake_llm(LABELS, mislabel_every=3)
    run(
        sentiment(), llm=llm, classifier="tfidf", config=cfg(max_rounds=0), out=tmp_path / "r", progress=False
    )
    store = Store(tmp_path / "r" / "store.sqlite")
    dropped = [e for e in store.examples(status="dropped") if (e["reason"] or "").startswith("blind")]
    assert dropped and all(e["verdict"] != e["label"] for e in dropped)
    active = store.examples(status="active", origin="curated")
    assert active and all(e["verdict"] == e["label"] for e in active)


def test_no_verification_keeps_everything(tmp_path: Path) -> None:
    llm, _ = fake_llm(LABELS, mislabel_every=3)
    run(
        sentiment(),
        llm=llm,
        classifier="tfidf",
        config=cfg(max_rounds=0, verify=False),
        out=tmp_path / "r",
        progress=False,
    )
    store = Store(tmp_path / "r" / "store.sqlite")
    assert not store.examples(status="dropped") and "verify" not in count_purposes(llm)


def test_duplicates_are_removed(tmp_path: Path) -> None:
    llm, _ = fake_llm(LABELS, dup_every=2)
    run(
        sentiment(), llm=llm, classifier="tfidf", config=cfg(max_rounds=0), out=tmp_path / "r", progress=False
    )
    store = Store(tmp_path / "r" / "store.sqlite")
    texts = [e["text"].lower().strip("!. ") for e in store.examples(status=None)]
    assert len(texts) == len(set(texts))
    jobs = [store.job_result(k) for k in [f"gen:train:0:positive:{i}" for i in range(2)]]
    assert any(j["kept"] < j["raw"] for j in jobs)


def test_refinement_improves_and_keeps_best_round(tmp_path: Path) -> None:
    llm, _ = fake_llm(["positive", "negative", "neutral"], guided_keyword={"neutral": "meh"})
    result = run(
        three_way(tmp_path),
        llm=llm,
        classifier="tfidf",
        config=LoopConfig(examples_per_label=6, max_rounds=3, patience=1),
        out=tmp_path / "r",
        progress=False,
    )
    f1 = [h["macro_f1"] for h in result.history]
    assert f1[0] < 0.9 and max(f1) == 1.0
    # a perfect round is best; later perfect rounds win only on a clearly lower validation log-loss
    assert result.best_round >= f1.index(1.0) >= 1 and f1[result.best_round] == 1.0
    best = result.history[result.best_round]
    later = [h for h in result.history if h["round"] > result.best_round]
    assert all(h["log_loss"] >= 0.95 * best["log_loss"] for h in later)
    # the report names the same best round as the loop kept
    assert f"Best round: {result.best_round} " in (result.run_dir / "report.md").read_text()
    store = Store(result.run_dir / "store.sqlite")
    targeted = store.examples(origin="targeted")
    assert targeted and any(e["attributes"].get("action") in ("generate", "contrast") for e in targeted)
    actions = store.actions()
    assert actions and {a["decided_by"] for a in actions} == {"policy"}
    assert result.history[1]["decided_by"] == "policy" and result.history[1]["diagnosis"]
    assert result.predictor.predict(["meh, just meh"])[0] == "neutral"
    assert result.stopped.startswith(("patience", "max_rounds")), result.stopped


def test_patience_stops_and_best_round_model_is_returned(tmp_path: Path) -> None:
    # neutral guided texts use the wrong cue, so refinement never helps; patience=1 stops after one round
    llm, _ = fake_llm(["positive", "negative", "neutral"], guided_keyword={"neutral": "okay"})
    result = run(
        three_way(tmp_path),
        llm=llm,
        classifier="tfidf",
        config=LoopConfig(examples_per_label=6, max_rounds=5, patience=1),
        out=tmp_path / "r",
        progress=False,
    )
    assert len(result.history) == 2 and result.stopped.startswith("patience")
    assert result.best_round == 0
    # round 1 added examples, so its model differs from round 0's: the returned and the saved model are
    # round 0's (its training size), not the last round's
    n0, n1 = result.history[0]["n_train"], result.history[1]["n_train"]
    assert n1 > n0
    assert result.predictor.n_train_ == n0
    manifest = json.loads((result.run_dir / "model" / "manifest.json").read_text())
    assert manifest["training"]["n_examples"] == n0
    assert manifest["metrics"]["round"] == 0 and manifest["extra"]["round"] == 0


def test_tiny_token_budget_is_a_clear_budget_error_and_keeps_data(tmp_path: Path) -> None:
    llm, _ = fake_llm(LABELS)
    with pytest.raises(BudgetError, match="resume"):
        run(
            sentiment(),
            llm=llm,
            classifier="tfidf",
            config=cfg(token_budget=60),
            out=tmp_path / "r",
            progress=False,
        )
    store = Store(tmp_path / "r" / "store.sqlite")
    assert store.job_result("topics:positive") is not None  # what was paid for stays in the run folder


def test_budget_running_out_mid_curation_stops_gracefully(tmp_path: Path) -> None:
    llm, _ = fake_llm(LABELS)
    full = run(
        sentiment(),
        llm=llm,
        classifier="tfidf",
        config=cfg(max_rounds=0),
        out=tmp_path / "full",
        progress=False,
    )
    # a budget that ends right after the second training-generation call
    spent, budget, seen = 0, 0, 0
    for e in llm.ledger.entries:
        spent += e.prompt_tokens + e.completion_tokens
        seen += e.purpose == "generate:curated"
        if seen == 2:
            budget = spent
            break
    llm2, _ = fake_llm(LABELS)
    result = run(
        sentiment(),
        llm=llm2,
        classifier="tfidf",
        config=cfg(token_budget=budget),
        out=tmp_path / "r",
        progress=False,
    )
    assert any("Curation stopped early" in w for w in result.warnings)
    assert result.history[0]["n_train"] < full.history[0]["n_train"]
    assert len(result.history) == 1 and "budget" in result.stopped


def test_resume_after_crash_pays_nothing_again(tmp_path: Path) -> None:
    task = Task.from_dict(
        {
            "task": "Classify movie reviews",
            "labels": ["positive", "negative", "neutral"],
            "dev": str(three_way(tmp_path).dev.path),
        }
    )
    cfg = LoopConfig(examples_per_label=6, max_rounds=2, patience=2)
    ref_llm, _ = fake_llm(["positive", "negative", "neutral"], guided_keyword={"neutral": "meh"})
    reference = run(task, llm=ref_llm, classifier="tfidf", config=cfg, out=tmp_path / "ref", progress=False)
    total = len(ref_llm.requests)
    crash_at = total - 4  # inside the refinement rounds
    llm1, _ = fake_llm(
        ["positive", "negative", "neutral"], guided_keyword={"neutral": "meh"}, fail_after=crash_at
    )
    with pytest.raises(RuntimeError, match="simulated crash"):
        run(task, llm=llm1, classifier="tfidf", config=cfg, out=tmp_path / "r", progress=False)
    # resume with a fresh fake and no response cache: finished jobs come from the store, not the LLM
    llm2, _ = fake_llm(["positive", "negative", "neutral"], guided_keyword={"neutral": "meh"})
    resumed = run(None, llm=llm2, out=tmp_path / "r", resume=True, progress=False)
    answered = crash_at
    assert len(llm2.requests) <= total - answered
    assert [h["macro_f1"] for h in resumed.history] == [h["macro_f1"] for h in reference.history]
    assert [h["n_train"] for h in resumed.history] == [h["n_train"] for h in reference.history]
    # a round's tokens are counted from the previous round's record, so the crashed round keeps what it
    # spent before the crash
    assert [h["tokens"] for h in resumed.history] == [h["tokens"] for h in reference.history]


def _stored_elapsed(run_dir: Path) -> float:
    """The run's elapsed seconds as committed to its store (read as another process would)."""
    with sqlite3.connect(f"file:{run_dir / 'store.sqlite'}?mode=ro", uri=True) as db:
        (value,) = db.execute("SELECT value FROM meta WHERE key = 'elapsed_s'").fetchone()
    return float(json.loads(value))


class _FakeClock:
    """``time`` for :mod:`tutorloop.loop.context`: a monotonic clock that only the fake LLM moves."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now


def test_time_spent_before_a_crash_counts_against_the_resumed_runs_time_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tutorloop.llm import FakeLLM
    from tutorloop.loop import context

    clock = _FakeClock()
    monkeypatch.setattr(context, "time", clock)
    labels = ["positive", "negative", "neutral"]
    task = three_way(tmp_path)
    config = LoopConfig(examples_per_label=6, max_rounds=2, patience=2, time_budget_s=1800)
    ref_llm, _ = fake_llm(labels, guided_keyword={"neutral": "meh"})
    reference = run(
        task, llm=ref_llm, classifier="tfidf", config=config, out=tmp_path / "ref", progress=False
    )
    assert reference.stopped.startswith("max_rounds")  # unbroken, the budget is never the limit
    crash_at = len(ref_llm.requests) - 4  # inside the refinement rounds
    _, curator = fake_llm(labels, guided_keyword={"neutral": "meh"})
    calls, stored_at_crash = 0, []

    def one_second_each_then_hang(req):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        clock.now += 1.0
        if calls > crash_at:  # the call hangs for an hour, then the process dies
            stored_at_crash.append(_stored_elapsed(tmp_path / "r"))
            clock.now += 3600.0
            raise RuntimeError("simulated crash")
        return curator(req)

    clock.now = 0.0
    with pytest.raises(RuntimeError, match="simulated crash"):
        run(
            task,
            llm=FakeLLM(responder=one_second_each_then_hang),
            classifier="tfidf",
            config=config,
            out=tmp_path / "r",
            progress=False,
        )
    # the time is committed with the work: a SIGKILL in the hung call would lose only the time since the
    # last stored job (the hour), not the minute before it (the calls not yet stored: a few at most)
    assert crash_at - 4 <= stored_at_crash[0] <= crash_at
    clock.now = 1e6  # the resume is a new process: its clock has nothing to do with the last one's
    llm2, _ = fake_llm(labels, guided_keyword={"neutral": "meh"})
    resumed = run(None, llm=llm2, out=tmp_path / "r", resume=True, progress=False)
    assert resumed.stopped == "time budget of 1800 s spent"
    assert llm2.requests == []  # the budget was spent before the resume: not one call more
    assert Store(tmp_path / "r" / "store.sqlite").get_meta("elapsed_s") >= 3600 + crash_at


def test_resumed_finished_run_makes_no_llm_request(tmp_path: Path) -> None:
    llm, _ = fake_llm(LABELS, cache_path=tmp_path / "cache.sqlite")
    first = run(sentiment(), llm=llm, classifier="tfidf", config=cfg(), out=tmp_path / "r", progress=False)
    llm2, _ = fake_llm(LABELS, cache_path=tmp_path / "cache.sqlite")
    again = run(None, llm=llm2, out=tmp_path / "r", resume=True, progress=False)
    assert llm2.requests == [] and again.history == first.history
    # a repeated run in a new folder is free thanks to the response cache
    llm3, _ = fake_llm(LABELS, cache_path=tmp_path / "cache.sqlite")
    repeat = run(sentiment(), llm=llm3, classifier="tfidf", config=cfg(), out=tmp_path / "r2", progress=False)
    assert llm3.requests == [] and repeat.ledger["total_tokens"] == 0
    assert [h["macro_f1"] for h in repeat.history] == [h["macro_f1"] for h in first.history]


def test_refused_label_is_reported_and_the_rest_kept(tmp_path: Path) -> None:
    task = Task.from_labels("Classify movie reviews", ["positive", "negative", "neutral"])
    llm, _ = fake_llm(["positive", "negative", "neutral"], refuse=("neutral",))
    result = run(
        task, llm=llm, classifier="tfidf", config=cfg(max_rounds=0), out=tmp_path / "r", progress=False
    )
    assert any("'neutral' yielded no usable examples" in w for w in result.warnings)
    assert set(result.predictor.classes_) == {"positive", "negative"}


def test_every_label_refused_is_a_data_error(tmp_path: Path) -> None:
    llm, _ = fake_llm(LABELS, refuse=tuple(LABELS))
    with pytest.raises(DataError, match="Fewer than two labels"):
        run(sentiment(), llm=llm, classifier="tfidf", config=cfg(), out=tmp_path / "r", progress=False)


def test_existing_run_folder_needs_resume(tmp_path: Path) -> None:
    llm, _ = fake_llm(LABELS)
    run(
        sentiment(), llm=llm, classifier="tfidf", config=cfg(max_rounds=0), out=tmp_path / "r", progress=False
    )
    from tutorloop.errors import ConfigError

    with pytest.raises(ConfigError, match="already holds a run"):
        run(sentiment(), llm=llm, classifier="tfidf", out=tmp_path / "r", progress=False)
    with pytest.raises(ConfigError, match="nothing to resume"):
        run(None, llm=llm, out=tmp_path / "nothing", resume=True, progress=False)


def test_a_second_process_on_a_run_folder_is_refused_until_the_first_lets_go(tmp_path: Path) -> None:
    import os

    from tutorloop.loop.setup import open_run

    first = open_run(tmp_path / "r", sentiment(), config=cfg())
    with pytest.raises(ConfigError, match=rf"in use by another tutorloop process \(pid {os.getpid()}\)"):
        open_run(tmp_path / "r", resume=True)  # a new open file description conflicts like a process
    first.release()
    again = open_run(tmp_path / "r", resume=True)
    assert again.resumed
    again.release()
    # a finished run() lets go of its folder: resuming it in the same process works
    llm, _ = fake_llm(LABELS)
    run(sentiment(), llm=llm, classifier="tfidf", config=cfg(), out=tmp_path / "s", progress=False)
    run(out=tmp_path / "s", resume=True, llm=llm, progress=False)


def test_without_real_validation_texts_the_default_is_one_pass_with_refinements_examples(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    llm, _ = fake_llm(["positive", "negative", "neutral"])
    task = Task.from_labels("Classify movie reviews", ["positive", "negative", "neutral"])
    result = run(task, llm=llm, classifier="tfidf", config=LoopConfig(val_per_label=2), out=tmp_path / "a")
    assert [h["round"] for h in result.history] == [0]
    saved = json.loads((tmp_path / "a" / "config.json").read_text())["config"]
    assert saved["max_rounds"] == 0 and saved["examples_per_label"] == 24 + 16  # 3 rounds x 16 / 3 labels
    assert "single pass: 40 examples per label" in capsys.readouterr().err
    # a dev set is real validation: the rounds run (here the fake curator's dev set is perfect by round 1)
    llm, _ = fake_llm(["positive", "negative", "neutral"], guided_keyword={"neutral": "meh"})
    dev_run = run(three_way(tmp_path), llm=llm, classifier="tfidf", config=LoopConfig(), out=tmp_path / "b")
    saved = json.loads((tmp_path / "b" / "config.json").read_text())["config"]
    assert saved["max_rounds"] == 3 and saved["examples_per_label"] == 24
    assert len(dev_run.history) > 1
