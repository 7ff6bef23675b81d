"""Digests of the package code behind each job, derived from the code itself.

Snakemake reruns a job when its ``script:`` changes, but knows nothing of the
package the script calls. Each rule therefore carries, as a ``params:`` entry,
a digest of the package code its script can reach, found by reading the code:
the functions the script imports (``from convstudy.x import f``), the top-level
definitions they use, then what their imports bring in the same way (imports
inside functions included, since the package imports its heavy dependencies
lazily; of a module-level import, the names the code reached uses), and so on.
``import m`` (or ``from pkg import m``) brings all of ``m``, and every module
reached, or merely imported, counts with its top-level statements (imports,
constants), which importing it runs.

Nothing is listed by hand, so the digest cannot drift from the code. Code that is
reached but not run costs at most a needless rerun, never a stale result; the
reach goes function by function because a needless rerun of a data preparation
or of the feature extraction would redo everything downstream of it.

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
            base = _import_from_base(node, module, is_package)
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
    """What a job can run: for each package module reached, the top-level names its
    code needs (a function, a class, a constant), or ``None`` for all of it."""

    parts: dict[str, frozenset[str] | None] = field(default_factory=dict)

    @property
    def entries(self) -> dict[str, list[str]]:
        """Modules reached in part: ``{module: sorted names}``."""
        return {m: sorted(n) for m, n in sorted(self.parts.items()) if n is not None}

    @property
    def modules(self) -> list[str]:
        """Modules reached whole, sorted."""
        return sorted(m for m, n in self.parts.items() if n is None)

    def covered(self) -> set[str]:
        """Every module of which some code is in the digest."""
        return set(self.parts)


def _bound(node: ast.stmt) -> set[str]:
    """Names a top-level statement binds (assignments, imports)."""
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return {(a.asname or a.name).split(".")[0] for a in node.names}
    return {
        n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
    }


def _used_definitions(tree: ast.Module, names: Iterable[str] | None) -> list[ast.stmt]:
    """The named top-level definitions (all when ``names`` is None) and those they
    refer to, transitively."""
    defs = {node.name: node for node in tree.body if isinstance(node, _DEFS)}
    if names is None:
        return [node for node in tree.body if isinstance(node, _DEFS)]
    bound = set().union(*(_bound(node) for node in tree.body if not isinstance(node, _DEFS)))
    missing = sorted(set(names) - set(defs) - bound)
    if missing:
        raise LookupError(f"no top-level definition {', '.join(missing)}")
    used, todo = set(), [n for n in names if n in defs]
    while todo:
        name = todo.pop()
        if name in used:
            continue
        used.add(name)
        referred = {n.id for n in ast.walk(defs[name]) if isinstance(n, ast.Name)}
        todo.extend(referred & set(defs))
    return [node for node in tree.body if isinstance(node, _DEFS) and node.name in used]


def _parts(
    module: str, names: frozenset[str] | None, package: Path
) -> tuple[list[ast.stmt], list[ast.stmt], list[ast.stmt]]:
    """The code of ``names`` of a module: (statements in the digest, statements whose
    imports are followed for what they use, module-level imports of names that code
    does not use). The module's top-level statements other than definitions always
    count: importing it runs them, and runs the top-level statements of every module
    it imports."""
    tree = parse(module_file(module, package))
    top = [node for node in tree.body if not isinstance(node, _DEFS)]
    defs = _used_definitions(tree, names)
    if names is None:
        return top + defs, top + defs, []
    used = set(names) | {
        n.id for node in defs + top for n in ast.walk(node) if isinstance(n, ast.Name)
    }
    imports = [node for node in top if isinstance(node, (ast.Import, ast.ImportFrom))]
    followed = [node for node in top if node not in imports]
    followed += [kept for node in imports if (kept := _only(node, used)) is not None]
    return top + defs, followed + defs, imports


def _only(node: ast.Import | ast.ImportFrom, used: set[str]) -> ast.stmt | None:
    """A module-level import cut down to the names that the code reached uses."""
    aliases = [a for a in node.names if (a.asname or a.name).split(".")[0] in used]
    if not aliases:
        return None
    if isinstance(node, ast.Import):
        return ast.Import(names=aliases)
    return ast.ImportFrom(module=node.module, names=aliases, level=node.level)


def _import_from_base(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    """The absolute module of ``from <base> import ...`` written in ``module``."""
    if not node.level:
        return node.module or ""
    # Relative to the module's package (a package's __init__ is its own).
    anchor = module.split(".")
    anchor = anchor if is_package else anchor[:-1]
    anchor = anchor[: len(anchor) - (node.level - 1)]
    return ".".join(anchor + ([node.module] if node.module else []))


def _requests(
    nodes: Iterable[ast.AST], module: str, is_package: bool, package: Path, run_only: bool = False
):
    """(module, names or None) that the imports among ``nodes`` ask of the package:
    ``from m import f`` asks for ``f`` of ``m``; ``import m`` and ``from pkg import m``
    for all of ``m``; the packages above a module for their top-level statements.
    ``run_only``: only what importing runs (top-level statements), nothing used."""
    asked: list[tuple[str, frozenset[str] | None]] = []
    for root in nodes:
        for node in ast.walk(root):
            if isinstance(node, ast.Import):
                asked += [(alias.name, None) for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _import_from_base(node, module, is_package)
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    if module_file(sub, package) is not None:
                        asked.append((sub, None))
                    else:
                        asked.append((base, frozenset({alias.name})))
    for name, names in asked:
        if name.split(".")[0] != package.name or module_file(name, package) is None:
            continue
        for parent in _parents(name)[:-1]:
            yield parent, frozenset()
        yield name, frozenset() if run_only else names


def script_reach(script: str | Path, package: Path = PACKAGE) -> Reach:
    """The package code that a job running ``script`` can reach: what the script
    imports, what that code uses, and so on. ``from m import f`` reaches ``f`` and
    what it uses; ``import m`` (or ``from pkg import m``) the whole module."""
    path = Path(script).resolve()
    reached: dict[str, frozenset[str] | None] = {}
    todo = list(_requests([parse(path)], "__main__", False, package))
    while todo:
        module, names = todo.pop()
        had = reached.get(module, frozenset())
        now = None if names is None or (module in reached and had is None) else had | names
        if module in reached and now == had:
            continue
        reached[module] = now
        is_package = module_file(module, package).name == "__init__.py"
        _, followed, imports = _parts(module, now, package)
        todo.extend(_requests(followed, module, is_package, package))
        todo.extend(_requests(imports, module, is_package, package, run_only=True))
    # A package reached only as the parent of a module still counts: its __init__ runs.
    return Reach(dict(sorted(reached.items())))


def reach_imports(reach: Reach, package: Path = PACKAGE) -> set[str]:
    """Every name imported in the code of ``reach`` (third-party included)."""
    names = set()
    for module, parts in reach.parts.items():
        file = module_file(module, package)
        names |= imported_names(
            _parts(module, parts, package)[0], module, file.name == "__init__.py"
        )
    return names


def reach_digest(reach: Reach, package: Path = PACKAGE) -> str:
    """Short digest of the syntax trees of the code in ``reach``."""
    digest = hashlib.sha256()
    for module, parts in reach.parts.items():
        for node in _parts(module, parts, package)[0]:
            digest.update(f"{module}:{ast.dump(node)}\n".encode())
    return digest.hexdigest()[:16]


def script_digest(script: str | Path, package: Path = PACKAGE) -> str:
    """The code digest of a rule whose job runs ``script``."""
    return reach_digest(script_reach(script, package), package)
