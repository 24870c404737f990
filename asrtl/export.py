"""Exporting a trained CTC model for inference outside asrtl: ONNX (onnxruntime) or TorchScript.

The exported graph takes 16 kHz mono waveforms ``(B, S)`` with their lengths ``(B,)`` and
computes the features itself (:class:`asrtl.data.features.Fbank`: mel spectrogram, log,
per-utterance CMVN), or, with ``inputs="features"``, takes those features ``(B, T, F)``. It
returns CTC log-probabilities ``(B, T', V)`` (blank = 0) and their lengths ``(B,)``. Batch
and length axes are dynamic. ``export.json`` beside the model says all of this.

ONNX goes through ``torch.onnx.export(dynamo=True)`` (needs ``onnx`` and ``onnxscript``);
every export is run once with onnxruntime (or TorchScript) on a batch of another size and
lengths than the one it was traced with, and compared with PyTorch.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import logging
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from asrtl.api import ASRModel
from asrtl.errors import UserError
from asrtl.io import write_json_atomic
from asrtl.models.encoder import SUBSAMPLING
from asrtl.train.checkpoint import weights_sha256

log = logging.getLogger(__name__)

FORMATS = {"onnx": "model.onnx", "torchscript": "model.pt"}
INPUTS = ("waveform", "features")
MIN_FRAMES = 7  # the two stride-2 convolutions of the front end need 7 feature frames
CHECK_TOLERANCE = 1e-3  # max |log-prob difference| accepted when checking an export


class ExportError(ValueError):
    """A model, or one of its layers, that does not export (named), or a missing package."""


class WaveformCTC(nn.Module):
    """The feature front end and the CTC model in one module: what is exported.

    Args:
        fbank: waveforms -> features.
        model: features -> log-probabilities.
    """

    def __init__(self, fbank: nn.Module, model: nn.Module) -> None:
        super().__init__()
        self.fbank = fbank
        self.model = model

    def forward(self, wavs: torch.Tensor, wav_lens: torch.Tensor) -> tuple[torch.Tensor,
                                                                             torch.Tensor]:
        """Args:
            wavs: ``(B, S)`` float32 samples at 16 kHz, zero-padded.
            wav_lens: ``(B,)`` int64 valid samples.

        Returns:
            ``(log_probs (B, T', V), out_lens (B,))``.
        """
        feats, feat_lens = self.fbank(wavs, wav_lens)
        return self.model(feats, feat_lens)


def min_samples(asr: ASRModel) -> int:
    """The shortest waveform the exported graph takes (0.1 s at 16 kHz): pad shorter ones
    with zeros and keep their true length (the output is the same)."""
    hop, n_fft = asr.fbank.hop, asr.fbank.mel.n_fft
    step = asr.fbank.cfg.sample_rate // 10
    return -(-(n_fft + (MIN_FRAMES - 1) * hop) // step) * step


def check_settings(fmt: str, inputs: str) -> None:
    """Raises ValueError for a format or an input kind that :func:`export_model` lacks."""
    if fmt not in FORMATS:
        raise UserError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if inputs not in INPUTS:
        raise UserError(f"input must be one of {', '.join(INPUTS)}, got {inputs!r}")


def exportable(asr: ASRModel, inputs: str = "waveform") -> nn.Module:
    """The module to export, in eval mode on the CPU: front end + model, or the model alone
    (a copy: ``asr`` stays on its device)."""
    module = WaveformCTC(asr.fbank, asr.model) if inputs == "waveform" else asr.model
    return copy.deepcopy(module).cpu().eval()


def example_inputs(asr: ASRModel, inputs: str, seconds: tuple[float, ...] = (2.0, 1.5),
                   seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A padded batch of noise (or its features): ``(x (B, S) or (B, T, F), lens (B,))``."""
    g = torch.Generator().manual_seed(seed)
    lens = torch.tensor([int(s * asr.fbank.cfg.sample_rate) for s in seconds])
    wavs = 0.1 * torch.randn(len(seconds), int(lens.max()), generator=g)
    wavs *= torch.arange(wavs.shape[1])[None, :] < lens[:, None]
    if inputs == "waveform":
        return wavs, lens
    with torch.no_grad():
        return asr.fbank(wavs, lens)


def _require(*packages: str) -> None:
    """Imports each package, or raises ExportError naming the missing ones."""
    missing = []
    for p in packages:
        try:
            __import__(p)
        except ImportError:
            missing.append(p)
    if missing:
        raise ExportError(f"format=onnx needs {', '.join(missing)}: pip install 'asrtl[export]'")


@contextlib.contextmanager
def _quiet() -> Any:
    """Silences the exporters' progress lines, warnings and log records."""
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch.export", "torch._export",
                                               "onnxscript", "onnx_ir", "torch.fx.experimental")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with (warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()),
              contextlib.redirect_stderr(io.StringIO())):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def _onnx_names(module: nn.Module) -> tuple[list[str], list[str]]:
    first = ["wavs", "wav_lens"] if isinstance(module, WaveformCTC) else ["feats", "feat_lens"]
    return first, ["log_probs", "out_lens"]


def export_onnx(module: nn.Module, args: tuple[torch.Tensor, ...], path: Path | None,
                dynamic: bool = True, min_length: int = 1) -> Any:
    """Exports ``module`` called on ``args`` to ONNX (``torch.onnx.export(dynamo=True)``).

    Args:
        module: a :class:`WaveformCTC`, a CTC model, or any submodule (then static shapes).
        args: example inputs; for the whole model ``(x (B, S) or (B, T, F), lens (B,))``.
        path: where to write the ``.onnx`` file (weights inside), or None (not written).
        dynamic: dynamic batch and length axes (inputs named as in :func:`_onnx_names`).
        min_length: the shortest length (samples or frames) the graph must take.

    Returns:
        The ``torch.onnx.ONNXProgram``.
    """
    kwargs: dict[str, Any] = {}
    if dynamic:
        batch = torch.export.Dim("batch")
        length = torch.export.Dim("samples" if isinstance(module, WaveformCTC) else "frames",
                                  min=min_length)
        kwargs = {"dynamic_shapes": ({0: batch, 1: length}, {0: batch})}
        kwargs["input_names"], kwargs["output_names"] = _onnx_names(module)
    with _quiet():
        program = torch.onnx.export(module, args, dynamo=True, external_data=False,
                                    verbose=False, **kwargs)
        if path is not None:
            program.save(str(path), external_data=False)
    return program


def export_torchscript(module: nn.Module, args: tuple[torch.Tensor, ...],
                       path: Path | None) -> torch.jit.ScriptModule:
    """Traces ``module`` on ``args`` with ``torch.jit.trace`` and saves it to ``path``."""
    with _quiet(), torch.no_grad():  # TorchScript is deprecated: its warnings say so
        traced = torch.jit.trace(module, args, check_trace=False)
        if path is not None:
            torch.jit.save(traced, str(path))
    return traced


def _reason(e: BaseException) -> str:
    """The root cause of an exporter's failure, one line (exporters nest their errors)."""
    while (e.__cause__ or e.__context__) is not None:
        e = e.__cause__ or e.__context__  # type: ignore[assignment]
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    text = lines[0] if lines else ""
    return f"{type(e).__name__}: {text[:240]}" if text else type(e).__name__


def layer_parts(module: nn.Module) -> dict[str, nn.Module]:
    """The parts of ``module`` to try one by one, input to output: ``fbank`` (when there),
    then the model's named layers (``frontend``, ``encoder.layers.N``, ``head``)."""
    model = module.model if isinstance(module, WaveformCTC) else module
    parts = {"fbank": module.fbank} if isinstance(module, WaveformCTC) else {}
    return {**parts, **{n: model.get_submodule(n) for n in model.layer_names()}}


def find_failing_layer(module: nn.Module, args: tuple[torch.Tensor, ...],
                       export: Callable[[nn.Module, tuple], Any]) -> tuple[str, str] | None:
    """The first part of ``module`` (:func:`layer_parts`) that does not export on its own.

    Each part is exported with static shapes on the inputs it gets when ``module`` runs on
    ``args``.

    Returns:
        ``(layer name, reason)``, or None when every part exports alone.
    """
    parts = layer_parts(module)
    seen: dict[str, tuple] = {}
    hooks = [m.register_forward_pre_hook(lambda _m, a, n=n: seen.setdefault(n, a))
             for n, m in parts.items()]
    try:
        with torch.no_grad():
            module(*args)
    finally:
        for h in hooks:
            h.remove()
    for name, part in parts.items():
        if name not in seen:  # a container never called as a whole (progressive laterals)
            continue
        try:
            export(part, seen[name])
        except Exception as e:  # exporters raise many types; any of them means "not this way"
            return name, _reason(e)
    return None


def _export(module: nn.Module, args: tuple[torch.Tensor, ...], path: Path, fmt: str,
            min_length: int) -> None:
    """Exports in ``fmt``; a failure becomes an ExportError naming the layer responsible."""
    if fmt == "onnx":
        def export(m: nn.Module, a: tuple, p: Path | None = None, dynamic: bool = False) -> Any:
            return export_onnx(m, a, p, dynamic=dynamic, min_length=min_length)
    else:
        def export(m: nn.Module, a: tuple, p: Path | None = None, dynamic: bool = False) -> Any:
            return export_torchscript(m, a, p)
    try:
        export(module, args, path, dynamic=True)
    except Exception as e:  # any exporter failure: find which layer, report it in one line
        log.debug("export failed", exc_info=True)
        found = find_failing_layer(module, args, export)
        if found is None:
            raise ExportError(f"the model does not export to {fmt}: {_reason(e)}") from None
        name, reason = found
        part = layer_parts(module)[name]
        hint = " (export from features with input=features)" if name == "fbank" else ""
        raise ExportError(f"layer {name} ({type(part).__name__}) does not export to {fmt}: "
                          f"{reason}{hint}") from None


def _name_output_axes(path: Path) -> None:
    """Names the output axes ``batch`` and ``frames`` in the ONNX file (the exporter names
    the frame axis by its formula)."""
    import onnx

    proto = onnx.load(str(path))
    for out, names in zip(proto.graph.output, (("batch", "frames", None), ("batch",)),
                          strict=True):
        for dim, name in zip(out.type.tensor_type.shape.dim, names, strict=False):
            if name is not None:
                dim.dim_param = name
    onnx.save(proto, str(path))


def onnx_session(path: str | Path, threads: int | None = None) -> Any:
    """An onnxruntime CPU session for ``path``; ``threads`` intra-op threads (None: ort's
    default)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    if threads is not None:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def run_onnx(session: Any, x: np.ndarray | torch.Tensor, lens: np.ndarray | torch.Tensor
             ) -> tuple[np.ndarray, np.ndarray]:
    """Runs an exported model: ``x`` ``(B, S)`` or ``(B, T, F)`` float32, ``lens`` ``(B,)``.

    Returns:
        ``(log_probs (B, T', V) float32, out_lens (B,) int64)``.
    """
    x = x.numpy() if isinstance(x, torch.Tensor) else x
    lens = lens.numpy() if isinstance(lens, torch.Tensor) else lens
    names = [i.name for i in session.get_inputs()]
    log_probs, out_lens = session.run(None, {names[0]: x.astype(np.float32),
                                             names[1]: lens.astype(np.int64)})
    return log_probs, out_lens


def max_abs_diff(a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray,
                 lens: torch.Tensor | np.ndarray) -> float:
    """Max ``|a - b|`` over the valid frames of log-probabilities ``(B, T', V)``."""
    a, b = torch.as_tensor(a), torch.as_tensor(b)
    if a.shape != b.shape:
        return float("inf")
    return max(float((a[i, :n] - b[i, :n]).abs().max()) for i, n in enumerate(lens.tolist()))


def check_export(module: nn.Module, path: Path, fmt: str, args: tuple[torch.Tensor, ...]
                 ) -> float:
    """Runs the exported file and PyTorch on ``args``; their max log-probability difference.

    Raises:
        ExportError: the output lengths differ.
    """
    with torch.no_grad():
        ref, ref_lens = module(*args)
    if fmt == "onnx":
        out, out_lens = run_onnx(onnx_session(path), *args)
    else:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            out, out_lens = torch.jit.load(str(path))(*args)
    if not np.array_equal(np.asarray(out_lens), ref_lens.numpy()):
        raise ExportError(f"{path} gives output lengths {np.asarray(out_lens).tolist()}, "
                          f"PyTorch {ref_lens.tolist()}")
    return max_abs_diff(out, ref, ref_lens)


def describe(asr: ASRModel, inputs: str, samples: int) -> dict[str, Any]:
    """What the exported model expects and returns: the body of ``export.json``."""
    feat = asr.fbank.cfg
    if inputs == "waveform":
        given = [{"name": "wavs", "dtype": "float32", "shape": ["batch", "samples"],
                  "about": f"mono waveforms at {feat.sample_rate} Hz in [-1, 1], zero-padded to "
                           f"the longest; at least {samples} samples (pad shorter ones with "
                           f"zeros, keeping their true length)"},
                 {"name": "wav_lens", "dtype": "int64", "shape": ["batch"],
                  "about": "valid samples of each waveform"}]
    else:
        given = [{"name": "feats", "dtype": "float32",
                  "shape": ["batch", "frames", feat.num_mel_bins],
                  "about": f"features as asrtl.data.features.Fbank computes them (see "
                           f"'features'), zero-padded; at least {MIN_FRAMES} frames"},
                 {"name": "feat_lens", "dtype": "int64", "shape": ["batch"],
                  "about": "valid frames of each utterance"}]
    frame_shift_s = asr.frame_s  # the API's: word timestamps and the export agree
    return {
        "checkpoint": str(asr.path), "weights_sha256": weights_sha256(asr.model),
        "language": asr.language,
        "architecture": asr.model.cfg.to_dict(), "input": inputs, "inputs": given,
        "outputs": [
            {"name": "log_probs", "dtype": "float32", "shape": ["batch", "frames", "vocab"],
             "about": "CTC log-probabilities (log_softmax over the vocabulary); frames past "
                      "out_lens are padding"},
            {"name": "out_lens", "dtype": "int64", "shape": ["batch"],
             "about": "valid output frames of each utterance"}],
        "sample_rate": feat.sample_rate, "min_samples": samples,
        "features": {**feat.to_dict(), "in_graph": inputs == "waveform"},
        "frame_shift_s": frame_shift_s, "subsampling": SUBSAMPLING,
        "vocab": list(asr.vocab.tokens), "blank": 0, "word_boundary": "|",
        "torch": torch.__version__}


def export_model(asr: ASRModel, out_dir: str | Path, fmt: str = "onnx",
                 inputs: str = "waveform") -> dict[str, Any]:
    """Exports ``asr`` to ``out_dir/model.onnx`` (or ``model.pt``) and writes ``export.json``.

    The file is checked against PyTorch on a batch of another size and other lengths than the
    one it was traced with (dynamic axes). ``export.json`` keeps the other format's entry when
    it describes the same weights and input, and deletes its file otherwise.

    Args:
        asr: a loaded model (:func:`asrtl.api.load_model`).
        out_dir: the export directory (created).
        fmt: ``onnx`` or ``torchscript``.
        inputs: ``waveform`` (features computed in the graph) or ``features``.

    Returns:
        The contents of ``export.json``.

    Raises:
        ValueError: a bad ``fmt`` or ``inputs``.
        ExportError: a layer that does not export (named), a missing package, a check that
            fails.
    """
    check_settings(fmt, inputs)
    if asr.model.cfg.raw_waveform:
        raise ExportError(f"{asr.path} is a {asr.model.cfg.encoder} model (raw waveform in): "
                          f"export covers the filterbank models only so far; load it with "
                          f"asrtl.load_model instead")
    module = exportable(asr, inputs)
    if fmt == "onnx":
        _require("onnx", "onnxscript", "onnxruntime")
    samples = min_samples(asr)
    min_length = samples if inputs == "waveform" else MIN_FRAMES
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / FORMATS[fmt]
    tmp = out / f".{path.name}.{os.getpid()}.tmp"
    try:
        _export(module, example_inputs(asr, inputs), tmp, fmt, min_length)
        if fmt == "onnx":
            _name_output_axes(tmp)
        diff = check_export(module, tmp, fmt, example_inputs(asr, inputs, (3.1, 0.1, 2.4), 1))
        if not diff <= CHECK_TOLERANCE:
            raise ExportError(f"the exported model differs from PyTorch by {diff:.2g} "
                              f"(> {CHECK_TOLERANCE:g}) in log-probability")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    info = describe(asr, inputs, samples)
    entry: dict[str, Any] = {"file": path.name, "max_abs_diff_vs_torch": diff}
    if fmt == "onnx":
        import onnx

        entry["opset"] = next(o.version for o in onnx.load(str(path)).opset_import
                              if o.domain in ("", "ai.onnx"))
    info["formats"] = {**_kept_formats(out, info, fmt), fmt: entry}
    write_json_atomic(out / "export.json", info)
    log.debug("%s: %s (max |log-prob diff| vs PyTorch %.1e)", fmt, path, diff)
    return info


def _kept_formats(out: Path, info: dict[str, Any], fmt: str) -> dict[str, Any]:
    """The entries of an earlier ``export.json`` for formats other than ``fmt`` that describe
    the same weights and input; the files of the others (another model's) are deleted."""
    try:
        prev = json.loads((out / "export.json").read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    same = all(prev.get(k) == info[k] for k in ("checkpoint", "weights_sha256", "input"))
    kept = {}
    for name, other in prev.get("formats", {}).items():
        if name == fmt or not (out / other["file"]).is_file():
            continue
        if same:
            kept[name] = other
        else:
            (out / other["file"]).unlink()
    return kept
