"""Digests of the code behind each job, derived from the code itself.

Each rule carries, as a ``params: code=`` entry, a digest of its script and of the
package code the script can reach, found by reading the code: the functions the
script imports (``from convstudy.x import f``), the top-level definitions they use,
then what their imports bring in the same way (imports inside functions included,
since the package imports its heavy dependencies lazily; of a module-level import,
the names the code reached uses), and so on. ``import m`` (or ``from pkg import m``)
brings all of ``m``.

Of a module's top-level statements, those that do something when the module is
imported (imports, calls) always count, with every name they use; a plain binding
(``LIMIT = 3``, a type alias) counts only when counted code uses it. So
``X = _helper()`` brings ``_helper`` along, while ``__version__`` or a constant no
job reads counts for nothing.

Nothing is listed by hand, so the digest cannot drift from the code. Code that is
reached but not run costs at most a needless rerun, never a stale result; the
reach goes function by function because a needless rerun of a data preparation
or of the feature extraction would redo everything downstream of it.

The digest covers syntax trees without docstrings: comments, docstrings and
formatting do not count, and it is independent of file times, so a fresh clone,
a checkout or ``touch`` reruns nothing that did not change (the workflow's
profile turns off Snakemake's own file-time trigger for code; see
:mod:`convstudy.reruns`).
"""

from __future__ import annotations

import ast
import copy
import functools
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent

_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_IMPORTS = (ast.Import, ast.ImportFrom)


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
    """What a job can run: ``code`` maps each package module reached to the top-level
    names its code needs (a function, a class, a constant), or ``None`` for all of it."""

    code: dict[str, frozenset[str] | None] = field(default_factory=dict)

    @property
    def entries(self) -> dict[str, list[str]]:
        """Modules reached in part: ``{module: sorted names}``."""
        return {m: sorted(n) for m, n in sorted(self.code.items()) if n is not None}

    @property
    def modules(self) -> list[str]:
        """Modules reached whole, sorted."""
        return sorted(m for m, n in self.code.items() if n is None)

    def covered(self) -> set[str]:
        """Every module of which some code is in the digest."""
        return set(self.code)


def _bound(node: ast.stmt) -> set[str]:
    """Names a top-level statement binds (assignments, imports)."""
    if isinstance(node, _IMPORTS):
        return {(a.asname or a.name).split(".")[0] for a in node.names}
    return {
        n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
    }


#: Per-node results, by node identity: parsed trees are cached (:func:`parse`), and
#: every rule's digest walks many of the same nodes. The node is kept with its result,
#: so that an id is never reused for another node while its entry lives.
_MEMO: dict[tuple[str, int], tuple[ast.AST, object]] = {}


def _memo(kind: str, node: ast.AST, compute):
    hit = _MEMO.get((kind, id(node)))
    if hit is None or hit[0] is not node:
        hit = _MEMO[(kind, id(node))] = (node, compute(node))
    return hit[1]


def _names(node: ast.AST) -> frozenset[str]:
    return _memo(
        "names", node, lambda n: frozenset(x.id for x in ast.walk(n) if isinstance(x, ast.Name))
    )


def _is_docstring(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    )


def _calls(node: ast.AST) -> bool:
    """Whether evaluating ``node`` calls something (a lambda's body runs only when called)."""
    todo = [node]
    while todo:
        item = todo.pop()
        if isinstance(item, (ast.Call, ast.Await, ast.Yield, ast.YieldFrom)):
            return True
        if not isinstance(item, ast.Lambda):
            todo.extend(ast.iter_child_nodes(item))
    return False


def _is_binding(node: ast.stmt) -> bool:
    """A top-level statement that only binds a value (``LIMIT = 3``): it matters only
    to code that uses the name. Anything else (imports, calls, ``if``) runs when the
    module is imported, for its effects."""
    if isinstance(node, (ast.Assign, ast.AnnAssign)):
        return node.value is None or not _calls(node.value)
    return False


def _counted(tree: ast.Module, names: Iterable[str] | None) -> list[ast.stmt]:
    """The top-level statements of a module that count for ``names`` (all when None):
    the named definitions and bindings, every statement that runs when the module is
    imported, and what any of them uses, transitively; in file order, docstrings aside."""
    body = [node for node in tree.body if not _is_docstring(node)]
    if names is None:
        return body
    providers: dict[str, list[ast.stmt]] = {}
    for node in body:
        if isinstance(node, _DEFS):
            providers.setdefault(node.name, []).append(node)
        elif _is_binding(node):
            for name in _bound(node):
                providers.setdefault(name, []).append(node)
    effects = [n for n in body if not isinstance(n, _DEFS) and not _is_binding(n)]
    missing = sorted(set(names) - set(providers) - set().union(*map(_bound, effects)))
    if missing:
        raise LookupError(f"no top-level definition {', '.join(missing)}")
    counted = {id(node) for node in effects}
    todo, seen = [*names, *(n for node in effects for n in _names(node))], set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for node in providers.get(name, []):
            if id(node) not in counted:
                counted.add(id(node))
                todo.extend(_names(node))
    return [node for node in body if id(node) in counted]


def _statements(
    module: str, names: frozenset[str] | None, package: Path
) -> tuple[list[ast.stmt], list[ast.stmt], list[ast.stmt]]:
    """The code of ``names`` of a module: (statements in the digest, statements whose
    imports are followed for what they use, module-level imports of names that code
    does not use: importing still runs their modules' top level)."""
    counted = _counted(parse(module_file(module, package)), names)
    if names is None:
        return counted, counted, []
    used = set(names).union(*map(_names, counted))
    imports = [node for node in counted if isinstance(node, _IMPORTS)]
    followed = [node for node in counted if node not in imports]
    followed += [kept for node in imports if (kept := _only(node, used)) is not None]
    return counted, followed, imports


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
        _, followed, imports = _statements(module, now, package)
        todo.extend(_requests(followed, module, is_package, package))
        todo.extend(_requests(imports, module, is_package, package, run_only=True))
    # A package reached only as the parent of a module still counts: its __init__ runs.
    return Reach(dict(sorted(reached.items())))


def reach_imports(reach: Reach, package: Path = PACKAGE) -> set[str]:
    """Every name imported in the code of ``reach`` (third-party included)."""
    imported = set()
    for module, names in reach.code.items():
        file = module_file(module, package)
        imported |= imported_names(
            _statements(module, names, package)[0], module, file.name == "__init__.py"
        )
    return imported


def _dump(node: ast.AST) -> str:
    """The syntax tree of ``node`` without docstrings (they change no behaviour)."""
    return _memo("dump", node, _dump_without_docstrings)


def _dump_without_docstrings(node: ast.AST) -> str:
    node = copy.deepcopy(node)
    for item in ast.walk(node):
        if isinstance(item, (*_DEFS, ast.Module)) and item.body and _is_docstring(item.body[0]):
            item.body = item.body[1:] or [ast.Pass()]
    return ast.dump(node)


def _reach_lines(reach: Reach, package: Path) -> Iterable[str]:
    for module, names in reach.code.items():
        for node in _statements(module, names, package)[0]:
            yield f"{module}:{_dump(node)}\n"


def reach_digest(reach: Reach, package: Path = PACKAGE) -> str:
    """Short digest of the syntax trees of the code in ``reach``."""
    digest = hashlib.sha256()
    for line in _reach_lines(reach, package):
        digest.update(line.encode())
    return digest.hexdigest()[:16]


def script_digest(script: str | Path, package: Path = PACKAGE) -> str:
    """The code digest of a rule whose job runs ``script``: the script itself and the
    package code it reaches."""
    digest = hashlib.sha256(_dump(parse(Path(script).resolve())).encode())
    for line in _reach_lines(script_reach(script, package), package):
        digest.update(line.encode())
    return digest.hexdigest()[:16]
