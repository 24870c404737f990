"""Atomic file writes: a temporary file in the same directory, then ``os.replace``, so a
reader sees the old file or the new one, never half of one."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def write_text_atomic(path: Path, text: str) -> None:
    """Writes ``text`` (UTF-8) to ``path`` atomically."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_json_atomic(path: Path, data: Any) -> None:
    """Writes ``data`` as indented JSON to ``path`` atomically."""
    write_text_atomic(path, json.dumps(data, ensure_ascii=False, indent=1, default=str) + "\n")
