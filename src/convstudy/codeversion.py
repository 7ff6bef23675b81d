"""Digests of the package code a rule's results depend on.

Snakemake reruns a job when its ``script:`` changes, but knows nothing of the
package the script calls. Rules therefore carry a digest of the modules (or
single functions) behind their results as a ``params:`` entry: editing the model
builder retrains, editing the report does not. The digest covers the code's
syntax tree, so comments and formatting do not count, and it is independent of
file times, so a fresh clone or a checkout reruns nothing that did not change.
"""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent


def _source_trees(spec: str) -> list[str]:
    """``"models"`` (a subpackage), ``"training.py"`` or ``"experiments/cifar.py:train_variant"``."""
    path, _, function = spec.partition(":")
    target = PACKAGE / path
    files = sorted(target.rglob("*.py")) if target.is_dir() else [target]
    if not files or not all(f.is_file() for f in files):
        raise FileNotFoundError(f"code_digest: no module {path!r} in {PACKAGE}")
    dumps = []
    for file in files:
        tree = ast.parse(file.read_text(), filename=str(file))
        if function:
            nodes = [
                n for n in ast.walk(tree)
                if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name == function
            ]
            if not nodes:
                raise LookupError(f"code_digest: no {function!r} in {file}")
            tree = nodes[0]
        dumps.append(f"{file.relative_to(PACKAGE)}:{ast.dump(tree)}")
    return dumps


def code_digest(*specs: str) -> str:
    """Short digest of the named package code (see :func:`_source_trees` for the forms)."""
    digest = hashlib.sha256()
    for spec in specs:
        for dump in _source_trees(spec):
            digest.update(dump.encode())
    return digest.hexdigest()[:16]
