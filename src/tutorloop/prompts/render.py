"""Render prompt templates (text files in ``templates/``) into chat messages plus a ``prompt_id@hash``.

A template has a ``[system]`` part (fixed per task: instructions, label list) and a ``[user]`` part
(the variable request), so that llama.cpp can reuse the cached prefix across calls. Values are
substituted with :class:`string.Template` (``$name``); a missing value is an error, never a blank.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from string import Template
from typing import Any

from ..errors import ConfigError
from ..types import Message


@dataclass(frozen=True)
class Rendered:
    """A rendered prompt: messages for the LLM and the template's ``name@hash`` id."""

    messages: tuple[Message, ...]
    prompt_id: str


@cache
def load_template(name: str) -> tuple[str, str, str]:
    """``(system, user, prompt_id)`` of template ``name`` (file ``templates/<name>.txt``)."""
    try:
        text = resources.files(__package__).joinpath("templates", f"{name}.txt").read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"No prompt template named {name!r} in tutorloop/prompts/templates/.") from exc
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:10]
    if "[system]\n" not in text or "\n[user]\n" not in text:
        raise ConfigError(f"Prompt template {name!r} needs a [system] and a [user] section.")
    system, user = text.split("[system]\n", 1)[1].split("\n[user]\n", 1)
    return system.strip(), user.strip(), f"{name}@{digest}"


def render(name: str, **values: Any) -> Rendered:
    """Fill template ``name`` with ``values``.

    >>> r = render("describe", task="Sentiment", names="positive, negative", label="positive")
    >>> r.prompt_id.startswith("describe@"), r.messages[0].role
    (True, 'system')
    """
    system, user, prompt_id = load_template(name)
    vals = {k: str(v) for k, v in values.items()}
    try:
        sys_text = Template(system).substitute(vals).strip()
        user_text = Template(user).substitute(vals).strip()
    except KeyError as exc:
        raise ConfigError(
            f"Prompt template {name!r} needs a value for ${exc.args[0]}; none was given."
        ) from exc
    return Rendered((Message("system", sys_text), Message("user", user_text)), prompt_id)


def as_data(value: Any) -> str:
    """Quote user or model texts as JSON data, so that they cannot read as instructions in a prompt."""
    return json.dumps(value, ensure_ascii=False)


def labels_block(labels: list[tuple[str, str | None]]) -> str:
    """One line per label: ``- name: description`` (names quoted as JSON strings; a description's line
    breaks become spaces, so that it cannot start a line that reads as another label or instruction)."""
    lines = []
    for name, desc in labels:
        desc = " ".join(desc.split()) if desc else None
        lines.append(f"- {as_data(name)}" + (f": {desc}" if desc else ""))
    return "\n".join(lines)
