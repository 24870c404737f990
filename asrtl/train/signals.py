"""Pre-emption: SIGTERM (a cluster taking the node back) or SIGINT (Ctrl-C) during training
stops at the end of the current step with a checkpoint, and the same command resumes it
exactly. A second signal stops at once."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Interrupted(Exception):
    """Training stopped on a signal. ``code`` is the shell's ``128 + signal number``."""

    def __init__(self, signum: int, message: str) -> None:
        super().__init__(message)
        self.code = 128 + signum


@dataclass
class StopFlag:
    """Set by the handler: the signal received, or 0."""

    signum: int = 0

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum else ""


@contextlib.contextmanager
def stop_requests() -> Iterator[StopFlag]:
    """While inside, SIGTERM and SIGINT set the returned flag (checked between steps); a
    second one raises :class:`Interrupted` at once. Outside the main thread: a flag that is
    never set."""
    flag = StopFlag()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def handler(signum: int, frame: object) -> None:
        if flag.signum:
            raise Interrupted(signum, f"interrupted again by {signal.Signals(signum).name}: "
                                      f"stopped without a new checkpoint")
        flag.signum = signum

    old = {s: signal.signal(s, handler) for s in STOP_SIGNALS}
    try:
        yield flag
    finally:
        for s, h in old.items():
            signal.signal(s, h)


@contextlib.contextmanager
def signals_as_errors() -> Iterator[None]:
    """SIGTERM raises :class:`Interrupted` (as Ctrl-C raises ``KeyboardInterrupt``), so a
    recipe stopped outside training ends with one line too."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        raise Interrupted(signum, f"interrupted by {signal.Signals(signum).name}; run the "
                                  f"same command again to resume")

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)
