"""Synthesis speed of the embedded corpus: audio seconds per wall second, 1 and 2 processes.

    python bench/synth_speed.py [--language turkish] [--hours 0.1]

Each run synthesises into a fresh temporary cache (nothing reused), so the figure covers
eSpeak synthesis, resampling to 16 kHz, FLAC writing and the manifests. Both worker counts
are measured in the same invocation; the ratio between them is the figure to quote.
Writes ``bench/results/synth_speed.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import tempfile
import time
from pathlib import Path

from asrtl.data.embedded import EmbeddedConfig, prepare_embedded


def measure(language: str, hours: float, workers: int) -> dict:
    cfg = EmbeddedConfig(hours=hours, dev_utts=40, test_utts=40, adapt_utts=5, workers=workers)
    with tempfile.TemporaryDirectory() as cache:
        t0 = time.perf_counter()
        out = prepare_embedded(language, cfg, cache)
        wall = time.perf_counter() - t0
        summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    audio_s = summary["synthesis"]["audio_s"]
    return {"language": language, "workers": workers, "train_hours": hours,
            "audio_s": audio_s, "wall_s": round(wall, 2),
            "audio_s_per_wall_s": round(audio_s / wall, 1),
            "audio_hours_per_wall_hour": round(audio_s / wall, 1),
            "utterances": sum(s["utterances"] for s in summary["splits"].values())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--language", default="turkish")
    parser.add_argument("--hours", type=float, default=1.0)
    parser.add_argument("--out", default="bench/results/synth_speed.json")
    args = parser.parse_args()
    runs = [measure(args.language, args.hours, w) for w in (1, 2)]
    result = {
        "bench": "synth_speed", "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "runs": runs,
        "speedup_2_vs_1": round(runs[1]["audio_s_per_wall_s"] / runs[0]["audio_s_per_wall_s"],
                                2),
        "parent_peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    print(json.dumps(result, indent=1))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
