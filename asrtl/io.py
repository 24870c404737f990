"""Atomic file writes (a temporary file in the same directory, then ``os.replace``, so a
reader sees the old file or the new one, never half of one) and JSON reads that fail in one
line naming the file."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from asrtl.errors import MissingInput, UserError


def write_text_atomic(path: Path, text: str) -> None:
    """Writes ``text`` (UTF-8) to ``path`` atomically."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_json_atomic(path: Path, data: Any) -> None:
    """Writes ``data`` as indented JSON to ``path`` atomically."""
    write_text_atomic(path, json.dumps(data, ensure_ascii=False, indent=1, default=str) + "\n")


def read_json(path: Path, what: str = "file") -> Any:
    """The JSON in ``path``, which a run of asrtl (or a user) wrote.

    Raises:
        MissingInput: ``path`` does not exist, naming ``what`` and the path.
        UserError: ``path`` is not UTF-8 JSON (a truncated write, an edit gone wrong).
    """
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MissingInput(f"no {what} at {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"corrupt {what} {path}: {e}") from None


def read_json_lines(path: Path, what: str = "file") -> list[Any]:
    """One JSON value per non-empty line of ``path`` (metrics.jsonl and the like).

    Raises:
        MissingInput: ``path`` does not exist.
        UserError: a line is not JSON, naming the file and the line.
    """
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise MissingInput(f"no {what} at {path}") from None
    except UnicodeDecodeError as e:
        raise UserError(f"corrupt {what} {path}: {e}") from None
    out = []
    for i, line in enumerate(lines, 1):
        if line.strip():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise UserError(f"corrupt {what} {path}, line {i}: {e}") from None
    return out
