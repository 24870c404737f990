"""Which source? Rank candidate source languages for a target with several predictors.

    python recipes/rank.py target=bengali sources=[assamese,hindi,thai,turkish]
    python recipes/rank.py target=/path/to/cuts.jsonl.gz sources=[...] rankers=[lid_posterior,units]
    python recipes/rank.py target=bengali sources=[...] train_missing=false   # only reuse

Sources are the pretrained models ``recipes/transfer.py`` would use
(``exp/pretrain/<source>-<source_hours>h/``; missing ones are pretrained first unless
``train_missing=false``), and a LID classifier over the sources (reused from
``exp/lid/a+b+c/`` or trained in ``exp/rank/lid/a+b+c/``). Rankers read the target's train and
dev splits, never its test split. Writes ``exp/rank/<target>/ranking.json``:
``{"target", "sources", "rankers": {name: {source: score}}, "ranking": [{"source", "score"}],
"confidence", "wall_s", ...}``, the combined ranking first; higher score = better source.
"""

import logging
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from asrtl.cli import check_overrides, recipe
from asrtl.eval.config import DecodeConfig
from asrtl.jobs import pretrain_missing
from asrtl.rank.rankers import needs
from asrtl.rank.run import plan, rank
from asrtl.train.device import resolve_device
from asrtl.train.run import claim_run_dir
from asrtl.transfer.source import source_budget

log = logging.getLogger("rank")


@hydra.main(config_path="../conf", config_name="rank", version_base="1.3")
@recipe
def main(cfg: DictConfig) -> None:
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    DecodeConfig.from_dict(cfg.decode)  # the scoring of a source pretrained here, checked
    req = plan(cfg)  # bad input fails here, before anything is written
    claim_run_dir(run_dir, OmegaConf.to_container(cfg, resolve=True))
    device = resolve_device(cfg.device)
    if cfg.train_missing and "models" in needs(req.names + req.chosen):
        pretrain_missing(cfg.exp_dir, [str(s) for s in cfg.sources],
                         source_budget(cfg.source_hours, cfg.target_hours), cfg, device)
    result = rank(cfg, req, device)
    result.save(run_dir / "ranking.json")
    names = list(result.rankers)
    print(f"{'source':<14}" + "".join(f"{n[:12]:>13}" for n in names))
    for source in result.order:
        print(f"{source:<14}" + "".join(f"{result.rankers[n][source]:>13.4g}" for n in names))
    conf = result.confidence
    print(f"best source for {result.target}: {conf['top']} ({conf['top_agreement']:.0%} of "
          f"the combined rankers agree; Kendall's W {conf['kendall_w']})")
    split = result.halves
    if split.get("agree") is False:
        acoustic, output = split["acoustic"], split["output"]
        print(f"the rankers disagree: the acoustic ones ({', '.join(acoustic['rankers'])}) "
              f"point to {acoustic['top']}, the output-mapping ones "
              f"({', '.join(output['rankers'])}) to {output['top']}")
    print(f"ranking: {run_dir / 'ranking.json'}")


if __name__ == "__main__":
    check_overrides("rank")
    main()
