"""Build the embedded corpus of a language, or import a real one, and print its summary.

    python recipes/prepare.py language=bengali data.hours=0.5
    python recipes/prepare.py data=kaldi data.path=/corpora/bn language=bengali
    python recipes/prepare.py data=commonvoice data.path=/corpora/cv-bn language=bengali
"""

import hydra
from omegaconf import DictConfig

from asrtl.cli import check_overrides, recipe
from asrtl.data.manifest import format_summary, prepare_corpus


@hydra.main(config_path="../conf", config_name="prepare", version_base="1.3")
@recipe
def main(cfg: DictConfig) -> None:
    corpus = prepare_corpus(cfg.data, cfg.language, seed=cfg.seed)
    print(format_summary(corpus))


if __name__ == "__main__":
    check_overrides("prepare")
    main()
