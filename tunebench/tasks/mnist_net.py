"""The torch half of ``mnist_cnn``: the LeNet model, and a data split as tensors on the device.

Apart from :mod:`tunebench.tasks.mnist_cnn` so that the task (its space, options and data splits)
imports without torch: :meth:`~tunebench.tasks.mnist_cnn.MnistCNNTask.evaluate` imports this module
when a trial runs. The evaluation cache's code hash follows that import, so editing this file
invalidates the task's cached evaluations as editing the task's own module does.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from tunebench.space import Config
from tunebench.tasks import training
from tunebench.tasks.base import TaskError
from tunebench.tasks.mnist_cnn import INITS


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


def to_device(parts: dict[str, tuple[np.ndarray, np.ndarray]],
              device: torch.device) -> dict[str, training.Split]:
    """Each ``(uint8 images, labels)`` part as a channels-last float split on ``device``.

    Pixels are standardised with the mean and standard deviation of the training part only.
    """
    train_images = parts["train"][0]
    mean = float(train_images.mean()) / 255.0
    std = float(train_images.std()) / 255.0

    def to_split(images: np.ndarray, labels: np.ndarray) -> training.Split:
        x = torch.from_numpy(np.ascontiguousarray(images)).to(device)
        x = ((x.float() / 255.0 - mean) / std).unsqueeze(1)
        return training.Split(x.contiguous(memory_format=torch.channels_last),
                              torch.from_numpy(labels).to(device))

    return {name: to_split(*arrays) for name, arrays in parts.items()}


def model_builder(config: Config, num_classes: int) -> Callable[[], nn.Module]:
    """What :func:`~tunebench.tasks.training.fit` calls (seeded) to build ``config``'s LeNet."""

    def build() -> nn.Module:
        model = LeNet(config["channels"], config["hidden"], config["dropout"], num_classes,
                      config["init"])
        return model.to(memory_format=torch.channels_last)

    return build
