"""Run reports: Markdown and self-contained HTML with plots, built from a run folder."""

from .render import write_report

__all__ = ["write_report"]
