"""No secret is written anywhere: a whole ``tutorloop run`` on the ``openai`` backend with a known fake key.

An OpenAI-compatible stub server on 127.0.0.1 answers from the keyword curator of ``test_loop_support``
and records the ``Authorization`` headers it gets. The CLI runs in subprocesses (``python -m
tutorloop``) with the key in ``OPENAI_API_KEY`` and ``TUTORLOOP_HOME`` in a temporary folder (the
response cache lives there): a run with a refinement round, its report and saved model; a resume
(of the finished run); an export; and ``llm check`` and a run whose ``--base-url`` carries the key
as ``user:KEY@``. Then every byte under the run folders and ``$TUTORLOOP_HOME``, and every subprocess's
stdout and stderr, is searched for the key: raw, base64 (also of ``user:KEY``, as HTTP basic auth sends
it), URL-quoted and hex.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from curator_server import curator_server

KEY = "sk-test-DO-NOT-LEAK-7Q2xV9pL4mN8rT1w"
SRC = Path(__file__).resolve().parents[2] / "src"


def secret_forms(secret: str) -> dict[str, bytes]:
    """The ways a secret could be written down: raw, base64 (alone and as basic auth), quoted, hex."""
    raw = secret.encode()
    forms = {"raw": raw, "url-quoted": quote(secret, safe="").encode(), "hex": raw.hex().encode()}
    for name, value in (("", raw), ("basic ", b"user:" + raw), ("basic-token ", raw + b":")):
        forms[f"{name}base64"] = base64.b64encode(value).rstrip(b"=")
        forms[f"{name}base64url"] = base64.urlsafe_b64encode(value).rstrip(b"=")
    unique: dict[str, bytes] = {}
    for form, needle in forms.items():  # e.g. the quoted form of a key with only safe characters is raw
        if needle not in unique.values():
            unique[form] = needle
    return unique


def find_secret(blobs: dict[str, bytes], secret: str = KEY) -> list[str]:
    """``name: form`` for every blob holding the secret in any form (case-insensitive for hex)."""
    hits = []
    for name, data in blobs.items():
        for form, needle in secret_forms(secret).items():
            haystack = data.lower() if form == "hex" else data
            if needle in haystack:
                hits.append(f"{name}: {form}")
    return hits


def test_find_secret_finds_every_form() -> None:
    """The scanner itself: each form is found, and a near miss is not."""
    for form, needle in secret_forms(KEY).items():
        assert f"f: {form}" in find_secret({"f": b"xx" + needle + b"yy"})
    assert find_secret({"f": b"Authorization: Bearer " + KEY.encode()}) == ["f: raw"]
    assert find_secret({"f": KEY[:-1].encode()}) == []


@pytest.fixture
def stub() -> Iterator[tuple[str, list[str]]]:
    """An OpenAI-compatible server on loopback whose replies come from the keyword curator."""
    with curator_server(["positive", "negative"]) as served:
        yield served.url, served.auth


def test_a_whole_run_writes_the_api_key_nowhere(tmp_path: Path, stub: tuple[str, list[str]]) -> None:
    url, auth = stub
    home = tmp_path / "home"
    env = {
        **os.environ,
        "OPENAI_API_KEY": KEY,
        "TUTORLOOP_HOME": str(home),
        "PYTHONPATH": str(SRC),
        "NO_COLOR": "1",
    }
    task = tmp_path / "task.yaml"
    task.write_text("task: Classify reviews\nlabels: [positive, negative]\n")
    run_dir, url_run = tmp_path / "run", tmp_path / "run-url-key"
    loop = ["--classifier", "tfidf", "--examples-per-label", "6", "--val-per-label", "3"]
    credentialed = url.replace("http://", f"http://user:{KEY}@")
    commands = {
        "run": ["run", str(task), "--out", str(run_dir), "--llm", "openai:stub", "--base-url", url]
        + [*loop, "--rounds", "1", "--price", "0.15,0.6"],
        "resume": ["run", "--resume", str(run_dir)],
        "export": ["export", str(run_dir), "--out", str(run_dir / "export.jsonl")],
        "llm-check-url-key": ["llm", "check", "--llm", "openai:stub", "--base-url", credentialed, "--json"],
        "run-url-key": ["run", str(task), "--out", str(url_run), "--llm", "openai:stub"]
        + ["--base-url", credentialed, *loop, "--rounds", "0", "--no-cache"],
    }
    blobs: dict[str, bytes] = {}
    for name, args in commands.items():
        proc = subprocess.run(
            [sys.executable, "-m", "tutorloop", *args], env=env, capture_output=True, timeout=600
        )
        blobs[f"{name} stdout"], blobs[f"{name} stderr"] = proc.stdout, proc.stderr
        assert proc.returncode == 0, (name, proc.stderr.decode()[-2000:])

    # the key was in play on every request: as a bearer token, or as basic auth from user:KEY@ in the URL
    basic = "Basic " + base64.b64encode(f"user:{KEY}".encode()).decode()
    assert set(auth) == {f"Bearer {KEY}", basic}, set(auth)
    # and the run did what a run does, so there was something to leak into
    for path in ("model/manifest.json", "model/model.skops", "ledger.jsonl", "store.sqlite", "config.json"):
        assert (run_dir / path).is_file(), path
    assert (run_dir / "report.md").is_file() or (run_dir / "report.html").is_file()
    assert (home / "llm_cache.sqlite").is_file()
    rows = [json.loads(line) for line in (run_dir / "ledger.jsonl").read_text().splitlines()]
    assert rows and all(r["backend"] == "openai" for r in rows), rows[:1]
    assert json.loads((url_run / "config.json").read_text())["base_url"] is None  # credentials: not saved
    assert json.loads(blobs["llm-check-url-key stdout"])["base_url"].startswith("http://***@127.0.0.1")

    files = [p for root in (run_dir, url_run, home) for p in root.rglob("*") if p.is_file()]
    assert len(files) > 10
    blobs |= {str(p.relative_to(tmp_path)): p.read_bytes() for p in files}
    assert find_secret(blobs) == []
