"""The one place that picks the compute device: CUDA, else Apple MPS, else CPU."""

from __future__ import annotations

import torch


def pick_device(requested: str = "auto") -> tuple[torch.device, str | None]:
    """Return (device, notice). `notice` says why a requested device was replaced by the CPU."""
    cuda = torch.cuda.is_available()
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if requested == "auto":
        if cuda:
            return torch.device("cuda"), None
        if mps:
            return torch.device("mps"), None
        return torch.device("cpu"), None
    if requested == "cuda" and not cuda:
        return torch.device("cpu"), "CUDA was requested but is not available; running on the CPU"
    if requested == "mps" and not mps:
        return torch.device("cpu"), "Apple MPS was requested but is not available; running on the CPU"
    return torch.device(requested), None


def describe(device: torch.device) -> str:
    """A short human name for the status bar, e.g. 'CPU (2 threads)' or 'CUDA: NVIDIA H200'."""
    if device.type == "cuda":
        return f"CUDA: {torch.cuda.get_device_name(device)}"
    if device.type == "mps":
        return "Apple MPS"
    threads = torch.get_num_threads()
    return f"CPU ({threads} thread{'s' if threads != 1 else ''})"


def limit_threads(max_threads: int | None) -> None:
    """Use at most `max_threads` intra-op threads (a Task's hint); None leaves torch's choice."""
    if max_threads is not None and torch.get_num_threads() > max_threads:
        torch.set_num_threads(max_threads)


def leave_core_for_ui() -> None:
    """With a window open, train on all cores but one so the UI thread keeps one to paint with.

    The toy models are too small to gain from a second intra-op thread, and on a 2-core laptop a
    second training thread competes with painting."""
    import os

    cores = os.cpu_count() or 1
    torch.set_num_threads(max(1, min(torch.get_num_threads(), cores - 1)))
