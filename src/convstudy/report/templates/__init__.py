"""The report's Jinja2 templates, kept with the code that renders them.

Their digest is a param of the report rule: editing a template renders the report
again, and a fresh clone (new file times) renders nothing.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

DIRECTORY = Path(__file__).resolve().parent
MARKDOWN = DIRECTORY / "report.md.j2"
LATEX = DIRECTORY / "report.tex.j2"


def digest() -> str:
    """Digest of both templates' text."""
    sha = hashlib.sha256()
    for path in (MARKDOWN, LATEX):
        sha.update(path.read_bytes())
    return sha.hexdigest()[:16]
