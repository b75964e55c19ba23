"""One object per LLM task of the loop: its prompt template, reply schema, limits and reply parser.

A task builds :class:`~tutorloop.llm.base.StructuredJob` requests (``job``) and turns a validated reply,
or the :class:`~tutorloop.errors.LLMOutputError` that replaced it, into what the loop stores (``parse``).
The phases (generation, verification, the agent, ...) only decide *what* to ask and what to do with the
answer. :func:`run_jobs` runs a phase's jobs with the LLM's concurrency in flight, checking the budget as
it goes.

Changing a template, a schema or a limit changes the request, hence its cache key: cached replies of
earlier runs are then asked again.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel

from ..errors import LLMOutputError
from ..llm.base import StructuredJob
from ..prompts import (
    AgentPlan,
    DescriptionReply,
    Rendered,
    TopicsReply,
    as_data,
    judge_reply,
    labels_block,
    labels_reply,
    render,
    texts_reply,
)
from .context import Context
from .task import Task

T = TypeVar("T")

LENGTHS = ("one short sentence", "one or two sentences", "three or four sentences")
NOISE = "Noise: make some texts informal, with a typo or two."
_REFUSAL = re.compile(
    r"^\W*(i'?m sorry|sorry,? but|i can(?:no|')t|i cannot|i am unable|i'm unable|as an ai)", re.IGNORECASE
)
_NUMBERING = re.compile(r"^\s*(?:\d+[.)]|[-*•])\s+")


def labels_text(task: Task, shown: Sequence[str] | None = None) -> str:
    """The task's labels as the prompts list them (one ``- "name": description`` line each): all of them,
    or those in ``shown`` (a shortlist, see :mod:`~tutorloop.loop.label_space`), in the task's order."""
    wanted = None if shown is None else set(shown)
    return labels_block(
        [(lab.name, lab.description) for lab in task.labels if wanted is None or lab.name in wanted]
    )


class LLMTask:
    """Base of the loop's LLM tasks: a template name, a sampling temperature and a ``purpose`` (the
    ledger's name for the calls)."""

    template: ClassVar[str]
    temperature: ClassVar[float] = 0.0
    purpose: ClassVar[str]

    def render(self, task: Task, shown: Sequence[str] | None = None, **values: Any) -> Rendered:
        """The template filled with the task description, its labels (or those in ``shown``) and
        ``values``."""
        return render(self.template, task=task.description, labels=labels_text(task, shown), **values)


class TopicsTask(LLMTask):
    """Sub-topics for one label (``n`` asked, at most ``n`` kept, case-insensitively unique)."""

    template = "topics"
    temperature = 0.7
    purpose = "topics"

    def job(self, task: Task, label: str, n: int, shown: Sequence[str] | None = None) -> StructuredJob:
        messages = self.render(task, shown, n=n, label=label).messages
        return StructuredJob(
            messages, TopicsReply, temperature=self.temperature, max_tokens=24 * n + 40, purpose=self.purpose
        )

    @staticmethod
    def parse(reply: Any, n: int) -> list[str]:
        if isinstance(reply, LLMOutputError):
            return []
        seen, topics = set(), []
        for t in reply.topics:
            t = " ".join(t.split()).strip(" .-")[:80]
            if t and t.lower() not in seen:
                seen.add(t.lower())
                topics.append(t)
        return topics[:n]


class GenerateTask(LLMTask):
    """``n`` texts for one label under one attribute combination (topic, length, style, noise), with
    optional guidance and, when the user gave unlabelled texts, two of them as style samples."""

    template = "generate"

    def render_job(
        self, task: Task, unlabelled: Sequence[str], job: Any, shown: Sequence[str] | None = None
    ) -> Rendered:
        """The prompt of a :class:`~tutorloop.loop.generation.GenJob` (listing the labels in ``shown``, or
        all)."""
        a = job.attributes
        samples = ""
        if unlabelled:
            rng = random.Random(f"{job.key}:samples")
            picks = rng.sample(list(unlabelled), min(2, len(unlabelled)))
            samples = f"\nReal texts from this domain, for style only (JSON data): {as_data(picks)}"
        guidance = f"Guidance: {job.guidance}\n" if job.guidance else ""
        return self.render(
            task,
            shown,
            n=job.n,
            label=job.label,
            topic=a.get("topic", "any"),
            length=a.get("length", LENGTHS[1]),
            style=a.get("style", "natural"),
            noise=(NOISE + "\n") if a.get("noise") else "",
            guidance=guidance,
            samples=samples,
        )

    @staticmethod
    def job(rendered: Rendered, job: Any, temperature: float) -> StructuredJob:
        return StructuredJob(
            rendered.messages,
            texts_reply(job.n),
            temperature=temperature,
            max_tokens=min(2048, 90 * job.n + 60),
            sample_index=job.sample_index,
            purpose=f"generate:{job.origin}",
        )

    @staticmethod
    def parse(reply: Any, n: int, label_names: set[str]) -> tuple[list[str], int, str | None]:
        """``(texts, refused, error)``: cleaned texts (numbering, quotes and bare label names removed),
        how many were refusals, and the error text when the reply never validated."""
        if isinstance(reply, LLMOutputError):
            return [], 0, str(reply)[:300]
        texts, refused = [], 0
        for t in reply.texts[: max(n * 2, n + 2)]:
            t = _NUMBERING.sub("", t).strip().strip('"').strip()[:1000]
            if len(t) < 3 or t.lower().strip(" .!") in label_names:  # a bare label name teaches nothing
                continue
            if _REFUSAL.search(t):
                refused += 1
                continue
            texts.append(t)
        return texts, refused, None


class LabelTask(LLMTask):
    """Blind labelling: the LLM labels texts (quoted as JSON data) without any hint of the intended label.
    Used to verify new examples and to label a sample of the user's unlabelled texts."""

    template = "verify"

    def job(
        self, task: Task, texts: Sequence[str], purpose: str, candidates: Sequence[str] | None = None
    ) -> StructuredJob:
        """``candidates``: the labels offered (a shortlist, kept in the task's order); default all."""
        names = tuple(task.label_names)
        if candidates is not None:
            wanted = set(candidates)
            names = tuple(n for n in names if n in wanted)
            if len(names) < 2:
                raise ValueError(f"A shortlist needs two or more of the task's labels: {list(candidates)}")
        rendered = self.render(task, candidates, n=len(texts), texts=as_data(list(texts)))
        return StructuredJob(
            rendered.messages,
            labels_reply(names, len(texts)),
            temperature=self.temperature,
            max_tokens=16 * len(texts) + 30,
            purpose=purpose,
        )


class JudgeTask(LLMTask):
    """Non-blind check: does each ``(text, label)`` pair fit? One boolean per pair."""

    template = "judge"
    purpose = "judge"

    def job(
        self, task: Task, pairs: Sequence[tuple[str, str]], shown: Sequence[str] | None = None
    ) -> StructuredJob:
        rendered = self.render(task, shown, n=len(pairs), pairs=as_data([list(p) for p in pairs]))
        return StructuredJob(
            rendered.messages,
            judge_reply(len(pairs)),
            temperature=self.temperature,
            max_tokens=8 * len(pairs) + 20,
            purpose=self.purpose,
        )


class AgentTask(LLMTask):
    """The agent's plan for one round: a diagnosis and tool calls, from a compact report (JSON data)."""

    template = "agent"
    purpose = "agent"

    def job(
        self, task: Task, round_idx: int, shown: Sequence[str] | None = None, **values: Any
    ) -> StructuredJob:
        rendered = self.render(task, shown, round=round_idx, **values)
        return StructuredJob(
            rendered.messages,
            AgentPlan,
            temperature=self.temperature,
            max_tokens=1200,
            sample_index=round_idx,
            purpose=self.purpose,
        )


class DescribeTask(LLMTask):
    """A one-line description of one label (for ``tutorloop init``)."""

    template = "describe"
    purpose = "describe"

    def job(self, task: Task, label: str, shown: Sequence[str] | None = None) -> StructuredJob:
        """``shown``: the label names the prompt lists (default all)."""
        names = ", ".join(task.label_names if shown is None else [n for n in task.label_names if n in shown])
        messages = render(self.template, task=task.description, names=names, label=label).messages
        return StructuredJob(
            messages, DescriptionReply, temperature=self.temperature, max_tokens=120, purpose=self.purpose
        )

    @staticmethod
    def parse(reply: Any) -> str | None:
        if isinstance(reply, LLMOutputError) or not reply.description.strip():
            return None
        return " ".join(reply.description.split())


TOPICS = TopicsTask()
GENERATE = GenerateTask()
LABEL = LabelTask()
JUDGE = JudgeTask()
AGENT = AgentTask()
DESCRIBE = DescribeTask()


def ask(ctx: Context, job: StructuredJob) -> BaseModel:
    """One structured request, outside a batch; raises :class:`~tutorloop.errors.LLMOutputError`."""
    return ctx.llm.structured(
        job.messages,
        job.schema,
        temperature=job.temperature,
        max_tokens=job.max_tokens,
        sample_index=job.sample_index,
        purpose=job.purpose,
    )


def run_jobs(
    ctx: Context,
    jobs: Sequence[StructuredJob],
    items: Sequence[T],
    description: str,
    handle: Callable[[T, BaseModel | LLMOutputError], None],
) -> None:
    """Run ``jobs`` with up to the LLM's ``max_concurrency`` in flight all the time, and call
    ``handle(item, reply)`` for each in input order as soon as it and the jobs before it are answered (so
    each job is stored as it comes in, in its own transaction, and a resume skips it).

    The budget is checked before the first job and then once per ``max_concurrency`` jobs started; when it
    is spent, no more jobs start, the ones in flight are handled, then :class:`BudgetExhausted` is raised.
    """
    size = max(1, ctx.llm.max_concurrency)
    started = 0

    def check() -> None:
        nonlocal started
        if started % size == 0:
            ctx.budget.check()
        started += 1

    with ctx.ui.phase(description, len(jobs)) as advance:
        for i, reply in ctx.llm.structured_iter(jobs, on_done=advance, before_submit=check):
            handle(items[i], reply)


def chunks(items: Sequence[T], size: int) -> list[Sequence[T]]:
    """``items`` cut into consecutive pieces of ``size``."""
    return [items[i : i + size] for i in range(0, len(items), size)]
