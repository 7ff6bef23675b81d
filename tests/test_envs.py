"""Software environments: envs/*.yaml are pinned like requirements.txt, and every rule
names one that holds what its script imports.

Conda channels are unreachable in CI, so the envs are checked as files, not built.
"""

from __future__ import annotations

import ast
import functools
import importlib.metadata
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import REPO

ENVS = sorted((REPO / "envs").glob("*.yaml"))
#: Tools that run Snakemake or the tests, never inside a rule's env.
TOOLING = {"snakemake", "snakemake-executor-plugin-slurm", "snakefmt", "pytest"}
#: requirements.txt names that an env spells differently (same version).
ALIASES = {"tensorflow": "tensorflow-cpu"}

RULES_JSON = r"""
import json, sys
from pathlib import Path
from snakemake.api import SnakemakeApi
from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings

workdir = Path(sys.argv[1]).resolve()
with SnakemakeApi(OutputSettings()) as api:
    wf = api.workflow(
        resource_settings=ResourceSettings(),
        config_settings=ConfigSettings(),
        snakefile=workdir / "Snakefile",
        workdir=workdir,
    )._workflow
    print("RULES=" + json.dumps({
        rule.name: {
            "norun": rule.norun,
            "file": rule.snakefile,
            "conda": rule.conda_env,
            "script": rule.script,
            "resources": sorted(rule.resources.keys()),
            "log": bool(rule.log),
            "benchmark": rule.benchmark is not None,
            "code": rule.params.get("code") if hasattr(rule.params, "get") else None,
        }
        for rule in wf.rules
    }))
"""


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_requirements(path: Path) -> dict[str, str]:
    """``{name: version}`` of the ``name==version`` lines (markers dropped)."""
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        spec = line.split(";", 1)[0].strip()
        match = re.fullmatch(r"([A-Za-z0-9_.\-\[\]]+)==([^\s]+)", spec)
        assert match, f"requirements.txt: {line!r} is not pinned with =="
        pins[normalize(re.sub(r"\[.*\]", "", match.group(1)))] = match.group(2)
    return pins


def parse_env(path: Path) -> tuple[dict[str, str], dict[str, str]]:
    """``(conda pins, pip pins)`` of an env file, checking its shape on the way."""
    env = yaml.safe_load(path.read_text())
    assert set(env) >= {"name", "channels", "dependencies"}, path.name
    assert "defaults" not in env["channels"], f"{path.name}: use conda-forge, not defaults"
    conda, pip = {}, {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            assert set(dep) == {"pip"}, f"{path.name}: unexpected {dep}"
            for spec in dep["pip"]:
                match = re.fullmatch(r"([A-Za-z0-9_.\-]+)==(\S+)", spec)
                assert match, f"{path.name}: pip entry {spec!r} is not pinned with =="
                pip[normalize(match.group(1))] = match.group(2)
        else:
            match = re.fullmatch(r"([A-Za-z0-9_.\-]+)=(\S+)", dep)
            assert match, f"{path.name}: conda entry {dep!r} is not pinned"
            conda[match.group(1)] = match.group(2)
    return conda, pip


@functools.cache
def load_rules() -> dict[str, dict]:
    """Every rule of the workflow as Snakemake parsed it (in a subprocess: parsing
    changes the working directory and the environment)."""
    proc = subprocess.run(
        [sys.executable, "-c", RULES_JSON, str(REPO)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RULES=")), None)
    assert line, proc.stdout[-2000:] + proc.stderr[-4000:]
    return json.loads(line[len("RULES=") :])


@pytest.fixture
def rules() -> dict[str, dict]:
    return load_rules()


def test_there_are_envs():
    assert {p.name for p in ENVS} >= {"tensorflow.yaml", "report.yaml"}


@pytest.mark.parametrize("env_file", ENVS, ids=lambda p: p.name)
def test_env_pins_agree_with_requirements(env_file):
    requirements = parse_requirements(REPO / "requirements.txt")
    conda, pip = parse_env(env_file)
    # Python and pip come from conda; everything else from PyPI, as requirements.txt.
    assert set(conda) == {"python", "pip"}, f"{env_file.name}: conda packages {sorted(conda)}"
    assert conda["python"] == f"{sys.version_info.major}.{sys.version_info.minor}", (
        f"{env_file.name}: python {conda['python']}, but the workflow is tested on "
        f"{sys.version_info.major}.{sys.version_info.minor}"
    )
    by_env_name = {ALIASES.get(name, name): version for name, version in requirements.items()}
    for name, version in pip.items():
        assert name in by_env_name, f"{env_file.name}: {name} is not in requirements.txt"
        assert version == by_env_name[name], (
            f"{env_file.name}: {name}=={version}, requirements.txt has {by_env_name[name]}"
        )


def test_every_requirement_is_in_an_env():
    requirements = parse_requirements(REPO / "requirements.txt")
    in_envs = {name for env in ENVS for name in parse_env(env)[1]}
    missing = {
        name for name in requirements if name not in TOOLING and ALIASES.get(name, name) not in in_envs
    }
    assert not missing, f"in requirements.txt but in no env: {sorted(missing)}"


def test_every_rule_has_an_env_of_envs(rules):
    used = set()
    for name, rule in rules.items():
        if rule["norun"]:  # `all`: no job runs
            continue
        assert rule["conda"], f"rule {name} has no conda: directive"
        env = (Path(rule["file"]).parent / rule["conda"]).resolve()
        assert env.parent == REPO / "envs" and env.is_file(), f"rule {name}: {rule['conda']}"
        used.add(env)
    assert used == {p.resolve() for p in ENVS}, "an env in envs/ is used by no rule"


def _module_file(module: str) -> Path | None:
    """The source of a first-party module (convstudy, or a module of scripts/), else None."""
    if (REPO / "scripts" / f"{module}.py").is_file():
        return REPO / "scripts" / f"{module}.py"
    if module != "convstudy" and not module.startswith("convstudy."):
        return None
    base = REPO / "src" / Path(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    raise AssertionError(f"no source for {module}")


def _module_level_imports(path: Path, package: str) -> set[str]:
    """Absolute names imported at module level (not inside functions) in ``path``."""
    tree = ast.parse(path.read_text())
    found: set[str] = set()

    def visit(node):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                continue  # lazy imports: run only when called
            if isinstance(child, ast.Import):
                found.update(alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    parts = package.split(".")
                    base = ".".join(parts[: len(parts) - child.level + 1])
                    module = f"{base}.{child.module}" if child.module else base
                else:
                    module = child.module
                found.add(module)
                # `from pkg import submodule` imports the submodule too.
                for alias in child.names:
                    if _is_module(f"{module}.{alias.name}"):
                        found.add(f"{module}.{alias.name}")
            else:
                visit(child)

    visit(tree)
    return found


def _is_module(name: str) -> bool:
    try:
        return _module_file(name) is not None
    except AssertionError:
        return False


def third_party_imports(script: Path) -> set[str]:
    """Top-level names of non-stdlib packages that importing ``script`` loads."""
    seen: set[str] = set()
    third: set[str] = set()
    todo = [(script, "")]
    while todo:
        path, package = todo.pop()
        for name in _module_level_imports(path, package):
            top = name.split(".")[0]
            source = _module_file(name)
            if source is not None:
                if name not in seen:
                    seen.add(name)
                    pkg = name if source.name == "__init__.py" else name.rsplit(".", 1)[0]
                    todo.append((source, pkg))
                    # Importing a.b.c runs the __init__ of a and a.b first.
                    parts = name.split(".")
                    for i in range(1, len(parts)):
                        parent = ".".join(parts[:i])
                        if parent not in seen:
                            seen.add(parent)
                            todo.append((_module_file(parent), parent))
            elif top not in sys.stdlib_module_names and top != "__future__":
                third.add(top)
    return third


def test_each_rules_env_holds_what_its_script_imports(rules):
    """A rule in envs/report.yaml must not need TensorFlow, and so on."""
    distributions = importlib.metadata.packages_distributions()
    checked = 0
    for name, rule in rules.items():
        if not rule["script"]:
            continue
        script = (Path(rule["file"]).parent / rule["script"]).resolve()
        env = (Path(rule["file"]).parent / rule["conda"]).resolve()
        pinned = set(parse_env(env)[1])
        for top in third_party_imports(script):
            dists = {normalize(d) for d in distributions.get(top, [top])}
            assert dists & pinned, (
                f"rule {name}: {script.name} imports {top} (from {sorted(dists)}), "
                f"which {env.name} does not list"
            )
        checked += 1
    assert checked >= 5


def test_import_scan_sees_lazy_and_eager_imports(tmp_path):
    """The scan above finds module-level imports through convstudy, and only those."""
    script = tmp_path / "script.py"
    script.write_text("from convstudy.figures import learning_curve_figure\n")
    assert "matplotlib" in third_party_imports(script)
    assert "tensorflow" not in third_party_imports(script)
    script.write_text("from convstudy.pipeline import train_dataset\n")
    assert "tensorflow" in third_party_imports(script)
