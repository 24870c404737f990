"""A user's mistake is one line; a bug keeps its traceback (``asrtl.errors.UserError`` is the
only exception a recipe turns into ``error: ...``)."""

from __future__ import annotations

import pytest

from asrtl.errors import MissingInput, UserError
from tests.conftest import TRAIN, _run_here


def _fail_with(exc: Exception):
    def pretrain_language(*args, **kwargs):
        raise exc
    return pretrain_language


@pytest.mark.parametrize("exc", [ValueError("boom: a bug"), KeyError("boom: a bug"),
                                 FileNotFoundError("boom: a bug")], ids=type)
def test_a_bug_keeps_its_traceback(exc, monkeypatch, cache_dir, tmp_path):
    import asrtl.train.run

    monkeypatch.setattr(asrtl.train.run, "pretrain_language", _fail_with(exc))
    res = _run_here("pretrain", *TRAIN, f"exp_dir={tmp_path}", cache=cache_dir)
    assert res.returncode == 1, res.stderr
    assert "Traceback" in res.stderr and "boom: a bug" in res.stderr
    assert "error: boom" not in res.stderr


@pytest.mark.parametrize("exc", [UserError("data.path: no such corpus"),
                                 MissingInput("data.path: no such corpus")], ids=type)
def test_a_user_error_is_one_line(exc, monkeypatch, cache_dir, tmp_path):
    import asrtl.train.run

    monkeypatch.setattr(asrtl.train.run, "pretrain_language", _fail_with(exc))
    res = _run_here("pretrain", *TRAIN, f"exp_dir={tmp_path}", cache=cache_dir)
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == ["error: data.path: no such corpus"]


def test_user_errors_are_value_errors_for_old_callers():
    assert issubclass(UserError, ValueError) and issubclass(MissingInput, FileNotFoundError)
