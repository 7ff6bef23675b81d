"""Code digests derived from the code: what a script reaches reruns it, nothing else does."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import REPO
from convstudy import codeversion
from convstudy.codeversion import script_digest, script_reach

STEPS = """
from ..helpers import shared
from . import consts

LIMIT = 3


def entry():
    from ..lazy import work

    return helper() + work() + LIMIT + consts.VALUE


def helper():
    return shared()


def other():
    from ..unrelated import nothing

    return nothing()
"""


@pytest.fixture
def package(tmp_path) -> Path:
    """A package ``pkg`` with an entry module, lazy and transitive imports, and a script."""
    pkg = tmp_path / "pkg"
    (pkg / "steps").mkdir(parents=True)
    files = {
        "__init__.py": '"""The package."""\n',
        "steps/__init__.py": "",
        "steps/consts.py": "VALUE = 1\n",
        "steps/run.py": STEPS,
        "helpers.py": "from . import imported\nfrom .deep import base\n\n\ndef shared():\n    return base()\n",
        "deep.py": "def base():\n    return 1\n",
        "lazy.py": "def work():\n    return 2\n",
        "unrelated.py": "FLAG = 1\n\n\ndef nothing():\n    return 0\n",
        "imported.py": "SETTING = 1\n\n\ndef unused():\n    return 0\n",
    }
    for name, text in files.items():
        (pkg / name).write_text(text)
    (tmp_path / "job.py").write_text("import os\nfrom pkg.steps.run import entry\n\nentry()\n")
    return pkg


def _digest(package: Path) -> str:
    return script_digest(package.parent / "job.py", package)


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_reach_follows_the_entry_function_and_what_it_uses(package):
    reach = script_reach(package.parent / "job.py", package)
    # The functions used, through module-level and lazy imports, transitively, and
    # the packages on the way (their top-level statements); `unrelated` is imported
    # only by a function the job never calls.
    assert reach.entries == {
        "pkg": [],
        "pkg.deep": ["base"],
        "pkg.helpers": ["shared"],
        # Imported by a module reached, unused: importing it runs its top level.
        "pkg.imported": [],
        "pkg.lazy": ["work"],
        "pkg.steps": [],
        "pkg.steps.run": ["entry"],
    }
    # `from . import consts` imports a module: all of it counts.
    assert reach.modules == ["pkg.steps.consts"]


def test_comments_and_formatting_do_not_count(package):
    before = _digest(package)
    _edit(package / "steps" / "run.py", "def helper():\n", "# a comment\ndef helper( ):  # why\n")
    _edit(package / "deep.py", "return 1", "return   1  # one")
    assert _digest(package) == before


@pytest.mark.parametrize(
    "path, old, new",
    [
        ("steps/run.py", "LIMIT = 3", "LIMIT = 4"),  # a constant of the entry module
        ("steps/run.py", "+ LIMIT", "- LIMIT"),  # the entry function
        ("steps/run.py", "return shared()", "return shared() + 1"),  # a helper it calls
        ("lazy.py", "return 2", "return 3"),  # imported inside the entry function
        ("deep.py", "return 1", "return 5"),  # imported by an imported module
        ("steps/consts.py", "VALUE = 1", "VALUE = 2"),  # a relative `from . import`
        # Importing runs the top level: a call there counts, even if nothing uses it.
        ("imported.py", "SETTING = 1", "SETTING = 1\nprint(SETTING)"),
    ],
)
def test_code_the_job_reaches_counts(package, path, old, new):
    before = _digest(package)
    _edit(package / path, old, new)
    assert _digest(package) != before


def test_code_the_job_cannot_reach_does_not_count(package):
    before = _digest(package)
    _edit(package / "imported.py", "return 0", "return 9")  # imported, never called
    _edit(package / "imported.py", "SETTING = 1", "SETTING = 2")  # bound, never read
    _edit(package / "steps" / "run.py", "return nothing()", "return nothing() + 1")
    _edit(package / "unrelated.py", "return 0", "return 7")
    assert _digest(package) == before


def test_version_bumps_and_docstrings_do_not_count(package):
    """Nothing a job runs reads ``__version__`` or a docstring: editing them reruns nothing."""
    (package / "__init__.py").write_text('"""The package."""\n\n__version__ = "0.1.0"\n')
    before = _digest(package)
    _edit(package / "__init__.py", '"0.1.0"', '"0.2.0"')
    _edit(package / "__init__.py", "The package.", "The package, described anew.")
    _edit(package / "deep.py", "def base():\n", 'def base():\n    """One, always."""\n')
    _edit(package / "steps" / "consts.py", "VALUE = 1\n", '"""Constants."""\n\nVALUE = 1\n')
    assert _digest(package) == before


def test_a_module_level_value_brings_the_code_that_makes_it(package):
    """``X = _helper()`` at module level, ``X`` used by a reached function: an edit to
    ``_helper``'s body changes what ``X`` is, so it counts."""
    _edit(package / "deep.py", "def base():\n    return 1", "def base():\n    return X")
    (package / "deep.py").write_text(
        (package / "deep.py").read_text() + "\n\ndef _helper():\n    return 1\n\n\nX = _helper()\n"
    )
    before = _digest(package)
    _edit(package / "deep.py", "def _helper():\n    return 1", "def _helper():\n    return 2")
    assert _digest(package) != before


def test_the_script_itself_counts_but_not_its_comments(package):
    job = package.parent / "job.py"
    before = _digest(package)
    job.write_text('"""A job."""\n' + job.read_text() + "# a comment\n")
    assert _digest(package) == before
    job.write_text(job.read_text().replace("entry()", "entry()\nentry()"))
    assert _digest(package) != before


def test_a_module_imported_whole_elsewhere_counts_whole(package):
    _edit(
        package / "lazy.py",
        "def work():\n    return 2",
        "from .steps import run\n\n\ndef work():\n    return run.LIMIT",
    )
    reach = script_reach(package.parent / "job.py", package)
    assert "pkg.steps.run" not in reach.entries and "pkg.steps.run" in reach.modules
    before = _digest(package)
    _edit(package / "steps" / "run.py", "return nothing()", "return nothing() + 1")
    assert _digest(package) != before


def test_an_unknown_entry_is_an_error(package):
    (package.parent / "bad.py").write_text("from pkg.steps.run import missing\n")
    with pytest.raises(LookupError, match="missing"):
        script_digest(package.parent / "bad.py", package)


def test_the_workflow_scripts_reach_the_package():
    """Each script of the workflow reaches its entry function and what that imports."""
    train = script_reach(REPO / "scripts" / "train_cifar.py")
    assert train.entries["convstudy.experiments.cifar"] == ["train_variant"]
    assert {"fit_and_save", "TrainJob"} <= set(train.entries["convstudy.experiments.common"])
    assert {
        "convstudy.pipeline",
        "convstudy.pipeline.tfdata",
        "convstudy.pipeline.arrays",
        "convstudy.pipeline.geometry",
        "convstudy.training",
        "convstudy.models.cnn",
        "convstudy.runtime",
    } <= train.covered()
    # Feature extraction shares experiments/common.py with training, not the
    # training code: editing the input pipeline does not remake the feature cache.
    extract = script_reach(REPO / "scripts" / "extract_birds_features.py")
    assert not {"convstudy.pipeline", "convstudy.training"} & extract.covered()
    # The data preparation does not reach the training code: editing the input
    # pipeline must not remake the data (and so retrain everything).
    prepare = script_reach(REPO / "scripts" / "prepare_cifar.py")
    assert not {"convstudy.pipeline", "convstudy.training", "convstudy.runtime"} & prepare.covered()
    assert codeversion.PACKAGE == REPO / "src" / "convstudy"
