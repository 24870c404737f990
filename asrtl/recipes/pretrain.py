"""Pretrain a CTC acoustic model on one language.

    python recipes/pretrain.py language=turkish
    python recipes/pretrain.py language=turkish data.hours=1 model=small device=cuda train.epochs=30
    python recipes/pretrain.py language=turkish units=phones   # exp/pretrain/turkish-phones
    torchrun --nproc_per_node=4 recipes/pretrain.py language=turkish device=cuda   # DDP

Writes ``exp/pretrain/<language>/``: run.json (resolved config), log/, checkpoints/,
metrics.jsonl, tensorboard/, results/<split>/{hyps.txt,errs.txt,scores.json} (greedy) and
results/<split>-beam/. A rerun resumes from the last checkpoint.
"""

from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from asrtl.cli import check_overrides, print_scores, recipe
from asrtl.eval.config import DecodeConfig
from asrtl.train.device import resolve_device
from asrtl.train.loop import TrainConfig
from asrtl.train.run import pretrain_language


@hydra.main(config_path="../conf", config_name="pretrain", version_base="1.3")
@recipe(distributed=True)
def main(cfg: DictConfig) -> None:
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    out = pretrain_language(run_dir, cfg.language, cfg.data, cfg.model,
                            TrainConfig.from_dict(cfg.train), DecodeConfig.from_dict(cfg.decode),
                            resolve_device(cfg.device), cfg.seed,
                            OmegaConf.to_container(cfg, resolve=True), units=str(cfg.units))
    if out is None:  # a rank other than 0 of a torchrun: rank 0 scores and reports
        return
    print_scores(cfg.language, out["scores"], out["checkpoint"].name)


if __name__ == "__main__":
    check_overrides("pretrain")
    main()
