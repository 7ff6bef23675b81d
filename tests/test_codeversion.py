"""Rules rerun when the package code behind them changes, and only then."""

from __future__ import annotations

import pytest

from convstudy import codeversion


@pytest.fixture
def package(tmp_path, monkeypatch):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.py").write_text("def f():\n    return 1\n")
    (tmp_path / "b.py").write_text("def g():\n    return 2\n\n\ndef h():\n    return 3\n")
    monkeypatch.setattr(codeversion, "PACKAGE", tmp_path)
    return tmp_path


def test_comments_and_formatting_do_not_count(package):
    before = codeversion.code_digest("sub", "b.py")
    (package / "b.py").write_text("# a comment\ndef g():\n    return   2  # two\n\ndef h():\n    return 3\n")
    assert codeversion.code_digest("sub", "b.py") == before


def test_code_changes_count(package):
    before = codeversion.code_digest("sub")
    (package / "sub" / "a.py").write_text("def f():\n    return 10\n")
    assert codeversion.code_digest("sub") != before


def test_a_single_function(package):
    g = codeversion.code_digest("b.py:g")
    (package / "b.py").write_text("def g():\n    return 2\n\n\ndef h():\n    return 30\n")
    assert codeversion.code_digest("b.py:g") == g
    assert codeversion.code_digest("b.py:h") != codeversion.code_digest("b.py:g")


def test_unknown_code_is_an_error(package):
    with pytest.raises(FileNotFoundError, match="no module 'nope.py'"):
        codeversion.code_digest("nope.py")
    with pytest.raises(LookupError, match="no 'missing'"):
        codeversion.code_digest("b.py:missing")


def test_real_package_specs_resolve():
    assert len(codeversion.code_digest("models", "training.py", "experiments/cifar.py:train_variant")) == 16
