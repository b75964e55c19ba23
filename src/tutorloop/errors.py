"""The one exception tree of tutorloop.

Every error tutorloop raises on purpose derives from :class:`TutorloopError`. Branches follow what the
caller can do next::

    TutorloopError
    ├── ConfigError            bad option, task file, backend name, missing extra: fix the input
    ├── DataError              bad data file, labels, artifact: fix the data
    │   └── ArtifactError      corrupt, foreign or too-new model artifact
    ├── NotTrainedError        (also ValueError) predict before fit
    ├── BudgetError            the token/time/round budget cannot cover the requested work
    ├── StorageError           disk full or read-only while writing (``path``): free space, then resume
    └── LLMError               anything that went wrong talking to an LLM
        ├── LLMConnectionError unreachable base URL, timeouts after retries
        ├── LLMAuthError       missing or rejected API key
        ├── LLMRateLimitError  429 after retries (``retry_after`` seconds, if the server said)
        ├── LLMServerError     5xx after retries (``status``)
        ├── LLMModelError      model file missing / unloadable
        └── LLMOutputError     the reply never satisfied the schema (``attempts``, ``raw``)

Messages say what was wrong and how to fix it; the CLI prints ``Name: message`` and exits 1.
"""

from __future__ import annotations


class TutorloopError(Exception):
    """Root of all errors tutorloop raises on purpose."""


class ConfigError(TutorloopError):
    """A configuration value, option or file is invalid. The message says how to fix it."""


class DataError(TutorloopError):
    """Input data (texts, labels, files) is invalid."""


class ArtifactError(DataError):
    """A model artifact is corrupt, foreign, or from a newer tutorloop."""


class NotTrainedError(TutorloopError, ValueError):
    """A classifier was used before ``fit``."""


class BudgetError(TutorloopError):
    """The budget is too small for the requested work."""


class StorageError(TutorloopError):
    """Writing to the run folder or the cache failed (disk full, read-only, I/O error); ``path`` is the file.

    What was stored before is intact, so freeing space and resuming continues the run."""

    def __init__(self, message: str, *, path: str | None = None):
        super().__init__(message)
        self.path = path


class LLMError(TutorloopError):
    """Something went wrong talking to an LLM."""

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class LLMConnectionError(LLMError):
    """The backend could not be reached (connection refused, DNS, timeout)."""


class LLMAuthError(LLMError):
    """The API key is missing or was rejected."""


class LLMRateLimitError(LLMError):
    """The server kept answering 429."""


class LLMServerError(LLMError):
    """The server kept answering 5xx."""


class LLMModelError(LLMError):
    """The model file is missing or could not be loaded."""


class LLMOutputError(LLMError):
    """The model's reply never validated against the requested schema."""

    def __init__(self, message: str, *, attempts: int, raw: str, usage: dict | None = None):
        super().__init__(message)
        self.attempts = attempts
        self.raw = raw
        self.usage = usage or {}
