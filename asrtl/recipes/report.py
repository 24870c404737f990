"""Rebuild a study's report from its stored results (never retrains; deterministic).

    python recipes/report.py study=exp/study/bengali+assamese+thai+turkish
    python recipes/report.py study=docs/example-study

Writes ``<study>/report/``: report.md, wer.csv, cer.csv, lid.csv, results.json,
wer_matrix.png, lid_matrix.png, transfer_gain.png.
"""

import hydra
from omegaconf import DictConfig

from asrtl.cli import check_overrides, recipe
from asrtl.study.report import write_report


@hydra.main(config_path="../conf", config_name="report", version_base="1.3")
@recipe
def main(cfg: DictConfig) -> None:
    out = write_report(cfg.study)
    print(f"report in {out / 'report.md'}")


if __name__ == "__main__":
    check_overrides("report")
    main()
