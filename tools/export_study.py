"""Copies the small files a study's report is built from (``study.json``, each job's
``summary.json``/``scores.json``, the LID outputs) and its ``report/`` to another directory,
where ``recipes/report.py study=<dst>`` rebuilds the same report. For sharing a study (and
for ``docs/example-study/``) without checkpoints or audio.

    python tools/export_study.py exp/study/bengali+assamese+thai+turkish docs/example-study
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from asrtl.study.report import collect  # noqa: E402


def export(src: Path, dst: Path) -> list[str]:
    """Copies what the report reads; returns the relative paths copied."""
    res = collect(src)
    files = ["study.json", *(r["file"] for r in res["runs"].values() if r)]
    lid = res["lid"]
    files += [f"lid/{name}" for name, there in (
        ("lid_matrix.json", lid["matrix"]), ("lid_matrix.csv", lid["matrix"]),
        ("rankings.json", lid["rankings"]), ("accuracy.json", lid["accuracy"])) if there]
    files += [f"report/{p.name}" for p in sorted((src / "report").iterdir())]
    for rel in files:
        (dst / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src / rel, dst / rel)
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("src", type=Path)
    parser.add_argument("dst", type=Path)
    args = parser.parse_args()
    print(f"copied {len(export(args.src, args.dst))} files to {args.dst}")


if __name__ == "__main__":
    main()
