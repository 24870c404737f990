"""``torch.compile`` against eager for a training step's forward and backward, on batches of
the lengths duration bucketing produces (a new shape almost every batch).

    python bench/compile_cpu.py [--model tiny] [--device cpu]

For each batch shape: the compiled call's wall time the first time it meets the shape
(compilation included) and the eager time; then the compiled and eager times on a shape
already compiled (the steady state). Writes ``bench/results/compile_<device>.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import yaml

from asrtl.data.features import Fbank
from asrtl.models.ctc import ModelConfig
from asrtl.models.factory import build_model
from asrtl.train.device import resolve_device

REPO = Path(__file__).resolve().parent.parent


def step(model: torch.nn.Module, feats: torch.Tensor, lens: torch.Tensor,
         device: torch.device) -> float:
    t = time.perf_counter()
    out, _ = model(feats, lens)
    out.sum().backward()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seconds", type=float, nargs="+", default=[5, 7, 6, 9])
    args = parser.parse_args()
    device = resolve_device(args.device)
    arch = yaml.safe_load((REPO / "conf" / "model" / f"{args.model}.yaml").read_text())
    torch.manual_seed(0)
    model = build_model(ModelConfig.from_dict({**arch, "vocab_size": 40})).to(device)
    compiled = torch.compile(model)
    fbank = Fbank().to(device)
    shapes = []
    for sec in args.seconds:
        n = int(sec * 16000)
        wavs = torch.randn(3, n, device=device)
        feats, lens = fbank(wavs, torch.tensor([n, n - 800, n - 4000], device=device))
        first = step(compiled, feats, lens, device)
        eager = step(model, feats, lens, device)
        shapes.append({"batch_s": sec, "compiled_first_call_s": round(first, 2),
                       "eager_s": round(eager, 3)})
        print(shapes[-1], flush=True)
    again = [step(compiled, feats, lens, device) for _ in range(5)]
    eager = [step(model, feats, lens, device) for _ in range(5)]
    out = {"bench": "compile", "device": str(device), "model": args.model,
           "torch": torch.__version__, "shapes": shapes,
           "steady_compiled_s": round(min(again), 4), "steady_eager_s": round(min(eager), 4),
           "steady_ratio_compiled_vs_eager": round(min(again) / min(eager), 3)}
    print(json.dumps(out, indent=1))
    Path(f"bench/results/compile_{device.type}.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
