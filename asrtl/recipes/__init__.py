"""The recipes: the top layer, each one page of composition of the library behind one Hydra
config (``asrtl/conf/<name>.yaml``). Three ways to run one, the same command each:

    asrtl transfer source=assamese target=bengali          # the console script
    python -m asrtl.recipes.transfer source=assamese target=bengali
    python recipes/transfer.py source=assamese target=bengali   # in a checkout

They never import one another; a larger command runs others as jobs (:mod:`asrtl.jobs`)."""

from __future__ import annotations

import runpy

NAMES = ("prepare", "pretrain", "decode", "transcribe", "export", "transfer", "lid", "rank",
         "study", "report", "speaker_adapt", "multilingual", "demo", "pseudo_label")


def run(name: str) -> None:
    """Runs recipe ``name`` on ``sys.argv[1:]`` as ``python -m asrtl.recipes.<name>`` runs it
    (its overrides checked first, one line for a bad one, then its Hydra main): the module
    executed afresh as ``__main__`` on every call, so that what it imports is bound anew,
    as in a new process."""
    runpy.run_module(f"asrtl.recipes.{name}", run_name="__main__", alter_sys=True)
