"""Device choice, threads, precision, determinism and synchronised timing (GPUs faked, CPU real)."""

from __future__ import annotations

import json
import sys
import time

import pytest
import torch

from tunebench import devices
from tunebench.devices import DeviceError


@pytest.fixture
def no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


def test_auto_prefers_cuda_then_mps_then_cpu(monkeypatch: pytest.MonkeyPatch, no_gpu) -> None:
    assert devices.resolve_device("auto", uses_torch=True) == "cpu"
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert devices.resolve_device("auto", uses_torch=True) == "mps"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert devices.resolve_device("auto", uses_torch=True) == "cuda"
    assert devices.resolve_device(uses_torch=False) == "cpu"  # tasks without torch: always CPU


def test_an_explicit_device_is_checked_not_silently_replaced(monkeypatch: pytest.MonkeyPatch,
                                                             no_gpu) -> None:
    assert devices.resolve_device("cpu", uses_torch=True) == "cpu"
    assert devices.resolve_device(" CPU ", uses_torch=True) == "cpu"
    with pytest.raises(DeviceError, match="no CUDA device"):
        devices.resolve_device("cuda", uses_torch=True)
    with pytest.raises(DeviceError, match="no MPS device"):
        devices.resolve_device("mps", uses_torch=True)
    with pytest.raises(DeviceError, match="unknown device 'tpu'"):
        devices.resolve_device("tpu", uses_torch=True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert devices.resolve_device("cuda:0", uses_torch=True) == "cuda:0"
    with pytest.raises(DeviceError, match="1 CUDA device"):
        devices.resolve_device("cuda:1", uses_torch=True)
    assert devices.resolve_device("cuda", uses_torch=False) == "cuda"  # recorded, not checked


def test_synchronize_waits_on_the_gpu_and_not_on_the_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: calls.append(f"cuda {device}"))
    monkeypatch.setattr(torch.mps, "synchronize", lambda: calls.append("mps"))
    devices.synchronize("cpu")
    devices.synchronize("cuda:1")
    devices.synchronize("mps")
    assert calls == ["cuda cuda:1", "mps"]


def test_device_timer_synchronises_at_both_ends(monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[str] = []
    monkeypatch.setattr(devices, "synchronize", lambda device: events.append(f"sync {device}"))
    with devices.DeviceTimer("cuda:0") as timer:
        events.append("work")
    assert events == ["sync cuda:0", "work", "sync cuda:0"]
    assert timer.seconds >= 0 and timer.cpu_seconds >= 0


def test_gpu_seconds_include_work_still_queued_when_the_block_ends(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A fake GPU whose queued kernels take 50 ms to drain: only a synchronised clock charges them."""
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: time.sleep(0.05))
    with devices.DeviceTimer("cuda") as timer:
        pass  # the kernels were launched asynchronously: the Python block ends at once
    assert timer.seconds >= 0.05
    timer.start()
    lap = timer.stop()
    assert lap >= 0.05 and timer.seconds >= 0.1  # totals accumulate over start/stop spans
    with pytest.raises(RuntimeError):
        timer.stop()


def test_training_epochs_are_timed_with_synchronisation(monkeypatch: pytest.MonkeyPatch) -> None:
    from tunebench.tasks import training
    from tunebench.tasks.base import EvalContext

    calls: list[str] = []
    monkeypatch.setattr(devices, "synchronize", lambda device: calls.append(device))
    x = torch.randn(64, 4)
    split = training.Split(x, (x[:, 0] > 0).long())
    with training.runtime(EvalContext(threads=1)) as rt:
        result = training.fit(lambda: torch.nn.Linear(4, 2), split, split, split,
                              training.TrainSettings(lr=0.1, batch_size=16), fidelity=2,
                              max_fidelity=2, seed=0, context=EvalContext(), rt=rt)
    # two clocks (training, evaluation) x start/stop x (2 epochs) + the test evaluation
    assert calls == ["cpu"] * 10
    assert result.extra["train_seconds"] > 0


def test_threads_are_applied_and_restored() -> None:
    before = torch.get_num_threads()
    with devices.pinned_threads(1) as threads:
        assert threads == 1 and torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with devices.pinned_threads(None) as threads:
        assert threads == before
    with pytest.raises(DeviceError):
        devices.apply_threads(0)


def test_thread_env_for_worker_processes() -> None:
    env = devices.thread_env(1)
    assert env["OMP_NUM_THREADS"] == env["MKL_NUM_THREADS"] == "1"
    assert env["OMP_WAIT_POLICY"] in ("PASSIVE", "passive", "ACTIVE", "active")
    assert "OMP_NUM_THREADS" not in devices.thread_env(None)


def test_precision_auto_follows_the_hardware(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: {"amx_bf16": True})
    assert devices.resolve_precision("auto", "cpu") == "bf16"
    assert devices.resolve_precision("auto", "cpu", low_precision_pays=False) == "fp32"
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: {"avx2": True})
    assert devices.resolve_precision("auto", "cpu") == "fp32"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert devices.resolve_precision("auto", "cuda:0") == "bf16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert devices.resolve_precision("auto", "cuda") == "fp16"
    with pytest.raises(DeviceError, match="bf16"):
        devices.resolve_precision("bf16", "cuda")
    assert devices.resolve_precision("auto", "mps") == "fp32"
    assert devices.resolve_precision("bfloat16", "cpu") == "bf16"
    assert devices.resolve_precision("FP32", "cuda") == "fp32"
    with pytest.raises(DeviceError, match="unknown precision"):
        devices.resolve_precision("int8", "cpu")


def test_autocast_runs_matmuls_in_the_chosen_precision() -> None:
    a = torch.randn(4, 4)
    with devices.autocast("cpu", "bf16"):
        assert (a @ a).dtype == torch.bfloat16
    with devices.autocast("cpu", "fp32"):
        assert (a @ a).dtype == torch.float32


def test_deterministic_mode_is_set_and_restored_without_importing_inductor() -> None:
    inductor_loaded = "torch._inductor.config" in sys.modules
    assert not torch.are_deterministic_algorithms_enabled()
    with devices.deterministic("cpu"):
        assert torch.are_deterministic_algorithms_enabled()
        assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
    assert not torch.are_deterministic_algorithms_enabled()
    if not inductor_loaded:
        assert "torch._inductor.config" not in sys.modules


def test_determinism_settings_are_recorded_as_json() -> None:
    with devices.pinned_threads(1), devices.deterministic("cpu"):
        settings = devices.determinism_settings("cpu")
    assert settings["threads"] == 1 and settings["deterministic_algorithms"] is True
    assert settings["cpu_capability"] and settings["torch"] == torch.__version__
    assert settings["device_name"]
    json.dumps(settings)
