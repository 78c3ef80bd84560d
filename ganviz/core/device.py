"""The one place that picks the compute device: per mode and lane count for `auto` (see choose_device)."""

from __future__ import annotations

import ctypes
import platform

import torch


# `--device auto` picks, per mode, the device that trains faster, by a rule from figures measured on
# a lent H100 machine (torch 2.11+cu130, 16 slow vCPUs; issue 12), eager training, one lane:
#   1-D  201 it/s CUDA vs 491 it/s on one CPU thread   (CPU 2.4× faster)
#   2-D  155 it/s CUDA vs 259 it/s on one CPU thread   (CPU 1.7× faster)
#   MNIST 171 it/s CUDA vs 30 it/s on the CPU          (CUDA 5.7× faster)
# The toy models are a few 64-wide layers: a step is ~30 tiny kernels, so CUDA is bound by launch
# latency and its it/s hardly depends on the work: 256 batched 1-D lanes ran on the H100 at the same
# it/s per lane as one lane. On the CPU a batched group of L lanes costs more with L; per-lane it/s as a
# fraction of one lane's, measured on the project's 2-core machine (one thread, torch 2.13):
#   1-D  L=2 0.71, L=4 0.53, L=8 0.26, L=16 0.17        2-D  L=2 0.62, L=4 0.38
# So on the H100 machine L toy lanes in one batched group run at ~201 (1-D) / 155 (2-D) it/s per lane on
# CUDA and at ~491·f(L) / 259·f(L) on the CPU: CUDA wins once f(L) < 0.41 (1-D, between 4 and 8 lanes:
# 6) or f(L) < 0.60 (2-D, from ~2 lanes; 3 to stay clear of the tie). MNIST trains lane after lane, so
# its choice does not depend on L. Apple MPS was not measured: it is treated like CUDA (launch-bound).
BATCHED_LANES_FOR_CUDA = {"1d": 6, "2d": 3}
TOY_MODES = ("1d", "2d")
NO_ACCELERATOR = "auto: the CPU (no CUDA or MPS device)"


def choose_device(requested: str = "auto", mode: str | None = None, lanes: int = 1) -> tuple[torch.device, str]:
    """The device to train `lanes` lanes of `mode` on, and why (for the status bar and config.json).

    `requested` other than "auto" is obeyed when that device exists (else the CPU, saying so)."""
    cuda = torch.cuda.is_available()
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if requested == "auto":
        if not (cuda or mps):
            return torch.device("cpu"), NO_ACCELERATOR
        accel = torch.device("cuda" if cuda else "mps")
        name = accel.type.upper()
        if mode in TOY_MODES and lanes < BATCHED_LANES_FOR_CUDA[mode]:
            return torch.device("cpu"), (
                f"auto: the CPU, not {name}: the {mode} toy models are too small for a GPU "
                f"(H100 measure: CPU 2.4× faster in 1-D, 1.7× in 2-D); --device {accel.type} overrides")
        if mode in TOY_MODES:
            return accel, (f"auto: {name}: {lanes} batched {mode} lanes train at one lane's speed on a GPU, "
                           f"on the CPU slower (GPU from {BATCHED_LANES_FOR_CUDA[mode]} lanes on)")
        return accel, f"auto: {name}: the {mode or 'image'} mode's conv nets train faster there (H100: 5.7× the CPU)"
    if requested == "cuda" and not cuda:
        return torch.device("cpu"), "CUDA was requested but is not available; running on the CPU"
    if requested == "mps" and not mps:
        return torch.device("cpu"), "Apple MPS was requested but is not available; running on the CPU"
    return torch.device(requested), f"--device {requested}"


def pick_device(requested: str = "auto", mode: str | None = None, lanes: int = 1) -> tuple[torch.device, str | None]:
    """Return (device, notice): `choose_device`, with a notice only where it tells the user something
    (a requested device was replaced by the CPU, or auto chose between a GPU and the CPU)."""
    device, reason = choose_device(requested, mode, lanes)
    if requested == "auto":
        return device, None if reason == NO_ACCELERATOR else reason
    return device, None if device.type == requested else reason


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


# glibc's defaults for returning freed memory to the system: blocks above 128 KiB get their own
# mapping, and the heap's free top is trimmed above 128 KiB. A training step allocates and frees
# tensors of a few hundred KB (16 batched 1-D lanes: (16, 512, 32) floats, 1 MiB) dozens of times, so
# each was a fresh mapping, faulted in page by page and unmapped again: 20-25% of the step's time
# (measured on the project's 2-core machine, 16 lanes of 1-D: 107 -> 131 it/s per lane). Above these
# sizes glibc still maps and trims as before, so a large MNIST buffer still goes back to the system.
MMAP_THRESHOLD = 32 << 20  # glibc's ceiling for it on 64-bit systems
TRIM_THRESHOLD = 128 << 20
_heap_kept = False


def keep_freed_memory() -> None:
    """Let glibc reuse the memory of freed tensors for the next step instead of unmapping it (once per
    process; elsewhere than glibc, nothing)."""
    global _heap_kept
    if _heap_kept:
        return
    _heap_kept = True
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3  # mallopt's parameter numbers (malloc.h)
        libc.mallopt(m_mmap_threshold, MMAP_THRESHOLD)
        libc.mallopt(m_trim_threshold, TRIM_THRESHOLD)
    except (OSError, AttributeError):  # no such library or symbol: glibc's defaults stay
        pass
