"""CPU real-time factor of an exported model in onnxruntime against PyTorch eager.

    python bench/export.py [--models tiny small] [--reps 5] [--threads 2] [--markdown t.md]

For each model preset (random weights: speed does not depend on them), the ONNX export of
features + model (:mod:`asrtl.export`) and the same module in PyTorch eager, both on
``--threads`` threads, run on the shared real clips (``../shared/data``, read in place):
one clip at a time (batch 1), and all clips in one zero-padded batch. RTF = compute seconds
/ audio seconds. After one warm-up pass, ``--reps`` repetitions alternate the two runtimes;
the median and the min-max are reported. Writes ``bench/results/export.json`` and prints a
markdown table (also to ``--markdown``).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime
import soundfile as sf
import torch
import yaml

from asrtl.api import ASRModel
from asrtl.data.vocab import Vocabulary
from asrtl.export import export_model, exportable, max_abs_diff, onnx_session, run_onnx
from asrtl.models.ctc import ModelConfig, num_parameters
from asrtl.models.factory import build_model

REPO = Path(__file__).resolve().parent.parent
CLIPS = REPO.parent / "shared" / "data"


def read_clips() -> list[np.ndarray]:
    """The shared clips (16 kHz mono float32), in manifest order."""
    with (CLIPS / "manifest.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    clips = []
    for row in rows:
        samples, rate = sf.read(CLIPS / row["path"], dtype="float32")
        if rate != 16000 or samples.ndim != 1:
            raise ValueError(f"{row['path']}: expected 16 kHz mono, got {rate} Hz {samples.shape}")
        clips.append(samples)
    return clips


def padded(clips: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """``(wavs (B, S) float32, wav_lens (B,) int64)``, zero-padded."""
    wavs = np.zeros((len(clips), max(len(c) for c in clips)), dtype=np.float32)
    for i, c in enumerate(clips):
        wavs[i, :len(c)] = c
    return wavs, np.array([len(c) for c in clips], dtype=np.int64)


def timed(fn, batches: list[tuple[np.ndarray, np.ndarray]]) -> float:
    """Seconds to run ``fn`` on every batch."""
    t = time.perf_counter()
    for wavs, lens in batches:
        fn(wavs, lens)
    return time.perf_counter() - t


def summary(seconds: list[float], audio_s: float) -> dict[str, float]:
    rtf = [s / audio_s for s in seconds]
    return {"rtf_median": round(statistics.median(rtf), 5), "rtf_min": round(min(rtf), 5),
            "rtf_max": round(max(rtf), 5)}


def bench_model(preset: str, clips: list[np.ndarray], reps: int, threads: int) -> dict:
    arch = yaml.safe_load((REPO / "conf" / "model" / f"{preset}.yaml").read_text())
    torch.manual_seed(0)
    vocab = Vocabulary(["<blank>", "<unk>", "|", *"abcdefghijklmnopqrstuvwxyz"])
    model = build_model(ModelConfig.from_dict({**arch, "vocab_size": len(vocab)}))
    asr = ASRModel(model, vocab, "none", Path(preset), None, torch.device("cpu"))
    module = exportable(asr)
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        export_model(asr, tmp, "onnx")
        export_s = time.perf_counter() - t
        session = onnx_session(Path(tmp) / "model.onnx", threads=threads)

    def eager(wavs: np.ndarray, lens: np.ndarray):
        with torch.inference_mode():
            return module(torch.from_numpy(wavs), torch.from_numpy(lens))

    def ort(wavs: np.ndarray, lens: np.ndarray):
        return run_onnx(session, wavs, lens)

    audio_s = sum(len(c) for c in clips) / 16000
    setups = {"batch 1": [padded([c]) for c in clips], f"batch {len(clips)}": [padded(clips)]}
    ref, ref_lens = eager(*setups[f"batch {len(clips)}"][0])
    diff = max_abs_diff(ort(*setups[f"batch {len(clips)}"][0])[0], ref, ref_lens)
    rows = []
    for setup, batches in setups.items():
        times: dict[str, list[float]] = {"torch eager": [], "onnxruntime": []}
        for rep in range(reps + 1):  # the first is a warm-up
            for runtime, fn in (("torch eager", eager), ("onnxruntime", ort)):
                s = timed(fn, batches)
                if rep:
                    times[runtime].append(s)
        for runtime, seconds in times.items():
            rows.append({"model": preset, "setup": setup, "runtime": runtime,
                         **summary(seconds, audio_s)})
        speedup = statistics.median(times["torch eager"]) / statistics.median(times["onnxruntime"])
        rows[-1]["speedup_vs_eager"] = round(speedup, 2)
        print(rows[-2], rows[-1], flush=True)
    return {"model": preset, "parameters": num_parameters(model), "export_s": round(export_s, 1),
            "max_abs_diff_batch": diff, "rows": rows}


def markdown(result: dict) -> str:
    lines = [f"CPU, {result['threads']} threads per runtime, {result['clips']} real clips "
             f"({result['audio_s']:.1f} s of audio), RTF = compute s / audio s, median "
             f"(min-max) of {result['reps']} repetitions after a warm-up; random weights; "
             f"{result['cpus']} CPUs, 1-min load average {result['loadavg_1m'][0]:.1f} before "
             f"and {result['loadavg_1m'][1]:.1f} after.", "",
             "| model | batch | torch eager RTF | onnxruntime RTF | ORT speed-up |",
             "|---|---|---|---|---|"]
    for m in result["models"]:
        rows = m["rows"]
        for eager, ort in zip(rows[::2], rows[1::2], strict=True):
            lines.append(
                f"| {m['model']} ({m['parameters'] / 1e6:.1f} M) | {eager['setup']} "
                f"| {eager['rtf_median']:.4f} ({eager['rtf_min']:.4f}-{eager['rtf_max']:.4f}) "
                f"| {ort['rtf_median']:.4f} ({ort['rtf_min']:.4f}-{ort['rtf_max']:.4f}) "
                f"| {ort['speedup_vs_eager']:.2f}x |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["tiny", "small"])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--markdown", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    clips = read_clips()
    load_before = os.getloadavg()[0]
    t = time.perf_counter()
    models = [bench_model(m, clips, args.reps, args.threads) for m in args.models]
    result = {"bench": "export", "device": "cpu", "threads": args.threads, "reps": args.reps,
              "clips": len(clips), "audio_s": round(sum(len(c) for c in clips) / 16000, 2),
              "torch": torch.__version__, "onnxruntime": onnxruntime.__version__,
              "cpus": os.cpu_count(), "loadavg_1m": [round(load_before, 2),
                                                     round(os.getloadavg()[0], 2)],
              "wall_s": round(time.perf_counter() - t, 1),
              "models": models}
    out = REPO / "bench" / "results" / "export.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    table = markdown(result)
    print(table)
    if args.markdown:
        args.markdown.write_text(table)


if __name__ == "__main__":
    main()
