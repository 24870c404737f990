"""``device=auto|cpu|cuda|cuda:N`` and the matching mixed precision."""

from __future__ import annotations

import contextlib
import os

import torch

from asrtl.errors import UserError


def resolve_device(name: str = "auto") -> torch.device:
    """The torch device for a ``device=`` setting (``auto`` and ``cuda``: GPU ``LOCAL_RANK``
    under torchrun, else GPU 0).

    Raises:
        ValueError: a malformed name, or CUDA asked for where there is none.
    """
    name = str(name).strip().lower()
    local = int(os.environ.get("LOCAL_RANK", "0"))  # torchrun: this process's GPU
    if name == "auto":
        return torch.device("cuda", local) if torch.cuda.is_available() else torch.device("cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise UserError(f"device={name}: no CUDA GPU is visible (use device=auto or cpu)")
        dev = torch.device(name) if name != "cuda" else torch.device("cuda", local)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise UserError(f"device={name}: only {torch.cuda.device_count()} GPU(s) visible")
        return dev
    raise UserError(f"device must be auto, cpu, cuda or cuda:N, got {name!r}")


def amp_dtype(device: torch.device, amp: str = "auto") -> torch.dtype | None:
    """``bf16`` where the GPU supports it, ``fp16`` otherwise, none on CPU (``auto``)."""
    amp = str(amp).lower()
    if amp in ("off", "none", "false"):
        return None
    if amp == "bf16":
        return torch.bfloat16
    if amp == "fp16":
        return torch.float16
    if amp != "auto":
        raise UserError(f"train.amp must be auto, bf16, fp16 or off, got {amp!r}")
    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)
