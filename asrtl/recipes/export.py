"""Export a trained checkpoint for inference outside asrtl: ONNX or TorchScript.

    python recipes/export.py checkpoint=exp/pretrain/turkish                  # format=onnx
    python recipes/export.py checkpoint=exp/pretrain/turkish format=torchscript
    python recipes/export.py checkpoint=exp/multilingual/x language=thai input=features

Writes ``<exp_dir>/export/<name>/model.onnx`` (or ``model.pt``) and ``export.json``: the
inputs (16 kHz waveforms ``(B, S)`` and lengths ``(B,)``, or features), the outputs (CTC
log-probabilities ``(B, T', V)`` and lengths), the vocabulary (blank = 0) and the frame shift.
Each export is checked against PyTorch before it is kept (:mod:`asrtl.export`).
"""

import logging

import hydra
from omegaconf import DictConfig

from asrtl.api import load_model
from asrtl.cli import check_overrides, recipe
from asrtl.export import check_settings, export_model
from asrtl.layout import RunLayout

log = logging.getLogger("export")


@hydra.main(config_path="../conf", config_name="export", version_base="1.3")
@recipe
def main(cfg: DictConfig) -> None:
    check_settings(cfg.format, cfg.input)
    model = load_model(cfg.checkpoint, device="cpu", language=cfg.language)
    runs = RunLayout(cfg.exp_dir)
    out = (runs.exp_dir / "export" / cfg.name if cfg.name else
           runs.model_output("export", cfg.checkpoint, cfg.language))
    info = export_model(model, out, fmt=cfg.format, inputs=cfg.input)
    entry = info["formats"][cfg.format]
    print(f"{cfg.format}: {out / entry['file']} ({cfg.input} input, max |log-prob diff| vs "
          f"PyTorch {entry['max_abs_diff_vs_torch']:.1e}); interface in {out / 'export.json'}")


if __name__ == "__main__":
    check_overrides("export")
    main()
