"""docs/example-study: the committed demo study's report is rebuilt from its stored
results, byte for byte, by recipes/report.py."""

from __future__ import annotations

import shutil

from tests.conftest import REPO, _run

EXAMPLE = REPO / "docs" / "example-study"


def test_example_report_rebuilds_byte_for_byte(cache_dir, tmp_path):
    assert (EXAMPLE / "study.json").is_file(), "docs/example-study is missing"
    copy = tmp_path / "example"
    shutil.copytree(EXAMPLE, copy)
    shutil.rmtree(copy / "report")
    res = _run("report", f"study={copy}", cache=cache_dir)
    assert res.returncode == 0, res.stderr[-2000:]
    committed = sorted(p.name for p in (EXAMPLE / "report").iterdir())
    assert sorted(p.name for p in (copy / "report").iterdir()) == committed
    for name in committed:
        rebuilt = (copy / "report" / name).read_bytes()
        assert rebuilt == (EXAMPLE / "report" / name).read_bytes(), name
