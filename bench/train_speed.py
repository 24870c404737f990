"""Training and decoding speed on this machine (CPU unless --device says otherwise).

    python bench/train_speed.py [--device cpu] [--models tiny small]

For each model preset, on the same batches of the embedded Turkish corpus:
- ``audio_s_per_wall_s``: audio seconds trained per wall second by asrtl's pipeline
  (loader with its worker + :func:`asrtl.train.loop.train_step`);
- ``step_ratio_vs_bare_pytorch``: asrtl's step time over a bare PyTorch loop (same model,
  batches already in memory, same features, loss and optimizer), timed alternately in one run;
- ``data_headroom``: audio seconds the loader + features deliver per wall second, over what
  training consumes (goal >= 5), with one loader worker and with two;
- decode real-time factors (greedy, lexicon beam) on the dev split; peak RSS.
Writes ``bench/results/train_speed.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import time
from pathlib import Path

import torch
import yaml

from asrtl.data.features import Fbank, SpecAugment
from asrtl.data.loader import BatchDataset, make_loader, train_batches
from asrtl.data.manifest import cut_texts, cut_words, prepare_corpus
from asrtl.data.vocab import Vocabulary
from asrtl.eval.decode import BeamDecoder
from asrtl.eval.evaluate import decode_cuts
from asrtl.models.ctc import ModelConfig, num_parameters
from asrtl.models.factory import build_model
from asrtl.train.device import resolve_device
from asrtl.train.loop import train_step

REPO = Path(__file__).resolve().parent.parent


def bare_step(model, fbank, optimizer, wavs, wav_lens, targets, target_lens) -> None:
    feats, feat_lens = fbank(wavs, wav_lens)
    log_probs, out_lens = model(feats, feat_lens)
    loss = torch.nn.functional.ctc_loss(log_probs.transpose(0, 1), targets, out_lens,
                                        target_lens, reduction="sum", zero_infinity=True)
    loss = loss / target_lens.sum()
    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
    optimizer.step()


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def measure(preset: str, corpus, device: torch.device, rounds: int) -> dict:
    train = corpus.cuts("train")
    vocab = Vocabulary.from_texts(cut_texts(train))
    arch = yaml.safe_load((REPO / "conf" / "model" / f"{preset}.yaml").read_text())
    torch.manual_seed(0)
    model = build_model(ModelConfig.from_dict({**arch, "vocab_size": len(vocab)})).to(device)
    fbank = Fbank().to(device)
    batches = train_batches(train, 60.0, seed=0, epoch=0)
    data = BatchDataset(train, batches, vocab)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    scaler = torch.amp.GradScaler(device.type, enabled=False)
    specaug = SpecAugment(0, 0, 0, 0)  # same work as the bare loop: no masking

    # Data pipeline alone: load + collate + features, as training sees it (1 and 2 workers).
    data_audio_per_s = {}
    for workers in (1, 2):
        t0 = time.perf_counter()
        audio = 0.0
        for batch in make_loader(data, num_workers=workers):
            batch = batch.to(device)
            fbank(batch.wavs, batch.wav_lens)
            audio += batch.duration_s
        sync(device)
        data_audio_per_s[workers] = audio / (time.perf_counter() - t0)

    # asrtl's pipeline end to end over the epoch (loader worker + train_step).
    model.train()
    t0, audio = time.perf_counter(), 0.0
    for batch in make_loader(data, num_workers=1):
        train_step(model, fbank, specaug, optimizer, scaler, batch.to(device), 5.0, None)
        audio += batch.duration_s
    sync(device)
    train_audio_per_s = audio / (time.perf_counter() - t0)

    # Step ratio: the same in-memory batches, asrtl's step and a bare loop alternately.
    held = [data[i].to(device) for i in range(min(6, len(data)))]
    asrtl_s, bare_s = 0.0, 0.0
    for _ in range(rounds):
        for b in held:
            t = time.perf_counter()
            train_step(model, fbank, specaug, optimizer, scaler, b, 5.0, None)
            sync(device)
            asrtl_s += time.perf_counter() - t
            t = time.perf_counter()
            bare_step(model, fbank, optimizer, b.wavs, b.wav_lens, b.targets, b.target_lens)
            sync(device)
            bare_s += time.perf_counter() - t

    dev = corpus.cuts("dev")
    greedy = decode_cuts(model, fbank, vocab, dev, device)
    t0 = time.perf_counter()
    greedy = decode_cuts(model, fbank, vocab, dev, device)
    greedy_rtf = (time.perf_counter() - t0) / greedy.audio_s
    words = cut_words(train)
    beam = BeamDecoder(vocab, words, beam_size=32)
    t0 = time.perf_counter()
    out = decode_cuts(model, fbank, vocab, dev, device, decoder=beam)
    beam_rtf = (time.perf_counter() - t0) / out.audio_s
    return {"model": preset, "parameters_m": round(num_parameters(model) / 1e6, 2),
            "audio_s_per_wall_s": round(train_audio_per_s, 1),
            "step_ratio_vs_bare_pytorch": round(asrtl_s / bare_s, 3),
            "data_audio_s_per_wall_s": round(data_audio_per_s[1], 1),
            "data_headroom": round(data_audio_per_s[1] / train_audio_per_s, 1),
            "data_audio_s_per_wall_s_2_workers": round(data_audio_per_s[2], 1),
            "data_headroom_2_workers": round(data_audio_per_s[2] / train_audio_per_s, 1),
            "decode_rtf_greedy": round(greedy_rtf, 4), "decode_rtf_beam": round(beam_rtf, 4),
            "epoch_audio_s": round(sum(c.duration for c in train), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--models", nargs="+", default=["tiny", "small"])
    parser.add_argument("--hours", type=float, default=0.1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default="bench/results/train_speed.json")
    args = parser.parse_args()
    device = resolve_device(args.device)
    corpus = prepare_corpus({"name": "embedded", "hours": args.hours}, "turkish")
    runs = [measure(m, corpus, device, args.rounds) for m in args.models]
    result = {"bench": "train_speed", "device": str(device),
              "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch "
                         f"{torch.__version__}, {torch.get_num_threads()} threads",
              "runs": runs,
              "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}
    print(json.dumps(result, indent=1))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
