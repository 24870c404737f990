"""Run records: what a recipe writes reads back typed; old files load; newer versions, missing
fields and wrong types are refused in one line naming the file and the field."""

from __future__ import annotations

import json

import pytest

from asrtl.errors import MissingInput, UserError
from asrtl.records import MultilingualSummary, Ranking, RecordVersionMismatch, TransferSummary

# recipes/transfer.py's summary.json before records had a version (every key it wrote)
OLD_TRANSFER = {"source": "assamese", "target": "bengali", "strategy": "finetune",
                "source_checkpoint": "exp/pretrain/assamese-0.6h/checkpoints/step-000400",
                "source_hours": 0.6, "target_hours": 0.1, "wer": 0.62, "cer": 0.21,
                "wer_percent": 62.0, "cer_percent": 21.0, "beam": None, "epochs": 20,
                "steps": 400, "wall_s": 81.5, "device": "cpu", "seed": 0,
                "copy": "copied 70 tensors (frontend, encoder), re-initialised 2, frozen 0"}


def test_a_summary_reads_back_as_written(tmp_path):
    s = TransferSummary(**OLD_TRANSFER)
    s.save(tmp_path / "summary.json")
    on_disk = json.loads((tmp_path / "summary.json").read_text())
    assert {k: on_disk[k] for k in OLD_TRANSFER} == OLD_TRANSFER  # every key as written
    assert on_disk["record_version"] == 1 and on_disk["units"] == "chars"
    assert TransferSummary.load(tmp_path / "summary.json") == s


def test_a_run_dir_written_before_versions_still_loads(tmp_path):
    f = tmp_path / "summary.json"
    f.write_text(json.dumps({**OLD_TRANSFER, "note": "added by hand"}))
    s = TransferSummary.load(f)
    assert (s.source, s.wer_percent, s.steps) == ("assamese", 62.0, 400)
    assert s.extra == {"note": "added by hand"}  # kept, and written back
    s.save(f)
    assert json.loads(f.read_text())["note"] == "added by hand"


def test_a_newer_version_is_refused_naming_it(tmp_path):
    f = tmp_path / "summary.json"
    f.write_text(json.dumps({**OLD_TRANSFER, "record_version": 7}))
    with pytest.raises(RecordVersionMismatch, match=r"transfer summary version 7.*version 1"):
        TransferSummary.load(f)


@pytest.mark.parametrize(("change", "match"), [
    ({"wer": None}, r"wer=None is not float"),
    ({"wer": "62"}, r"wer='62' is not float"),
    ({"steps": 4.5}, r"steps=4.5 is not"),
    ({"record_version": "1"}, r"record_version '1'"),
])
def test_a_wrong_type_names_the_field(tmp_path, change, match):
    f = tmp_path / "summary.json"
    f.write_text(json.dumps({**OLD_TRANSFER, **change}))
    with pytest.raises(UserError, match=match) as e:
        TransferSummary.load(f)
    assert str(f) in str(e.value) and "\n" not in str(e.value)


def test_missing_fields_and_files_are_named(tmp_path):
    f = tmp_path / "summary.json"
    f.write_text(json.dumps({k: v for k, v in OLD_TRANSFER.items() if k != "cer"}))
    with pytest.raises(UserError, match=r"corrupt transfer summary .*summary.json: no cer"):
        TransferSummary.load(f)
    f.write_text("[1, 2]")
    with pytest.raises(UserError, match="not a JSON object"):
        TransferSummary.load(f)
    with pytest.raises(MissingInput, match="no transfer summary at"):
        TransferSummary.load(tmp_path / "absent.json")


def test_a_writer_bug_is_not_shown_as_a_user_error(tmp_path):
    s = TransferSummary(**{**OLD_TRANSFER, "steps": "400"})
    with pytest.raises(TypeError, match="steps='400'"):
        s.save(tmp_path / "summary.json")
    assert not (tmp_path / "summary.json").exists()


def test_ranking_order_and_its_checks(tmp_path):
    r = Ranking(target="bengali", sources=["thai", "assamese"],
                rankers={"combined": {"thai": 0.2, "assamese": 0.9}},
                ranking=[{"source": "assamese", "score": 0.9}, {"source": "thai", "score": 0.2}])
    r.save(tmp_path / "ranking.json")
    back = Ranking.load(tmp_path / "ranking.json")
    assert back == r and back.order == ["assamese", "thai"]
    bad = {**r.to_dict(), "rankers": {"combined": {"thai": "high"}}}
    (tmp_path / "ranking.json").write_text(json.dumps(bad))
    with pytest.raises(UserError, match=r"rankers=.* is not dict\[str, dict\[str, float\]\]"):
        Ranking.load(tmp_path / "ranking.json")
    (tmp_path / "ranking.json").write_text(json.dumps({**r.to_dict(), "ranking": [{"x": 1}]}))
    with pytest.raises(UserError, match="a ranking row without a source"):
        Ranking.load(tmp_path / "ranking.json")


def test_multilingual_summary_round_trip(tmp_path):
    s = MultilingualSummary(languages=["a", "b"], temperature=2.0, sampling={"a": 0.6, "b": 0.4},
                            checkpoint="exp/multilingual/a+b/checkpoints/step-000100",
                            scores={"a": {"test": {"wer": 0.5}}}, steps=100, wall_s=12.0)
    s.save(tmp_path / "summary.json")
    assert MultilingualSummary.load(tmp_path / "summary.json") == s


def test_a_transfer_against_its_scratch_baseline():
    transfer = TransferSummary(**OLD_TRANSFER)
    scratch = TransferSummary(**{**OLD_TRANSFER, "source": "none", "wer": 0.7, "cer": 0.3,
                                 "wer_percent": 70.0, "cer_percent": 30.0})
    vs = transfer.against(scratch, "exp/transfer/none-to-bengali/finetune")
    assert vs == {"run": "exp/transfer/none-to-bengali/finetune", "wer": 0.7, "cer": 0.3,
                  "wer_points": -8.0, "cer_points": -9.0, "worse": False}
    assert transfer.against(TransferSummary(**{**OLD_TRANSFER, "source": "none", "seed": 1}),
                            "x") is None  # another seed: not its baseline
    assert scratch.against(scratch, "x") is None
