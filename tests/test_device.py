"""core/device.py: `--device auto` picks the faster device per mode and lane count, and says why."""

import json

import pytest
import torch

from ganviz.core import device as dev
from ganviz.core.config import TrainConfig
from ganviz.core.session import Session


@pytest.fixture
def cuda_present(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)


@pytest.mark.parametrize("mode", ["1d", "2d"])
def test_auto_trains_one_toy_lane_on_the_cpu_even_with_cuda(cuda_present, mode):
    device, reason = dev.choose_device("auto", mode, 1)
    assert device.type == "cpu" and "CPU" in reason and "--device cuda" in reason


@pytest.mark.parametrize("mode", ["1d", "2d"])
def test_auto_trains_many_batched_toy_lanes_on_cuda(cuda_present, mode):
    n = dev.BATCHED_LANES_FOR_CUDA[mode]
    assert dev.choose_device("auto", mode, n - 1)[0].type == "cpu"
    device, reason = dev.choose_device("auto", mode, n)
    assert device.type == "cuda" and f"{n} batched" in reason


@pytest.mark.parametrize("lanes", [1, 64])
def test_auto_trains_mnist_on_cuda(cuda_present, lanes):
    device, reason = dev.choose_device("auto", "mnist", lanes)
    assert device.type == "cuda" and "CUDA" in reason


def test_without_an_accelerator_auto_is_the_cpu_quietly(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    for mode in ("1d", "2d", "mnist"):
        assert dev.choose_device("auto", mode)[0].type == "cpu"
        assert dev.pick_device("auto", mode) == (torch.device("cpu"), None)  # nothing to tell the user


def test_an_explicit_device_overrides_the_rule(cuda_present):
    assert dev.choose_device("cuda", "1d", 1) == (torch.device("cuda"), "--device cuda")
    assert dev.choose_device("cpu", "mnist", 1) == (torch.device("cpu"), "--device cpu")
    assert dev.pick_device("cuda", "1d") == (torch.device("cuda"), None)


def test_a_missing_requested_device_falls_back_to_the_cpu_with_a_notice(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    device, notice = dev.pick_device("cuda", "mnist")
    assert device.type == "cpu" and "not available" in notice


def test_the_session_shows_auto_s_choice_in_its_notice(cuda_present):
    session = Session(TrainConfig.for_mode("1d"))  # auto → CPU for one 1-D lane, though "CUDA" exists
    try:
        assert session.device.type == "cpu" and session.lanes[0].trainer.device.type == "cpu"
        assert "too small for a GPU" in session.message and session.device_reason == session.message
    finally:
        session.close()


def test_config_json_names_the_device_and_why(tmp_path):
    from ganviz.cli import main

    assert main(["train", "--steps", "10", "--log-every", "10", "--out", str(tmp_path / "run")]) == 0
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert cfg["device"] == "auto" and cfg["device_chosen"] == "cpu" and cfg["device_reason"]
    assert TrainConfig.from_json((tmp_path / "run" / "config.json").read_text()).device == "auto"
