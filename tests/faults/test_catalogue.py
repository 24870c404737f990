"""The fault catalogue: every fault and bad-input case users met (issues 16 and 31), each with
the tests that reproduce it as a user meets it (a recipe run in a subprocess or in-process
with the same exit code and output, real files). Issue 31's cases live in ``tests/faults/``;
the earlier ones stay beside the recipe or module they concern. This module keeps the list
honest: a case whose test was renamed or removed, or a test in ``tests/faults/`` that no case
names, fails here. BENCHMARKS.md's fault tables describe each case."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent.parent

# (case, [test file::function]); a function may be parametrised over several inputs
CATALOGUE: list[tuple[str, list[str]]] = [
    # issue 31
    ("decode of a non-best checkpoint leaves the run's own results and model card alone",
     ["faults/test_decode_faults.py::test_an_older_checkpoint_does_not_overwrite_the_runs_own_results"]),
    ("newest checkpoint damaged (meta.json or trainer.pt gone, weights truncated or garbage, "
     "directory removed): resumed from the one before, the damaged one set aside",
     ["faults/test_checkpoint_faults.py::test_a_damaged_newest_checkpoint_falls_back_to_the_one_before",
      "faults/test_checkpoint_faults.py::test_a_damaged_checkpoint_is_set_aside_with_its_files_and_the_pointers_repaired",
      "faults/test_checkpoint_faults.py::test_a_checkpoint_damaged_twice_is_set_aside_twice",
      "faults/test_checkpoint_faults.py::test_a_recipe_resumes_past_a_truncated_newest_checkpoint"]),
    ("best.json naming a damaged checkpoint",
     ["faults/test_checkpoint_faults.py::test_best_json_naming_a_damaged_checkpoint_falls_back_to_the_best_before"]),
    ("no whole checkpoint; an unreadable latest.json; a checkpoint of another format",
     ["faults/test_checkpoint_faults.py::test_no_whole_checkpoint_is_one_error_naming_them",
      "faults/test_checkpoint_faults.py::test_an_unreadable_latest_pointer_finds_the_newest",
      "faults/test_checkpoint_faults.py::test_a_checkpoint_of_another_format_is_an_error_not_damage"]),
    ("an audio file fixed in place rebuilds the cached import",
     ["faults/test_data_faults.py::test_an_audio_file_fixed_in_place_rebuilds_the_cached_import",
      "faults/test_data_faults.py::test_a_cache_from_before_the_audio_key_is_kept_until_its_audio_changes"]),
    ("+key / ++key of a key the recipe lacks; train.lr=-1 names the one key",
     ["faults/test_checkpoint_faults.py::test_bad_settings_are_one_line_naming_the_key",
      "faults/test_errors.py::test_plus_is_refused_only_for_keys_the_recipe_lacks",
      "faults/test_errors.py::test_check_overrides_composes_the_config_named_by_config_name"]),
    ("a zero-byte or fake .wav: one line, no stray log line",
     ["faults/test_data_faults.py::test_unreadable_wav_in_a_kaldi_dir_fails_in_one_line_and_nothing_else",
      "faults/test_decode_faults.py::test_transcribing_an_unreadable_wav_prints_one_line_and_nothing_else"]),
    ("data.cache_dir on decode and transcribe",
     ["faults/test_decode_faults.py::test_decode_and_transcribe_honour_data_cache_dir"]),
    ("kill -9 during corpus synthesis",
     ["faults/test_data_faults.py::test_kill_9_during_synthesis_leaves_no_worker_and_no_traceback"]),
    ("model.safetensors as readable as the other files",
     ["faults/test_checkpoint_faults.py::test_weights_are_as_readable_as_the_other_files"]),
    ("decoding a read-only run without exp_dir fails first",
     ["faults/test_decode_faults.py::test_a_read_only_run_fails_before_decoding_suggesting_exp_dir"]),
    ("out-of-script utterances kept are not reported as dropped",
     ["faults/test_data_faults.py::test_out_of_script_utterances_kept_are_not_reported_as_dropped"]),
    ("a bug keeps its traceback; a user's error is one line; corrupt files a run wrote and "
     "settings read outside a settings class name the file or key",
     ["faults/test_errors.py::test_a_bug_keeps_its_traceback",
      "faults/test_errors.py::test_a_user_error_is_one_line",
      "faults/test_errors.py::test_user_errors_are_value_errors_for_old_callers",
      "faults/test_errors.py::test_a_corrupt_file_a_run_wrote_is_one_error_naming_it",
      "faults/test_errors.py::test_a_setting_read_outside_a_settings_class_names_its_key"]),
    # issue 16 and before: signals, locks, filesystems, formats, overrides, the Python API
    ("SIGTERM / SIGINT during training, then the rerun: the uninterrupted weights",
     ["recipes/test_pretrain_decode.py::test_failed_start_then_sigterm_then_resume",
      "train/test_signals.py::test_a_signal_checkpoints_and_the_resume_is_exact"]),
    ("kill -9 mid-epoch, then the rerun: the same weights",
     ["recipes/test_pretrain_decode.py::test_kill_9_mid_epoch_then_rerun_reaches_the_same_weights"]),
    ("a second run on a run dir a live run holds",
     ["recipes/test_pretrain_decode.py::test_a_run_dir_held_by_a_live_run_is_refused"]),
    ("exp_dir or data.cache_dir inside a file or read-only; bad overrides of each recipe",
     ["recipes/test_pretrain_decode.py::test_bad_inputs_fail_in_one_named_line",
      "recipes/test_transcribe.py::test_bad_inputs_fail_in_one_named_line",
      "recipes/test_speaker_adapt.py::test_bad_inputs_fail_in_one_named_line",
      "recipes/test_lid.py::test_bad_inputs_fail_in_one_named_line",
      "recipes/test_rank.py::test_bad_inputs_fail_in_one_named_line"]),
    ("bad train, decode, strategy and adaptation settings name the key",
     ["test_configs.py::test_bad_train_settings_fail_in_one_line",
      "test_configs.py::test_bad_decode_settings_fail_in_one_line",
      "test_configs.py::test_bad_strategy_settings_fail_in_one_line",
      "test_adapt_config.py::test_bad_settings_fail_in_one_line_naming_the_key"]),
    ("LID run resumed to the uninterrupted weights",
     ["lid/test_train.py::test_lid_training_resumes_to_the_same_weights"]),
    ("SPHERE: PCM, mu-law, A-law, 8 kHz stereo, shorten without sph2pipe, corrupt",
     ["data/test_sphere.py::test_pcm_ulaw_alaw_sphere_import_and_load",
      "data/test_sphere.py::test_sphere_named_wav_and_8k_stereo_sphere",
      "data/test_sphere.py::test_shorten_sphere_fails_in_one_line_saying_how",
      "data/test_sphere.py::test_corrupt_sphere_is_named"]),
    ("IARPA BABEL packs, malformed ones",
     ["data/test_babel.py::test_babel_pack_imports_splits_text_and_8k_audio",
      "data/test_babel.py::test_babel_bad_packs_fail_in_one_named_line"]),
    ("Kaldi / Common Voice: missing, corrupt, empty audio; mismatched ids; empty or "
     "out-of-script transcripts; segments of unknown recordings; skip_bad",
     ["data/test_real_corpora.py::test_missing_corrupt_and_empty_audio",
      "data/test_real_corpora.py::test_mismatched_utterance_ids",
      "data/test_real_corpora.py::test_kaldi_dir_without_text",
      "data/test_real_corpora.py::test_empty_transcript_fails_or_is_counted",
      "data/test_real_corpora.py::test_out_of_script_transcripts",
      "data/test_real_corpora.py::test_unknown_source_and_language",
      "data/test_real_corpora.py::test_skip_bad_drops_zero_length_audio_and_orphan_ids",
      "data/test_real_corpora.py::test_skip_bad_drops_segments_of_unknown_recordings",
      "data/test_real_corpora.py::test_commonvoice_skip_bad_drops_zero_length_clips"]),
    ("data.hours beyond a corpus or malformed; a dir too small to split",
     ["data/test_hours_and_splits.py::test_hours_beyond_the_corpus_use_it_all_and_say_so",
      "data/test_hours_and_splits.py::test_bad_hours_fail_naming_the_key",
      "data/test_hours_and_splits.py::test_a_dir_too_small_to_split_warns_and_suggests_split_all"]),
    ("decode split=all of a one-utterance Kaldi dir; speaker adaptation of one speaker",
     ["recipes/test_pretrain_decode.py::test_decode_exp_dir_and_split_all_of_a_tiny_kaldi_dir",
      "recipes/test_pretrain_decode.py::test_speaker_adapt_split_all_of_one_speakers_kaldi_dir"]),
    ("bad channel options", ["test_channel.py::test_bad_channel_options_fail_in_one_line",
                             "test_channel.py::test_bad_override_fails_in_one_line"]),
    ("the Python API: bad inputs, a multilingual checkpoint without a language, a LID "
     "checkpoint, 8 kHz and stereo files",
     ["test_api.py::test_bad_inputs_raise_clear_errors",
      "test_api.py::test_multilingual_checkpoint_needs_a_language",
      "test_api.py::test_a_lid_checkpoint_is_refused",
      "test_api.py::test_real_clips_8khz_and_stereo_files_as_the_data_layer_reads_them"]),
]


def _functions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {n.name for n in tree.body if isinstance(n, ast.FunctionDef)
            and n.name.startswith("test_")}


@pytest.mark.parametrize("case, tests", CATALOGUE, ids=[c[:40] for c, _ in CATALOGUE])
def test_every_case_names_tests_that_exist(case, tests):
    for node in tests:
        rel, _, name = node.partition("::")
        path = TESTS / rel
        assert path.is_file(), f"{case}: no test file {rel}"
        assert name in _functions(path), f"{case}: {rel} has no {name}"


def test_every_fault_test_is_in_the_catalogue():
    named = {node for _, tests in CATALOGUE for node in tests}
    here = Path(__file__).resolve().parent
    missing = [f"faults/{p.name}::{name}" for p in sorted(here.glob("test_*.py"))
               if p.name != Path(__file__).name for name in sorted(_functions(p))
               if f"faults/{p.name}::{name}" not in named]
    assert not missing, f"fault tests no case names: {missing}"
