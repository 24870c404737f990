"""Builders shared by several test modules: Kaldi dirs, data configs, Hugging Face wav2vec 2.0
files and an untrained multilingual checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from asrtl.data.features import FeatureConfig
from asrtl.data.vocab import Vocabulary
from asrtl.models.ctc import ModelConfig
from asrtl.multilingual.model import MultilingualCTC, checkpoint_meta
from asrtl.train.checkpoint import save_checkpoint


def kaldi_dir(root: Path, rows: list[dict], text=None) -> Path:
    """A Kaldi data dir (``wav.scp``, ``text``, ``utt2spk``) of manifest ``rows`` read in place;
    ``text(row)``, when given, replaces each row's transcript."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "wav.scp").write_text("".join(f"{r['utt_id']} {r['abspath']}\n" for r in rows))
    (root / "text").write_text("".join(
        f"{r['utt_id']} {r['transcript'] if text is None else text(r)}\n" for r in rows))
    (root / "utt2spk").write_text("".join(f"{r['utt_id']} {r['speaker']}\n" for r in rows))
    return root


def data_config(source: str, path: Path, cache: Path, **kw) -> dict:
    """The ``data`` config of a real corpus, as :func:`asrtl.data.manifest.prepare_corpus`
    takes it: ``source`` read from ``path``, manifests cached under ``cache``."""
    return {"name": source, "path": str(path), "cache_dir": str(cache), **kw}


def hf_names(state: dict) -> dict:
    """torchaudio names -> Hugging Face ``Wav2Vec2ForCTC`` names (written independently of
    the loader's mapping, from the transformers module layout)."""
    out = {}
    for k, v in state.items():
        if k.startswith("aux."):
            k = "lm_head." + k[4:]
        elif k.startswith("feature_extractor."):
            k = "wav2vec2." + k
        elif k.startswith("encoder.feature_projection."):
            k = "wav2vec2." + k[len("encoder."):]
        elif k.startswith("encoder.transformer."):
            k = "wav2vec2.encoder." + k[len("encoder.transformer."):]
        out[k] = v.contiguous()
    return out


def hf_config(cfg: ModelConfig) -> dict:
    """The Hugging Face ``config.json`` of a wav2vec 2.0 ``cfg`` (a 12-token CTC head)."""
    return {"model_type": "wav2vec2", "feat_extract_norm": cfg.extractor_mode.split("_")[0],
            "conv_dim": [c[0] for c in cfg.conv_layers],
            "conv_kernel": [c[1] for c in cfg.conv_layers],
            "conv_stride": [c[2] for c in cfg.conv_layers], "conv_bias": cfg.conv_bias,
            "hidden_size": cfg.dim, "num_hidden_layers": cfg.num_layers,
            "num_attention_heads": cfg.heads, "intermediate_size": cfg.ffn_dim,
            "num_conv_pos_embeddings": cfg.pos_conv_kernel,
            "num_conv_pos_embedding_groups": cfg.pos_conv_groups,
            "do_stable_layer_norm": cfg.layer_norm_first, "vocab_size": 12}


def fake_multilingual(ckpt_dir: Path, corpus_dir: str = "", source: str = "embedded") -> Path:
    """An untrained two-language checkpoint (languages ``a`` and ``b``) in ``ckpt_dir``,
    named by its ``best.json``."""
    vocabs = {"a": Vocabulary.from_texts(["ab"]), "b": Vocabulary.from_texts(["xyz"])}
    torch.manual_seed(0)
    model = MultilingualCTC(ModelConfig(name="tiny", dim=32, num_layers=1, heads=2, ffn_dim=64,
                                        subsampling_channels=8), vocabs)
    meta = {**checkpoint_meta(vocabs), "parent": None, "step": 1, "epoch": 1,
            "features": FeatureConfig().to_dict(),
            "corpus": {lang: {"source": source, "dir": corpus_dir} for lang in vocabs}}
    ckpt = save_checkpoint(ckpt_dir, "step-000001", model, meta)
    (ckpt_dir / "best.json").write_text(json.dumps({"name": ckpt.name}))
    return ckpt
