"""Digests of the package code behind each job, derived from the code itself.

Snakemake reruns a job when its ``script:`` changes, but knows nothing of the
package the script calls. Each rule therefore carries, as a ``params:`` entry,
a digest of the package code its script can reach, found by reading the code:

- the functions the script imports (``from convstudy.x import f``), the
  module-level definitions they use, transitively, and the module's other
  top-level statements (imports, constants);
- every module imported by those, wherever the import is written (the package
  imports its heavy dependencies inside functions), then every module those
  import, and so on, whole.

Nothing is listed by hand, so the digest cannot drift from the code. A module
reached but not used costs at most a needless rerun, never a stale result; the
entry functions are taken one by one because a needless rerun of a data
preparation would retrain everything downstream of it.

The digest covers syntax trees: comments and formatting do not count, and it is
independent of file times, so a fresh clone or a checkout reruns nothing that
did not change.
"""

from __future__ import annotations

import ast
import functools
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent

_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def module_file(module: str, package: Path = PACKAGE) -> Path | None:
    """The file of a package module (``convstudy.models.cnn``), or None if there is none."""
    parts = module.split(".")
    if parts[0] != package.name:
        return None
    base = package.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imported_names(
    nodes: Iterable[ast.AST], module: str, is_package: bool, lazy: bool = True
) -> set[str]:
    """Absolute names that the imports among ``nodes`` can load: every import
    (``lazy``), or only those that run when the module is imported (not inside
    functions)."""
    names = set()
    todo = list(nodes)
    while todo:
        node = todo.pop()
        if not lazy and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        todo.extend(ast.iter_child_nodes(node))
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                # Relative to the module's package (a package's __init__ is its own).
                anchor = module.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            names.add(base)
            # `from pkg import name`: name may be a submodule.
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def _parents(module: str) -> list[str]:
    """Importing a.b.c runs a/__init__.py and a/b/__init__.py first."""
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


@functools.cache
def _parsed(path: Path, stamp: tuple[int, int]) -> ast.Module:
    # Every rule reaches many of the same modules: each file is parsed once
    # (``stamp`` renews the entry when the file changes).
    return ast.parse(path.read_text(), filename=str(path))


def parse(path: Path) -> ast.Module:
    stat = path.stat()
    return _parsed(path, (stat.st_mtime_ns, stat.st_size))


@dataclass
class Reach:
    """What a job can run: parts of entry modules (by name) and whole modules."""

    #: ``{module: sorted names}``: only these top-level definitions (and what they use).
    entries: dict[str, list[str]] = field(default_factory=dict)
    #: Modules reached whole, sorted.
    modules: list[str] = field(default_factory=list)

    def covered(self) -> set[str]:
        """Every module of which some code is in the digest."""
        return set(self.entries) | set(self.modules)


def _used_definitions(tree: ast.Module, names: Iterable[str]) -> list[ast.stmt]:
    """The named top-level definitions and those they refer to, transitively."""
    defs = {node.name: node for node in tree.body if isinstance(node, _DEFS)}
    missing = sorted(set(names) - set(defs))
    if missing:
        raise LookupError(f"no top-level definition {', '.join(missing)}")
    used, todo = set(), list(names)
    while todo:
        name = todo.pop()
        if name in used:
            continue
        used.add(name)
        referred = {n.id for n in ast.walk(defs[name]) if isinstance(n, ast.Name)}
        todo.extend(referred & set(defs))
    return [node for node in tree.body if isinstance(node, _DEFS) and node.name in used]


def _entry_parts(
    module: str, names: Iterable[str], package: Path
) -> tuple[list[ast.stmt], set[str]]:
    """(statements in the digest, import names they reach) of the named definitions of
    an entry module; its top-level statements other than definitions always count."""
    path = module_file(module, package)
    tree = parse(path)
    top = [node for node in tree.body if not isinstance(node, _DEFS)]
    parts = top + _used_definitions(tree, names)
    return parts, imported_names(parts, module, path.name == "__init__.py")


def _whole_modules(names: Iterable[str], package: Path) -> list[str]:
    """Every package module the import names can load, transitively; sorted."""
    seen: set[str] = set()
    todo = [p for name in names for p in _parents(name)]
    while todo:
        module = todo.pop()
        path = module_file(module, package)
        if module in seen or path is None:
            continue
        seen.add(module)
        imported = imported_names([parse(path)], module, path.name == "__init__.py")
        todo.extend(p for name in imported for p in _parents(name))
    return sorted(seen)


def script_reach(script: str | Path, package: Path = PACKAGE) -> Reach:
    """The package code that a job running ``script`` can reach."""
    entries: dict[str, set[str]] = {}
    whole: set[str] = set()
    for node in ast.walk(parse(Path(script).resolve())):
        if isinstance(node, ast.Import):
            whole.update(a.name for a in node.names if a.name.split(".")[0] == package.name)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == package.name:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                if module_file(submodule, package) is not None:
                    whole.add(submodule)
                else:
                    entries.setdefault(node.module, set()).add(alias.name)
    reached = set(whole)
    for module, names in entries.items():
        # The packages above an entry module run on import, as do its imports.
        reached.update(_parents(module)[:-1])
        reached.update(_entry_parts(module, names, package)[1])
    modules = _whole_modules(reached, package)
    # An entry module that some import reaches is digested whole.
    parts = {m: sorted(n) for m, n in sorted(entries.items()) if m not in modules}
    return Reach(parts, modules)


def reach_imports(reach: Reach, package: Path = PACKAGE) -> set[str]:
    """Every name imported anywhere in the code of ``reach`` (third-party included)."""
    names = set()
    for module, entry_names in reach.entries.items():
        names |= _entry_parts(module, entry_names, package)[1]
    for module in reach.modules:
        path = module_file(module, package)
        names |= imported_names([parse(path)], module, path.name == "__init__.py")
    return names


def reach_digest(reach: Reach, package: Path = PACKAGE) -> str:
    """Short digest of the syntax trees of the code in ``reach``."""
    digest = hashlib.sha256()
    for module, names in reach.entries.items():
        parts, _ = _entry_parts(module, names, package)
        for node in parts:
            digest.update(f"{module}:{ast.dump(node)}\n".encode())
    for module in reach.modules:
        digest.update(f"{module}:{ast.dump(parse(module_file(module, package)))}\n".encode())
    return digest.hexdigest()[:16]


def script_digest(script: str | Path, package: Path = PACKAGE) -> str:
    """The code digest of a rule whose job runs ``script``."""
    return reach_digest(script_reach(script, package), package)
