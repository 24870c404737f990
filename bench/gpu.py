"""Every GPU measurement in one command: training throughput, DDP, decoding, XLS-R.

    python bench/gpu.py [--steps 20] [--warmup 5] [--batch 16] [--seconds 5]
                        [--only train,ddp,decode,ssl] [--out bench/results/gpu.json]
    python bench/gpu.py --smoke --out /tmp/gpu.json   # the script itself, on the CPU

All inputs are synthetic (no corpus): ``--batch`` utterances of ``--seconds`` of noise each,
fixed random targets, random weights (speed does not depend on them). Measurements:

- ``train``: ``model=base`` training steps (:func:`asrtl.train.loop.train_step`, AdamW) with
  AMP off and on (bf16 where the GPU supports it, else fp16);
- ``ddp``: the AMP-on base step under DDP on every GPU (``torchrun --nproc-per-node N``
  started by this script; skipped, with the reason, on one GPU). Each rank takes a batch of
  its own, so a step trains N batches;
- ``decode``: greedy CTC decoding (forward pass, argmax, collapse) of the base model on 60 s
  of audio in batches, AMP off; RTF = wall seconds / audio seconds;
- ``ssl``: XLS-R 300M fine-tuning steps (``conf/model/xlsr_300m.yaml``), AMP on.

Training rows give seconds per step, audio seconds per wall second, peak GPU memory
(``torch.cuda.max_memory_allocated``) and the GPU utilisation sampled during the timed steps
(NVML through ``torch.cuda.utilization``, else ``nvidia-smi``, else null). Warm-up steps are
not timed. Writes ``bench/results/gpu.json`` and prints a Markdown table for BENCHMARKS.md.

``--smoke`` runs every measurement on the CPU with the tiny presets (2 steps, 1 s
utterances, DDP as 2 CPU processes over gloo): a check of the script, not a measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import torch
import yaml

from asrtl.data.features import SpecAugment
from asrtl.data.loader import Batch
from asrtl.data.vocab import Vocabulary
from asrtl.eval.decode import greedy
from asrtl.models.ctc import ModelConfig, num_parameters
from asrtl.models.factory import build_model, input_transform
from asrtl.train import distributed
from asrtl.train.checkpoint import git_commit
from asrtl.train.device import amp_dtype
from asrtl.train.loop import train_step

REPO = Path(__file__).resolve().parent.parent
SAMPLE_RATE = 16000
SEED = 0
MEASUREMENTS = ("train", "ddp", "decode", "ssl")
NO_CUDA = ("no CUDA device: bench/gpu.py measures the GPU path; use --smoke to check the "
           "script on the CPU")
VOCAB = Vocabulary(["<blank>", "<unk>", "|", *"abcdefghijklmnopqrstuvwxyz"])
DECODE_AUDIO_S = 60.0
SMOKE_DDP_PROCS = 2
def preset(name: str) -> dict:
    """``conf/model/<name>.yaml`` as a mapping."""
    path = REPO / "conf" / "model" / f"{name}.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"model preset {path} not found")
    return yaml.safe_load(path.read_text())


def ssl_arch(smoke: bool) -> tuple[dict, str]:
    """The wav2vec 2.0 architecture to time and where it came from."""
    name = "wav2vec2_tiny" if smoke else "xlsr_300m"
    return preset(name), f"conf/model/{name}.yaml"


def make_model(arch: dict, device: torch.device) -> tuple[torch.nn.Module, torch.nn.Module]:
    """``(model, input transform)`` with seeded random weights, on ``device``."""
    cfg = ModelConfig.from_dict({**arch, "vocab_size": len(VOCAB)})
    torch.manual_seed(SEED)
    return build_model(cfg).to(device), input_transform(cfg).to(device)


def synthetic_batch(batch: int, seconds: float, samples_per_frame: int,
                    seed: int = SEED) -> Batch:
    """``batch`` utterances of ``seconds`` of noise with fixed random targets (on the CPU).

    Targets are 10 tokens per second, capped at half the model's output frames so that CTC
    always has an alignment.
    """
    gen = torch.Generator().manual_seed(seed)
    samples = int(seconds * SAMPLE_RATE)
    frames = samples // samples_per_frame
    tokens = max(1, min(int(seconds * 10), frames // 2))
    wavs = 0.1 * torch.randn(batch, samples, generator=gen)
    targets = torch.randint(3, len(VOCAB), (batch, tokens), generator=gen)
    return Batch(ids=[f"synthetic-{i}" for i in range(batch)], texts=[""] * batch, wavs=wavs,
                 wav_lens=torch.full((batch,), samples), targets=targets,
                 target_lens=torch.full((batch,), tokens))


class UtilSampler:
    """GPU utilisation (%) of ``devices``, sampled every ``interval_s`` in a background
    thread while in the ``with`` block. ``mean`` is None when it cannot be read (CPU, or no
    NVML and no ``nvidia-smi``)."""

    def __init__(self, devices: list[torch.device], interval_s: float = 0.1) -> None:
        self.devices = [d for d in devices if d.type == "cuda"]
        self.interval_s = interval_s
        self.samples: list[float] = []
        self.source = self._pick_source()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _pick_source(self) -> str | None:
        if not self.devices:
            return None
        try:
            torch.cuda.utilization(self.devices[0])
            return "nvml"
        except Exception:  # no pynvml / amdsmi, or NVML unusable
            pass
        if shutil.which("nvidia-smi") and self._smi() is not None:
            return "nvidia-smi"
        return None

    def _smi(self) -> list[float] | None:
        """The devices' utilisation from ``nvidia-smi``, matched by UUID (its indices need
        not be torch's)."""
        try:
            out = subprocess.run(["nvidia-smi", "--query-gpu=uuid,utilization.gpu",
                                  "--format=csv,noheader,nounits"], capture_output=True,
                                 text=True, timeout=5).stdout
            by_uuid = {}
            for line in out.strip().splitlines():
                uuid, util = (s.strip() for s in line.split(","))
                by_uuid[uuid.removeprefix("GPU-")] = float(util)
            uuids = [str(torch.cuda.get_device_properties(d).uuid) for d in self.devices]
            if all(u in by_uuid for u in uuids):
                return [by_uuid[u] for u in uuids]
            rows = list(by_uuid.values())  # no UUID match (MIG, say): nvidia-smi's order
            return [rows[d.index] for d in self.devices]
        except (OSError, subprocess.SubprocessError, ValueError, IndexError, AttributeError):
            return None

    def _read(self) -> list[float] | None:
        if self.source == "nvml":
            return [float(torch.cuda.utilization(d)) for d in self.devices]
        return self._smi()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            values = self._read()
            if values:
                self.samples.append(sum(values) / len(values))

    def __enter__(self) -> UtilSampler:
        if self.source:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    @property
    def mean(self) -> float | None:
        return round(statistics.fmean(self.samples), 1) if self.samples else None


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def dtype_name(dtype: torch.dtype | None) -> str:
    return "off" if dtype is None else {torch.bfloat16: "bf16", torch.float16: "fp16"}[dtype]


def amp_on(device: torch.device) -> torch.dtype:
    """bf16 where supported, else fp16 (GPU); bf16 on the CPU (smoke runs)."""
    return amp_dtype(device, "auto") or torch.bfloat16


def time_training(model: torch.nn.Module, transform: torch.nn.Module, batch: Batch,
                  device: torch.device, dtype: torch.dtype | None, steps: int, warmup: int,
                  util_devices: list[torch.device]) -> dict:
    """Seconds per step, peak memory and utilisation of ``steps`` timed training steps on
    the same batch, after ``warmup`` untimed ones."""
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
    specaug = SpecAugment(0, 0, 0, 0)  # no masking: the same work every step
    batch = batch.to(device)
    for _ in range(warmup):
        train_step(model, transform, specaug, optimizer, scaler, batch, 5.0, dtype)
    sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    with UtilSampler(util_devices) as util:
        for _ in range(steps):
            t = time.perf_counter()
            train_step(model, transform, specaug, optimizer, scaler, batch, 5.0, dtype)
            sync(device)
            times.append(time.perf_counter() - t)
    peak = (torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda"
            else None)
    return {"s_per_step": sum(times) / len(times), "s_per_step_median":
            statistics.median(times), "s_per_step_min": min(times),
            "s_per_step_max": max(times), "peak_gib": peak, "util_pct": util.mean,
            "util_source": util.source}


def rounded(figures: dict) -> dict:
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()}


def measure_train(arch: dict, device: torch.device, amp: list[torch.dtype | None],
                  args: argparse.Namespace, name: str) -> list[dict]:
    """One row per AMP setting: a single device training the same synthetic batch."""
    rows = []
    for dtype in amp:
        model, transform = make_model(arch, device)
        batch = synthetic_batch(args.batch, args.seconds, model.cfg.samples_per_frame)
        figures = time_training(model, transform, batch, device, dtype, args.steps,
                                args.warmup, [device])
        rows.append({"measurement": name, "model": arch["name"],
                     "parameters_m": round(num_parameters(model) / 1e6, 2), "amp":
                     dtype_name(dtype), "gpus": 1 if device.type == "cuda" else 0,
                     "batch": args.batch, "seconds": args.seconds, "steps": args.steps,
                     "warmup": args.warmup, "audio_s_per_step": batch.duration_s,
                     **rounded(figures),
                     "audio_s_per_wall_s": round(batch.duration_s / figures["s_per_step"], 1)})
        del model, transform
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return rows


def measure_decode(arch: dict, device: torch.device, args: argparse.Namespace) -> dict:
    """Greedy decoding RTF of ``DECODE_AUDIO_S`` seconds in batches of ``--decode-batch``."""
    model, transform = make_model(arch, device)
    model.eval()
    n = max(1, round(DECODE_AUDIO_S / args.seconds))
    full = synthetic_batch(n, args.seconds, model.cfg.samples_per_frame)
    batches = [(full.wavs[i:i + args.decode_batch].to(device),
                full.wav_lens[i:i + args.decode_batch].to(device))
               for i in range(0, n, args.decode_batch)]
    audio_s = full.duration_s

    @torch.inference_mode()
    def decode_all() -> float:
        t = time.perf_counter()
        for wavs, lens in batches:
            feats, feat_lens = transform(wavs, lens)
            log_probs, out_lens = model(feats, feat_lens)
            greedy(log_probs, out_lens, VOCAB)  # argmax on the device, collapse on the CPU
        sync(device)
        return time.perf_counter() - t

    decode_all()  # warm-up pass (cuDNN autotuning, allocator), not timed
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    with UtilSampler([device]) as util:
        walls = [decode_all() for _ in range(args.decode_reps)]
    wall = statistics.median(walls)
    peak = (torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda"
            else None)
    return {"measurement": "decode", "model": arch["name"], "amp": "off",
            "gpus": 1 if device.type == "cuda" else 0, "decoder": "greedy",
            "audio_s": audio_s, "utterances": n, "seconds": args.seconds,
            "batch": args.decode_batch, "batches": len(batches), "reps": args.decode_reps,
            "s_per_batch": round(wall / len(batches), 5), "rtf": round(wall / audio_s, 5),
            "rtf_min": round(min(walls) / audio_s, 5), "rtf_max": round(max(walls) / audio_s, 5),
            "audio_s_per_wall_s": round(audio_s / wall, 1),
            "peak_gib": None if peak is None else round(peak, 4), "util_pct": util.mean,
            "util_source": util.source}


def ddp_worker(args: argparse.Namespace) -> None:
    """One torchrun rank: the AMP-on training step under DDP; rank 0 writes the figures to
    ``args.ddp_worker``."""
    device = (torch.device("cpu") if args.smoke
              else torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0"))))
    world = distributed.init(device)
    torch.backends.cudnn.benchmark = device.type == "cuda"
    arch = preset("tiny" if args.smoke else "base")
    model, transform = make_model(arch, device)
    ddp = torch.nn.parallel.DistributedDataParallel(
        model, device_ids=[device.index] if device.type == "cuda" else None)
    batch = synthetic_batch(args.batch, args.seconds, model.cfg.samples_per_frame,
                            seed=SEED + world.rank)
    dtype = amp_on(device)
    util_devices = ([torch.device("cuda", i) for i in range(world.size)]
                    if world.main and device.type == "cuda" else [])
    figures = time_training(ddp, transform, batch, device, dtype, args.steps, args.warmup,
                            util_devices)
    peaks = [None] * world.size
    torch.distributed.all_gather_object(peaks, figures["peak_gib"])
    if world.main:
        audio = batch.duration_s * world.size
        row = {"measurement": "ddp", "model": arch["name"],
               "parameters_m": round(num_parameters(model) / 1e6, 2), "amp": dtype_name(dtype),
               "gpus": world.size if device.type == "cuda" else 0, "processes": world.size,
               "backend": torch.distributed.get_backend(), "batch_per_rank": args.batch,
               "seconds": args.seconds, "steps": args.steps, "warmup": args.warmup,
               "audio_s_per_step": audio, **rounded(figures),
               "peak_gib": max(peaks) if peaks[0] is not None else None,
               "peak_gib_per_rank": [None if p is None else round(p, 4) for p in peaks],
               "audio_s_per_wall_s": round(audio / figures["s_per_step"], 1)}
        Path(args.ddp_worker).write_text(json.dumps(rounded(row)) + "\n")
    distributed.finish()


def measure_ddp(args: argparse.Namespace) -> dict:
    """Starts this script under torchrun on every GPU (2 CPU processes with --smoke)."""
    procs = SMOKE_DDP_PROCS if args.smoke else torch.cuda.device_count()
    if procs < 2:
        return {"measurement": "ddp", "model": "base", "gpus": procs, "skipped": True,
                "reason": f"{procs} CUDA device(s): DDP needs at least 2"}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "ddp.json"
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc-per-node={procs}", str(Path(__file__).resolve()),
               "--ddp-worker", str(out), "--steps", str(args.steps), "--warmup",
               str(args.warmup), "--batch", str(args.batch), "--seconds", str(args.seconds),
               *(["--smoke"] if args.smoke else [])]
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        res = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=env)
        if res.returncode != 0 or not out.is_file():
            tail = (res.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise RuntimeError(f"DDP run failed (exit {res.returncode}): {tail}")
        return json.loads(out.read_text())


def environment(device: torch.device) -> dict:
    """Where the figures were taken: device, versions, commit, seed, command line."""
    cuda = device.type == "cuda"
    return {"device": torch.cuda.get_device_name(device) if cuda else
            f"cpu ({platform.machine()}, {os.cpu_count()} cores)",
            "gpu_count": torch.cuda.device_count() if torch.cuda.is_available() else 0,
            "gpu_memory_gib": round(torch.cuda.get_device_properties(device).total_memory
                                    / 2**30, 1) if cuda else None,
            "bf16_supported": torch.cuda.is_bf16_supported() if cuda else None,
            "torch": torch.__version__, "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version() if cuda else None,
            "cudnn_benchmark": cuda, "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
            "torch_threads": torch.get_num_threads(), "python": platform.python_version(),
            "git_commit": git_commit(),
            "seed": SEED, "command": " ".join(["python", "bench/gpu.py", *sys.argv[1:]])}


def fmt(v: float | None, spec: str) -> str:
    return "–" if v is None else format(v, spec)


def markdown(rows: list[dict]) -> str:
    lines = ["| measurement | model | AMP | GPUs | s/step | audio s/s | RTF | peak GiB | util % |",
             "|---|---|---|--:|--:|--:|--:|--:|--:|"]
    for r in rows:
        if r.get("skipped"):
            lines.append(f"| {r['measurement']} | {r['model']} | – | {r['gpus']} | "
                         f"skipped: {r['reason']} | | | | |")
            continue
        step = r.get("s_per_step", r.get("s_per_batch"))
        gpus = r["gpus"] or ("CPU" if r.get("processes", 1) == 1 else f"CPU x{r['processes']}")
        lines.append(f"| {r['measurement']} | {r['model']} | {r['amp']} | {gpus} | "
                     f"{fmt(step, '.4f')} | {fmt(r['audio_s_per_wall_s'], '.1f')} | "
                     f"{fmt(r.get('rtf'), '.5f')} | {fmt(r['peak_gib'], '.2f')} | "
                     f"{fmt(r['util_pct'], '.0f')} |")
    return "\n".join(lines)


def parse_only(values: list[str] | None) -> list[str]:
    """The measurements ``--only`` names (all when none), in run order.

    Raises:
        ValueError: an unknown name.
    """
    chosen = [v.strip() for item in values or [] for v in item.split(",") if v.strip()]
    unknown = sorted(set(chosen) - set(MEASUREMENTS))
    if unknown:
        raise ValueError(f"unknown measurement(s) {unknown}; known: {', '.join(MEASUREMENTS)}")
    return [m for m in MEASUREMENTS if m in chosen] if chosen else list(MEASUREMENTS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=None, help="timed steps (20; smoke 2)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps (5; smoke 1)")
    parser.add_argument("--batch", type=int, default=16, help="utterances per batch")
    parser.add_argument("--seconds", type=float, default=None,
                        help="seconds per utterance (5; smoke 1)")
    parser.add_argument("--decode-batch", type=int, default=4,
                        help="utterances per decoding batch")
    parser.add_argument("--decode-reps", type=int, default=None,
                        help="timed decoding passes, median reported (3; smoke 1)")
    parser.add_argument("--only", action="append", metavar="{train,ddp,decode,ssl}",
                        help="measurements to run (repeatable or a comma list; default all)")
    parser.add_argument("--out", default="bench/results/gpu.json")
    parser.add_argument("--smoke", action="store_true",
                        help="check the script on the CPU with tiny models (not a measurement)")
    parser.add_argument("--ddp-worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    try:
        only = parse_only(args.only)
    except ValueError as e:
        parser.error(f"--only: {e}")
    defaults = {"steps": (2, 20), "warmup": (1, 5), "seconds": (1.0, 5.0), "decode_reps": (1, 3)}
    for key, (smoke, full) in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, smoke if args.smoke else full)
    if min(args.steps, args.batch, args.decode_batch, args.decode_reps) < 1 or args.warmup < 0:
        parser.error("--steps, --batch, --decode-batch and --decode-reps must be >= 1, "
                     "--warmup >= 0")
    if args.seconds <= 0:
        parser.error("--seconds must be > 0")
    if args.ddp_worker:
        ddp_worker(args)
        return
    if not args.smoke and not torch.cuda.is_available():
        print(NO_CUDA, file=sys.stderr)
        raise SystemExit(2)

    device = torch.device("cpu") if args.smoke else torch.device("cuda", 0)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    fbank_arch = preset("tiny" if args.smoke else "base")
    rows: list[dict] = []
    wall0 = time.perf_counter()
    if "train" in only:
        rows += measure_train(fbank_arch, device, [None, amp_on(device)], args, "train")
    if "ddp" in only:
        rows.append(measure_ddp(args))
        single = [r for r in rows if r["measurement"] == "train" and r["amp"] != "off"]
        ddp = rows[-1]
        if single and not ddp.get("skipped"):
            speedup = ddp["audio_s_per_wall_s"] / single[0]["audio_s_per_wall_s"]
            ddp["speedup_vs_1"] = round(speedup, 3)
            ddp["scaling_efficiency"] = round(speedup / ddp["processes"], 3)
    if "decode" in only:
        rows.append(measure_decode(fbank_arch, device, args))
    if "ssl" in only:
        arch, source = ssl_arch(args.smoke)
        ssl = measure_train(arch, device, [amp_on(device)], args, "ssl")[0]
        rows.append({**ssl, "preset": source, "layer_drop": arch.get("layer_drop", 0.0),
                     "mask_time_prob": arch.get("mask_time_prob", 0.0),
                     "trainable": "all parameters"})

    result = {"bench": "gpu", "smoke": args.smoke,
              "note": ("smoke run on the CPU with tiny models: checks the script, not a "
                       "measurement") if args.smoke else "synthetic batches, random weights",
              **environment(device), "measurements": rows,
              "bench_wall_s": round(time.perf_counter() - wall0, 1)}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {out}")
    print(markdown(rows))


if __name__ == "__main__":
    main()
