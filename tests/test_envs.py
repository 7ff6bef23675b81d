"""Software environments: envs/*.yaml are pinned like requirements.txt and
requirements-jax.txt, every rule names one that holds what its script imports, and
no env holds a package that none of its jobs imports.

Conda channels are unreachable in CI, so the envs are checked as files, not built.
"""

from __future__ import annotations

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
REQUIREMENTS = (REPO / "requirements.txt", REPO / "requirements-jax.txt")
#: What runs Snakemake (and reads the config while it parses), lints or tests: never
#: inside a rule's env.
TOOLING = {
    "snakemake",
    "snakemake-executor-plugin-slurm",
    "snakefmt",
    "pytest",
    "ruff",
    "pyyaml",
    "jsonschema",
}
#: The env of the jobs that run a network, for each Keras backend, and the package
#: that is that backend.
BACKEND_ENVS = {"tensorflow": ("tensorflow.yaml", "tensorflow"), "jax": ("jax.yaml", "jax")}
#: requirements.txt names that an env spells differently (same version).
ALIASES = {"tensorflow": "tensorflow-cpu"}

RULES_JSON = r"""
import json, sys
from pathlib import Path
from snakemake.api import SnakemakeApi
from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings

workdir = Path(sys.argv[1]).resolve()
overrides = json.loads(sys.argv[2])
with SnakemakeApi(OutputSettings()) as api:
    wf = api.workflow(
        resource_settings=ResourceSettings(),
        config_settings=ConfigSettings(config=overrides),
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
def load_rules(backend: str = "tensorflow") -> dict[str, dict]:
    """Every rule of the workflow as Snakemake parsed it for a Keras backend (in a
    subprocess: parsing changes the working directory and the environment)."""
    overrides = {"training": {"backend": backend}}
    proc = subprocess.run(
        [sys.executable, "-c", RULES_JSON, str(REPO), json.dumps(overrides)],
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
    assert {p.name for p in ENVS} == {"base.yaml", "tensorflow.yaml", "jax.yaml"}


def all_pins() -> dict[str, str]:
    """Every pin of requirements.txt and requirements-jax.txt, which must agree."""
    pins: dict[str, str] = {}
    for path in REQUIREMENTS:
        for name, version in parse_requirements(path).items():
            assert pins.setdefault(name, version) == version, (
                f"{path.name}: {name}=={version}, another requirements file has {pins[name]}"
            )
    return pins


@pytest.mark.parametrize("env_file", ENVS, ids=lambda p: p.name)
def test_env_pins_agree_with_requirements(env_file):
    conda, pip = parse_env(env_file)
    # Python and pip come from conda; everything else from PyPI, as requirements.txt.
    assert set(conda) == {"python", "pip"}, f"{env_file.name}: conda packages {sorted(conda)}"
    assert conda["python"] == f"{sys.version_info.major}.{sys.version_info.minor}", (
        f"{env_file.name}: python {conda['python']}, but the workflow is tested on "
        f"{sys.version_info.major}.{sys.version_info.minor}"
    )
    by_env_name = {ALIASES.get(name, name): version for name, version in all_pins().items()}
    for name, version in pip.items():
        assert name in by_env_name, f"{env_file.name}: {name} is not in requirements*.txt"
        assert version == by_env_name[name], (
            f"{env_file.name}: {name}=={version}, requirements*.txt has {by_env_name[name]}"
        )


def test_jax_requirements_have_no_tensorflow():
    assert not {n for n in parse_requirements(REPO / "requirements-jax.txt") if "tensorflow" in n}


def test_every_requirement_is_in_an_env():
    in_envs = {name for env in ENVS for name in parse_env(env)[1]}
    missing = {
        name
        for name in all_pins()
        if name not in TOOLING and ALIASES.get(name, name) not in in_envs
    }
    assert not missing, f"in requirements*.txt but in no env: {sorted(missing)}"


def _env_of(rule: dict) -> Path:
    return (Path(rule["file"]).parent / rule["conda"]).resolve()


def _script(rule: dict) -> Path:
    return (Path(rule["file"]).parent / rule["script"]).resolve()


@pytest.fixture(scope="module")
def rules_by_backend() -> dict[str, dict[str, dict]]:
    return {backend: load_rules(backend) for backend in BACKEND_ENVS}


def test_every_rule_has_an_env_of_envs(rules_by_backend):
    used = set()
    for backend, rules in rules_by_backend.items():
        for name, rule in rules.items():
            if rule["norun"]:  # `all`: no job runs
                continue
            assert rule["conda"], f"rule {name} has no conda: directive"
            env = _env_of(rule)
            assert env.parent == REPO / "envs" and env.is_file(), f"rule {name}: {rule['conda']}"
            used.add(env)
        # The jobs that run a network take the backend's env; no other env has Keras.
        keras_env = REPO / "envs" / BACKEND_ENVS[backend][0]
        keras_rules = {n for n, r in rules.items() if not r["norun"] and _env_of(r) == keras_env}
        assert keras_rules == {
            "train_cifar",
            "evaluate_cifar",
            "extract_birds_features",
            "train_birds_head",
            "finetune_birds",
            "evaluate_birds",
        }, (backend, keras_rules)
    assert used == {p.resolve() for p in ENVS}, "an env in envs/ is used by no rule"


def _dists(top: str, distributions: dict) -> set[str]:
    return {normalize(d) for d in distributions.get(top, [top])}


def third_party(names: set[str]) -> set[str]:
    """Top-level names of the non-stdlib, non-workflow packages among import names."""
    tops = {n.split(".")[0] for n in names if n}
    return {
        t
        for t in tops
        if t not in sys.stdlib_module_names and t not in ("convstudy", "_src_path", "__future__")
    }


def import_time_names(script: Path) -> set[str]:
    """Names that importing ``script`` imports: its module-level imports, then those of
    every package module they load, transitively (lazy imports in functions excluded:
    they run only when called)."""
    from convstudy import codeversion as cv

    names = cv.imported_names([cv.parse(script)], "__main__", False, lazy=False)
    seen, todo = set(), [n for n in names if n.split(".")[0] == "convstudy"]
    while todo:
        name = todo.pop()
        for module in cv._parents(name):
            path = cv.module_file(module)
            if module in seen or path is None:
                continue
            seen.add(module)
            found = cv.imported_names(
                [cv.parse(path)], module, path.name == "__init__.py", lazy=False
            )
            names |= found
            todo.extend(n for n in found if n.split(".")[0] == "convstudy")
    return names


def test_each_rules_env_holds_what_its_script_imports(rules_by_backend):
    """A rule in envs/base.yaml must not need TensorFlow or Keras, and so on."""
    distributions = importlib.metadata.packages_distributions()
    checked = 0
    for rules in rules_by_backend.values():
        for name, rule in rules.items():
            if not rule["script"]:
                continue
            pinned = set(parse_env(_env_of(rule))[1])
            for top in third_party(import_time_names(_script(rule))):
                assert _dists(top, distributions) & pinned, (
                    f"rule {name}: {_script(rule).name} imports {top}, which "
                    f"{_env_of(rule).name} does not list"
                )
            checked += 1
    assert checked >= 10


def test_no_env_holds_what_none_of_its_jobs_imports(rules_by_backend):
    """Each pinned package is imported somewhere in the code its jobs can run (lazy
    imports included), and a backend's env holds that backend."""
    from convstudy.codeversion import reach_imports, script_reach

    distributions = importlib.metadata.packages_distributions()
    used: dict[Path, set[str]] = {}
    for rules in rules_by_backend.values():
        for rule in rules.values():
            if rule["script"]:
                tops = third_party(reach_imports(script_reach(_script(rule))))
                used.setdefault(_env_of(rule), set()).update(
                    d for top in tops for d in _dists(top, distributions)
                )
    for env in ENVS:
        pinned = set(parse_env(env)[1])
        # jaxlib is what jax runs on: pinned with it, never imported by name.
        unused = pinned - used[env.resolve()] - {"jaxlib"}
        assert not unused, f"{env.name}: no job of this env imports {sorted(unused)}"
    for env_name, backend_package in BACKEND_ENVS.values():
        pinned = parse_env(REPO / "envs" / env_name)[1]
        assert ALIASES.get(backend_package, backend_package) in pinned, (env_name, backend_package)


def test_import_scan_sees_lazy_and_eager_imports(tmp_path):
    """The scan above finds module-level imports through convstudy, and only those."""
    script = tmp_path / "script.py"
    script.write_text("from convstudy.figures import learning_curve_figure\n")
    assert "matplotlib" in third_party(import_time_names(script))
    assert "tensorflow" not in third_party(import_time_names(script))
    script.write_text("from convstudy.pipeline.tfdata import train_dataset\n")
    assert "tensorflow" in third_party(import_time_names(script))
    # A lazy import (TensorFlow inside runtime's functions) needs no env at import time.
    script.write_text("from convstudy.runtime import configure\n")
    assert "tensorflow" not in third_party(import_time_names(script))
