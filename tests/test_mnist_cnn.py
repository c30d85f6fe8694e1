"""mnist_cnn and the shared training loop: determinism, fidelity, pruning, early stopping, data errors."""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from tunebench import devices
from tunebench.data import CATALOG, DataMissingError, is_fetched
from tunebench.registry import RegistryError, make_task
from tunebench.suite.cache import task_code_hash
from tunebench.tasks import mnist_net, train_settings, training
from tunebench.tasks.base import Direction, Diverged, EvalContext, TrialPruned
from tunebench.tasks.mnist_cnn import INITS, MnistCNNTask
from tunebench.tasks.mnist_net import LeNet
from tunebench.tasks.train_settings import TrainSettings

#: `make test` sets this so a data set missing after `make install` fails instead of skipping.
REQUIRE_DATA = os.environ.get("TUNEBENCH_REQUIRE_DATA") == "1"
needs_mnist = pytest.mark.skipif(not is_fetched("mnist") and not REQUIRE_DATA,
                                 reason="run `tunebench data fetch mnist`")

SMALL = {"channels": 8, "hidden": 32, "batch_size": 64}


def _write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))


@pytest.fixture
def idx_dir(tmp_path: Path) -> Path:
    """IDX files the test writes: each class is a bright bar in its own row band, plus noise."""
    rng = np.random.default_rng(0)

    def make(n: int) -> tuple[np.ndarray, np.ndarray]:
        labels = np.arange(n) % 10
        images = rng.integers(0, 60, size=(n, 28, 28))
        for i, label in enumerate(labels):
            images[i, 2 + 2 * label: 4 + 2 * label, 4:24] = 255
        return images.astype(np.uint8), labels.astype(np.uint8)

    for prefix, n in (("train", 300), ("t10k", 100)):
        images, labels = make(n)
        _write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", images)
        _write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", labels)
    return tmp_path


def config(task: MnistCNNTask, **overrides) -> dict:
    return {**task.default_config(), **SMALL, **overrides}


def test_the_task_declares_its_space_metric_and_fidelity() -> None:
    task = make_task("mnist_cnn", {"train_size": 5000, "max_epochs": 4})
    assert isinstance(task, MnistCNNTask)
    assert task.metric == "accuracy" and task.direction is Direction.MAXIMIZE
    assert task.max_fidelity == 4 and task.uses_torch
    assert set(task.space) == {"lr", "optimizer", "momentum", "weight_decay", "l1", "dropout",
                               "batch_size", "channels", "hidden", "init", "schedule", "patience"}
    assert task.space.validate(task.default_config())
    assert "momentum" not in task.default_config()  # only active for optimizer == "momentum"
    with pytest.raises(RegistryError, match="train_size"):
        make_task("mnist_cnn", {"train_size": 5})
    with pytest.raises(RegistryError, match="val_fraction"):
        make_task("mnist_cnn", {"val_fraction": 1.5})


@pytest.mark.parametrize("init", INITS)
def test_every_initialisation_builds_a_lenet(init: str) -> None:
    torch.manual_seed(0)
    model = LeNet(8, 16, 0.1, 10, init)
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    if init.endswith("zeros"):
        assert not model.features[0].bias.detach().any()


def test_missing_data_is_an_error_naming_the_fetch_command(tmp_path: Path) -> None:
    task = MnistCNNTask(data_dir=str(tmp_path))
    with pytest.raises(DataMissingError, match="tunebench data fetch mnist"):
        task.evaluate(task.default_config(), 1, 0, EvalContext())


def test_idx_files_train_report_every_epoch_and_are_deterministic(idx_dir: Path) -> None:
    task = MnistCNNTask(idx_dir=str(idx_dir), max_epochs=3)
    steps: list[tuple[int, float]] = []
    ctx = EvalContext(threads=1, precision="fp32",
                      pruner=lambda step, value: steps.append((step, value)) or False)
    cfg = config(task, patience=10, lr=3e-3)
    first = task.evaluate(cfg, 3, seed=1, context=ctx)
    assert [s for s, _ in steps] == [1, 2, 3]
    assert list(first.curve) == [v for _, v in steps] == ctx.curve
    assert first.fidelity_spent == 3 and first.value == max(first.curve)
    assert first.test_value is not None and first.test_value > 0.5  # an easy, learnable set
    assert first.extra["precision"] == "fp32" and first.extra["threads"] == 1
    assert first.extra["train_size"] == 240 and first.extra["val_size"] == 60
    again = task.evaluate(cfg, 3, seed=1, context=EvalContext(threads=1, precision="fp32"))
    assert (again.value, again.test_value, again.curve) == (first.value, first.test_value,
                                                            first.curve)
    assert again.extra["train_loss"] == first.extra["train_loss"]
    other = task.evaluate(cfg, 3, seed=2, context=EvalContext(threads=1, precision="fp32"))
    assert other.extra["train_loss"] != first.extra["train_loss"]


def test_a_lower_fidelity_is_a_prefix_of_a_higher_one(idx_dir: Path) -> None:
    task = MnistCNNTask(idx_dir=str(idx_dir), max_epochs=3)
    cfg = config(task, schedule="cosine", patience=10)
    ctx = EvalContext(threads=1, precision="fp32")
    short = task.evaluate(cfg, 2, seed=0, context=ctx)
    full = task.evaluate(cfg, 3, seed=0, context=EvalContext(threads=1, precision="fp32"))
    assert full.curve[:2] == short.curve
    assert full.extra["train_loss"][:2] == short.extra["train_loss"]


def test_a_pruner_stops_the_trial_and_the_exception_propagates(idx_dir: Path) -> None:
    task = MnistCNNTask(idx_dir=str(idx_dir), max_epochs=3)
    ctx = EvalContext(threads=1, pruner=lambda step, value: step >= 1)
    with pytest.raises(TrialPruned):
        task.evaluate(config(task), 3, 0, ctx)
    assert len(ctx.curve) == 1


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_low_precision_paths_run_and_are_recorded(idx_dir: Path, precision: str) -> None:
    task = MnistCNNTask(idx_dir=str(idx_dir), max_epochs=1)
    result = task.evaluate(config(task), 1, 0, EvalContext(threads=1, precision=precision))
    assert result.extra["precision"] == precision and 0.0 <= result.value <= 1.0


def test_auto_precision_is_resolved_and_recorded(idx_dir: Path) -> None:
    task = MnistCNNTask(idx_dir=str(idx_dir), max_epochs=1)
    result = task.evaluate(config(task), 1, 0, EvalContext(threads=1, precision="auto"))
    assert result.extra["precision"] == ("bf16" if devices.cpu_has_fast_bf16() else "fp32")


def test_optimisers_and_schedules_all_train(idx_dir: Path) -> None:
    task = MnistCNNTask(idx_dir=str(idx_dir), max_epochs=2)
    for optimizer, schedule in zip(train_settings.OPTIMIZERS, train_settings.SCHEDULES, strict=True):
        cfg = config(task, optimizer=optimizer, schedule=schedule, l1=1e-5,
                     lr=0.05 if "sgd" in optimizer or optimizer == "momentum" else 2e-3)
        if optimizer == "momentum":
            cfg["momentum"] = 0.9
        result = task.evaluate(cfg, 2, 0, EvalContext(threads=1))
        assert result.fidelity_spent == 2 and np.isfinite(result.value)


def test_schedules_span_the_maximum_fidelity() -> None:
    assert train_settings.lr_factor("constant", 7, 10) == 1.0
    assert train_settings.lr_factor("cosine", 0, 10) == 1.0
    assert train_settings.lr_factor("cosine", 5, 10) == pytest.approx(0.5)
    assert train_settings.lr_factor("exponential", 10, 10) == pytest.approx(0.01)
    assert [train_settings.lr_factor("step", e, 8) for e in (0, 3, 4, 6)] == pytest.approx(
        [1.0, 1.0, 0.1, 0.01])


@pytest.mark.parametrize("module", [mnist_net, training], ids=lambda m: m.__name__)
def test_the_code_hash_covers_the_modules_evaluate_imports_lazily(module, tmp_path: Path,
                                                                  monkeypatch) -> None:
    """Editing the model or the loop, which the task imports only inside ``evaluate``, must
    invalidate its cached evaluations as editing ``mnist_cnn.py`` does."""
    task_code_hash.cache_clear()
    before = task_code_hash(MnistCNNTask)
    edited = tmp_path / Path(module.__file__).name
    edited.write_text(Path(module.__file__).read_text() + "# one line more\n")
    monkeypatch.setattr(module, "__file__", str(edited))
    task_code_hash.cache_clear()
    assert task_code_hash(MnistCNNTask) != before
    monkeypatch.undo()
    task_code_hash.cache_clear()
    assert task_code_hash(MnistCNNTask) == before


# --- the shared loop on tiny tensors -------------------------------------------------------------

def _tiny_split(n: int = 64) -> training.Split:
    x = torch.randn(n, 4, generator=torch.Generator().manual_seed(0))
    return training.Split(x, (x[:, 0] > 0).long())


def test_early_stopping_charges_only_the_epochs_run() -> None:
    split = _tiny_split()
    settings = TrainSettings(lr=0.0, optimizer="sgd", patience=2)  # never improves
    with training.runtime(EvalContext(threads=1)) as rt:
        result = training.fit(lambda: torch.nn.Linear(4, 2), split, split, split, settings,
                              fidelity=8, max_fidelity=8, seed=0, context=EvalContext(), rt=rt)
    assert result.fidelity_spent == 3 and len(result.curve) == 3
    assert result.extra["stopped_early"] and result.extra["best_epoch"] == 1


def test_the_best_epochs_model_is_the_one_tested() -> None:
    split = _tiny_split()
    ctx = EvalContext()
    with training.runtime(EvalContext(threads=1)) as rt:
        result = training.fit(lambda: torch.nn.Linear(4, 2), split, split, split,
                              TrainSettings(lr=0.5, optimizer="sgd", batch_size=8),
                              fidelity=4, max_fidelity=4, seed=0, context=ctx, rt=rt)
    best = result.curve.index(max(result.curve)) + 1
    assert result.extra["best_epoch"] == best and result.value == max(result.curve)
    assert result.test_value == result.curve[best - 1]  # test split == val split here


def test_a_diverging_run_fails_loudly() -> None:
    class Broken(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = torch.nn.Linear(4, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.linear(x) * float("nan")

    split = _tiny_split()
    with training.runtime(EvalContext(threads=1)) as rt, pytest.raises(FloatingPointError,
                                                                          match="diverged"):
        training.fit(Broken, split, split, None, TrainSettings(lr=0.1), fidelity=1,
                     max_fidelity=1, seed=0, context=EvalContext(), rt=rt)


def test_an_evaluation_leaves_the_process_as_it_found_it() -> None:
    threads = torch.get_num_threads()
    torch.manual_seed(123)
    expected = torch.rand(1)
    torch.manual_seed(123)
    split = _tiny_split()
    with training.runtime(EvalContext(threads=1)) as rt:
        training.fit(lambda: torch.nn.Linear(4, 2), split, split, None,
                     TrainSettings(lr=0.1), fidelity=1, max_fidelity=1, seed=0,
                     context=EvalContext(), rt=rt)
    assert torch.equal(torch.rand(1), expected)  # global RNG untouched
    assert torch.get_num_threads() == threads
    assert not torch.are_deterministic_algorithms_enabled()


def test_fidelity_outside_the_range_is_rejected() -> None:
    split = _tiny_split()
    with training.runtime(EvalContext(threads=1)) as rt, pytest.raises(Exception, match=r"1\.\.2"):
        training.fit(lambda: torch.nn.Linear(4, 2), split, split, None,
                     TrainSettings(lr=0.1), fidelity=3, max_fidelity=2, seed=0,
                     context=EvalContext(), rt=rt)


# --- real MNIST (fetched by `make install`) ------------------------------------------------------

@needs_mnist
def test_real_mnist_subsets_are_stratified_and_fixed() -> None:
    task = MnistCNNTask(train_size=1000, test_size=500)
    parts = task.splits(seed=0)
    assert len(parts["train"][1]) == 800 and len(parts["val"][1]) == 200
    assert len(parts["test"][1]) == 500
    assert np.bincount(parts["val"][1]).min() >= 15
    other = task.splits(seed=1)
    assert np.array_equal(parts["test"][0], other["test"][0])  # the test subset is fixed
    pool = {a.tobytes() for a in np.concatenate([parts["train"][0], parts["val"][0]])}
    assert pool == {a.tobytes() for a in np.concatenate([other["train"][0], other["val"][0]])}
    assert not np.array_equal(parts["val"][0], other["val"][0])  # the split follows the seed


@needs_mnist
def test_real_mnist_quick_evaluation_is_deterministic_and_learns() -> None:
    task = MnistCNNTask(train_size=1000, test_size=500, max_epochs=2)
    cfg = {**task.default_config(), "channels": 16, "hidden": 64, "batch_size": 32, "lr": 2e-3}
    first = task.evaluate(cfg, 2, 0, EvalContext(threads=1, precision="auto"))
    second = task.evaluate(cfg, 2, 0, EvalContext(threads=1, precision="auto"))
    assert (first.value, first.test_value, first.curve) == (second.value, second.test_value,
                                                            second.curve)
    assert first.test_value > 0.8
    assert first.extra["data_sha256"] == CATALOG["mnist"].sha256


@needs_mnist
def test_auto_precision_keeps_accuracy_on_real_mnist() -> None:
    """bf16 (what ``auto`` picks on an AMX CPU) scores as fp32 does, within two points of accuracy."""
    task = MnistCNNTask(train_size=2000, test_size=1000, max_epochs=2)
    cfg = {**task.default_config(), "channels": 16, "hidden": 64, "batch_size": 32, "lr": 2e-3}
    scores = {p: task.evaluate(cfg, 2, 0, EvalContext(threads=1, precision=p)).test_value
              for p in ("fp32", "bf16")}
    assert scores["fp32"] > 0.85
    assert abs(scores["bf16"] - scores["fp32"]) <= 0.02, scores


def test_an_epoch_past_the_loss_bound_is_diverged_and_stops_training() -> None:
    split = _tiny_split()
    context = EvalContext()
    with training.runtime(EvalContext(threads=1)) as rt, pytest.raises(
            Diverged, match=r"mean loss of epoch 1 is [\d.]+ \(bound 0.01\)"):
        training.fit(lambda: torch.nn.Linear(4, 2), split, split, split, TrainSettings(lr=0.1),
                     fidelity=3, max_fidelity=3, seed=0, context=context, rt=rt, loss_bound=0.01)
    assert context.curve == []  # stopped in epoch 1, nothing reported
    assert training.chance_loss_bound(10, 10.0) == pytest.approx(10 * np.log(10))
    assert MnistCNNTask.divergence_bound == 10.0


def test_warm_up_trains_the_default_model_without_data_and_leaves_the_process_as_found(
        tmp_path: Path) -> None:
    threads = torch.get_num_threads()
    task = MnistCNNTask(data_dir=str(tmp_path / "nothing-here"))  # warm-up needs no data
    task.warm_up(EvalContext(threads=1, precision="fp32"))
    assert torch.get_num_threads() == threads
    assert not torch.are_deterministic_algorithms_enabled()


def test_loading_splitting_and_test_scoring_run_uncharged(idx_dir: Path) -> None:
    task = MnistCNNTask(idx_dir=str(idx_dir), max_epochs=1)
    context = EvalContext(threads=1)
    result = task.evaluate(config(task), 1, 0, context)
    assert result.test_value is not None
    assert context.uncharged_seconds > 0 and context.uncharged_since is None


def test_the_cache_key_follows_the_idx_files_content(idx_dir: Path) -> None:
    from tunebench.suite.cache import data_content_hashes, resolved_task_options

    task = make_task("mnist_cnn", {"idx_dir": str(idx_dir)})
    before = data_content_hashes(task, resolved_task_options(task))
    assert set(before) == {"idx_dir"}
    path = idx_dir / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes() + b"\0")
    assert data_content_hashes(task, resolved_task_options(task)) != before
