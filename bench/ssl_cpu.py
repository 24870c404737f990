"""CPU cost of the wav2vec 2.0 family against our Conformers: a training step and inference
on 5 s utterances, seconds and peak memory, every model measured in one run.

    python bench/ssl_cpu.py                       # xlsr_300m, base, wav2vec2_tiny, tiny
    python bench/ssl_cpu.py --models tiny,wav2vec2_tiny --steps 5

Each model runs in its own process (peak memory is the process's maximum resident set,
less what the process held before building the model). Random weights: speed does not depend
on them. Writes bench/results/ssl_cpu.json and prints the BENCHMARKS.md table.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from asrtl.data.features import SpecAugment  # noqa: E402
from asrtl.data.loader import Batch  # noqa: E402
from asrtl.models.ctc import ModelConfig, num_parameters  # noqa: E402
from asrtl.models.factory import build_model, input_transform  # noqa: E402
from asrtl.train.checkpoint import git_commit  # noqa: E402
from asrtl.train.loop import train_step  # noqa: E402

VOCAB = 40


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(name: str, batch: int, seconds: float, steps: int, warmup: int) -> dict:
    """One model: mean train-step and inference seconds, peak memory above the baseline."""
    torch.manual_seed(0)
    base_mib = rss_mib()
    arch = yaml.safe_load((REPO / "conf" / "model" / f"{name}.yaml").read_text())
    cfg = ModelConfig.from_dict({**arch, "vocab_size": VOCAB})
    model = build_model(cfg)
    transform = input_transform(cfg)
    samples = int(seconds * 16000)
    wavs = torch.randn(batch, samples) * 0.1
    lens = torch.full((batch,), samples)
    targets = torch.randint(1, VOCAB, (batch, int(seconds * 12)))
    b = Batch(ids=[str(i) for i in range(batch)], texts=[""] * batch, wavs=wavs, wav_lens=lens,
              targets=targets, target_lens=torch.full((batch,), targets.shape[1]))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    specaug = SpecAugment(0, 0, 0, 0)
    model.train()
    train_s = []
    for i in range(warmup + steps):
        t = time.perf_counter()
        train_step(model, transform, specaug, optimizer, scaler, b, 5.0, None)
        if i >= warmup:
            train_s.append(time.perf_counter() - t)
    train_mib = rss_mib() - base_mib
    model.eval()
    infer_s = []
    with torch.no_grad():
        for i in range(warmup + steps):
            t = time.perf_counter()
            model(*transform(wavs, lens))
            if i >= warmup:
                infer_s.append(time.perf_counter() - t)
    audio = batch * seconds
    return {"model": name, "encoder": cfg.encoder,
            "params_m": round(num_parameters(model) / 1e6, 2),
            "train_step_s": round(statistics.mean(train_s), 3),
            "train_step_s_range": [round(min(train_s), 3), round(max(train_s), 3)],
            "inference_s": round(statistics.mean(infer_s), 3),
            "inference_rtf": round(statistics.mean(infer_s) / audio, 4),
            "peak_train_mib": round(train_mib), "peak_mib": round(rss_mib() - base_mib)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="xlsr_300m,base,wav2vec2_tiny,tiny")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--out", default=str(REPO / "bench" / "results" / "ssl_cpu.json"))
    p.add_argument("--one", help=argparse.SUPPRESS)  # the per-model child process
    args = p.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.batch, args.seconds, args.steps, args.warmup)))
        return
    rows = []
    for name in args.models.split(","):
        cmd = [sys.executable, __file__, "--one", name, "--batch", str(args.batch),
               "--seconds", str(args.seconds), "--steps", str(args.steps),
               "--warmup", str(args.warmup)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(f"{name}: {rows[-1]}", flush=True)
    commit = git_commit()
    result = {"bench": "ssl_cpu", "device": "cpu", "threads": torch.get_num_threads(),
              "cpu": platform.processor() or platform.machine(), "torch": torch.__version__,
              "commit": commit, "batch": args.batch, "seconds": args.seconds,
              "steps": args.steps, "warmup": args.warmup, "rows": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    ref = next((r for r in rows if r["model"] == "base"), None)
    print(f"\n{args.batch} utterances x {args.seconds:g} s, {torch.get_num_threads()} CPU "
          f"threads, mean of {args.steps} steps after {args.warmup}:\n")
    print("| model | encoder | params (M) | train step (s) | vs base | inference (s) | RTF | "
          "peak train memory (MiB) |")
    print("|---|---|--:|--:|--:|--:|--:|--:|")
    for r in rows:
        ratio = f"{r['train_step_s'] / ref['train_step_s']:.1f}x" if ref else "–"
        print(f"| {r['model']} | {r['encoder']} | {r['params_m']} | {r['train_step_s']} | "
              f"{ratio} | {r['inference_s']} | {r['inference_rtf']} | {r['peak_train_mib']} |")


if __name__ == "__main__":
    main()
