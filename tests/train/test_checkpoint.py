import json

import pytest
import torch

from asrtl.data.vocab import Vocabulary
from asrtl.models.ctc import CTCModel, ModelConfig
from asrtl.train.checkpoint import load_checkpoint, load_trainer_state, save_checkpoint

VOCAB = Vocabulary.from_texts(["ab cd"])
CFG = ModelConfig(name="t", dim=32, num_layers=2, heads=2, ffn_dim=64, subsampling_channels=8,
                  vocab_size=len(VOCAB))


def _save(tmp_path, cfg=CFG):
    torch.manual_seed(0)
    model = CTCModel(cfg)
    opt = torch.optim.AdamW(model.parameters())
    model(torch.randn(1, 50, 80), torch.tensor([50]))[0].sum().backward()
    opt.step()
    path = save_checkpoint(tmp_path / "checkpoints", "step-000001", model,
                           {"vocab": VOCAB.tokens, "language": "x"},
                           {"optimizer": opt.state_dict(), "step": 1})
    return model, path


def test_round_trip(tmp_path):
    model, path = _save(tmp_path)
    ck = load_checkpoint(path)
    for k, v in model.state_dict().items():
        torch.testing.assert_close(ck.model.state_dict()[k], v)
    assert ck.vocab == VOCAB and ck.meta.architecture["dim"] == 32
    assert load_trainer_state(path)["step"] == 1  # weights_only=True load
    assert not list((tmp_path / "checkpoints").glob("*.tmp"))


def test_other_architecture_names_both(tmp_path):
    _, path = _save(tmp_path)
    other = ModelConfig(**{**CFG.to_dict(), "dim": 48})
    with pytest.raises(ValueError, match="another architecture: dim=32 there vs 48 here"):
        load_checkpoint(path, expect=other)


def test_corrupt_files_are_named(tmp_path):
    _, path = _save(tmp_path)
    (path / "model.safetensors").write_bytes(b"\x00" * 20)
    with pytest.raises(ValueError, match="corrupt checkpoint weights .*model.safetensors"):
        load_checkpoint(path)
    (path / "meta.json").write_text('{"format_version": 1, "arch')
    with pytest.raises(ValueError, match="corrupt checkpoint metadata .*meta.json"):
        load_checkpoint(path)
    (path / "trainer.pt").write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="corrupt trainer state"):
        load_trainer_state(path)


def test_weights_of_another_shape_are_refused(tmp_path):
    _, path = _save(tmp_path)
    meta = json.loads((path / "meta.json").read_text())
    meta["architecture"]["num_layers"] = 3
    (path / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="do not fit the architecture"):
        load_checkpoint(path)


def test_half_written_checkpoint_is_not_found(tmp_path):
    (tmp_path / "checkpoints" / "step-000009.tmp").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="no asrtl checkpoint"):
        load_checkpoint(tmp_path)


def test_meta_is_one_typed_record(tmp_path):
    """``meta.json`` reads into :class:`CheckpointMeta`: named fields typed, a kind's own keys
    kept in ``extra`` and written back as they were; a future format version is refused
    naming it, a field of the wrong kind names the file and the field."""
    import json

    from asrtl.train.checkpoint import FORMAT_VERSION, CheckpointMeta, FormatMismatch, read_meta

    path = save_checkpoint(tmp_path, "step-000001", CTCModel(CFG),
                           {"vocab": VOCAB.tokens, "language": "xx", "step": 1,
                            "adapt_ids": ["a", "b"]})
    meta = read_meta(path)
    assert meta.language == "xx" and meta.step == 1 and meta.kind == "ctc"
    assert meta.extra == {"adapt_ids": ["a", "b"]}
    written = json.loads((path / "meta.json").read_text())
    # the default kind and units made explicit; null fields (git_commit outside a git
    # checkout) left out
    assert meta.to_dict() == {"kind": "ctc", "units": "chars", **{k: v for k, v in written.items()
                                                if v is not None}}
    with pytest.raises(FormatMismatch, match=f"format {FORMAT_VERSION + 1}"):
        CheckpointMeta.from_dict({**written, "format_version": FORMAT_VERSION + 1}, "m.json")
    with pytest.raises(ValueError, match="m.json: languages is not a list"):
        CheckpointMeta.from_dict({**written, "languages": "xx"}, "m.json")
