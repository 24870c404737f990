"""The job layer trains what is missing; the library's lookups never train."""

from __future__ import annotations

import logging

import pytest
import torch

from asrtl.errors import MissingInput
from asrtl.jobs import pretrain_missing
from asrtl.layout import FINISHED, RunLayout
from asrtl.transfer.source import resolve_source


def test_a_source_lookup_never_trains(tmp_path):
    with pytest.raises(MissingInput, match=r"source assamese has no pretrained model in "
                                           r".*pretrain/assamese-0.6h .*pretrain it first"):
        resolve_source("assamese", None, tmp_path, 0.6, None, torch.device("cpu"))
    assert list(tmp_path.iterdir()) == []  # nothing was started


def test_pretrain_missing_skips_finished_runs_and_what_is_not_a_language(tmp_path, caplog):
    run = RunLayout(tmp_path).pretrain("assamese", 0.6)
    for f in FINISHED["pretrain"]:
        (run / f).parent.mkdir(parents=True, exist_ok=True)
        (run / f).write_text("{}")
    with caplog.at_level(logging.INFO):
        done = pretrain_missing(tmp_path, ["assamese", "none", "multilingual:a+b",
                                           "from-checkpoint", "assamese"], 0.6, None, "cpu")
    assert done == [] and "plan:" not in caplog.text
