"""asrtl: cross-lingual transfer learning for CTC speech recognition.

``from asrtl import load_model`` gives the Python API (:mod:`asrtl.api`), imported on first
use so that ``import asrtl`` stays light.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ASRModel", "Transcript", "load_model"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from asrtl import api

        return getattr(api, name)
    raise AttributeError(f"module 'asrtl' has no attribute {name!r}")
