"""The recipes: the top layer, each one page of composition of the library behind one Hydra
config (``asrtl/conf/<name>.yaml``). Three ways to run one, the same command each:

    asrtl transfer source=assamese target=bengali          # the console script
    python -m asrtl.recipes.transfer source=assamese target=bengali
    python recipes/transfer.py source=assamese target=bengali   # in a checkout

They never import one another; a larger command runs others as jobs (:mod:`asrtl.jobs`)."""

from __future__ import annotations

import importlib

NAMES = ("prepare", "pretrain", "decode", "transcribe", "export", "transfer", "lid", "rank",
         "study", "report", "speaker_adapt", "multilingual", "demo")


def run(name: str) -> None:
    """Runs recipe ``name`` on ``sys.argv[1:]``: its overrides checked first (one line for a
    bad one), then its Hydra main."""
    from asrtl.cli import check_overrides

    check_overrides(name)
    importlib.import_module(f"asrtl.recipes.{name}").main()
