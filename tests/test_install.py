"""asrtl as an installed package (issue 26): ``pip install .`` (not editable) into a fresh
virtual environment, then ``asrtl transfer ...`` from a directory outside the checkout finds
its configs in the package and writes its runs where it was started."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from tests.conftest import REPO, SEED, TINY_DATA, _env

# one epoch each: what is checked is the install, not learning
TRANSFER = ["source=turkish", "target=bengali", "model=tiny", "train.epochs=1",
            "train.batch_duration_s=12", "train.num_workers=0", "decode.beam=false",
            "target_hours=0.02", "source_hours=0.02", "exp_dir=exp", f"seed={SEED}",
            *[a for a in TINY_DATA if not a.startswith("data.hours")]]


def _fresh_venv(root: Path) -> Path:
    """A new virtual environment whose third-party packages (torch and the rest) come from
    this one through a ``.pth`` line, so that only asrtl itself is installed into it (a
    ``.pth`` in a directory added that way is not read: this environment's editable asrtl
    stays out)."""
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next((venv / "lib").glob("python3*/site-packages"))
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv


def test_pip_install_then_the_console_script_from_another_directory(tiny_corpora, cache_dir,
                                                                       tmp_path):
    src = tmp_path / "src"  # the package as an sdist holds it, not the checkout itself
    shutil.copytree(REPO / "asrtl", src / "asrtl",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    venv = _fresh_venv(tmp_path)
    res = subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"),
                          "install", "-q", "--no-deps", "--no-compile", str(src)],
                         capture_output=True, text=True, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in _env(cache_dir).items() if k != "PYTHONPATH"}
    where = subprocess.run([str(venv / "bin" / "python"), "-c",
                            "import asrtl.cli; print(asrtl.cli.CONF_DIR)"],
                           capture_output=True, text=True, cwd=elsewhere, env=env)
    conf = Path(where.stdout.strip())
    assert where.returncode == 0 and conf.is_relative_to(venv), (where.stdout, where.stderr)
    assert (conf / "transfer.yaml").is_file() and (conf / "model" / "tiny.yaml").is_file()

    res = subprocess.run([str(venv / "bin" / "asrtl"), "transfer", *TRANSFER],
                         capture_output=True, text=True, cwd=elsewhere, env=env, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    runs = list((elsewhere / "exp" / "transfer").glob("turkish*-to-bengali/finetune"))
    assert len(runs) == 1, res.stdout[-2000:]  # relative exp_dir: under the working directory
    summary = json.loads((runs[0] / "summary.json").read_text())
    assert summary["source"] == "turkish" and summary["target"] == "bengali"
    assert (runs[0] / "log" / "transfer.log").is_file()  # Hydra's job name is the recipe's

    bad = subprocess.run([str(venv / "bin" / "asrtl"), "transfre", "target=bengali"],
                         capture_output=True, text=True, cwd=elsewhere, env=env)
    assert bad.returncode == 2 and bad.stderr.strip().splitlines() == [
        bad.stderr.strip()] and "unknown recipe 'transfre'" in bad.stderr
