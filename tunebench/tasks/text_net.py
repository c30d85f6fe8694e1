"""The torch half of ``text_clf``: ragged batches on the device, the bag-of-n-grams and CNN models.

Apart from :mod:`tunebench.tasks.text_clf` so that the task (its space, options, tokenizer,
vocabulary and data splits) imports without torch: the task's ``evaluate`` imports this module when
a trial runs. The evaluation cache's code hash follows that import, so editing this file
invalidates the task's cached evaluations as editing the task's own module does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from tunebench.space import Config


@dataclass(frozen=True)
class RaggedSplit:
    """Variable-length documents on the device: flat ids, offsets and labels.

    A batch is ``(ids, offsets)`` for an ``EmbeddingBag``, or a zero-padded ``(batch, length)``
    matrix (at most ``pad_to`` long) for a CNN, gathered with tensor ops only.
    """

    ids: torch.Tensor
    offsets: torch.Tensor
    labels: torch.Tensor
    pad_to: int | None = None

    @classmethod
    def from_numpy(cls, ids: np.ndarray, offsets: np.ndarray, labels: np.ndarray,
                   device: torch.device, pad_to: int | None = None) -> RaggedSplit:
        # one trailing padding id, so gathers stay in range even when every document is empty
        ids = np.concatenate([ids, [0]]).astype(np.int64)
        return cls(torch.from_numpy(ids).to(device), torch.from_numpy(offsets).to(device),
                   torch.from_numpy(np.ascontiguousarray(labels)).to(device), pad_to)

    def __len__(self) -> int:
        return len(self.labels)

    def batch(self, index: torch.Tensor) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
        starts = self.offsets.index_select(0, index)
        lengths = self.offsets.index_select(0, index + 1) - starts
        labels = self.labels.index_select(0, index)
        if self.pad_to is None:
            ends = torch.cumsum(lengths, 0)
            bag_offsets = ends - lengths
            total = int(ends[-1]) if len(ends) else 0
            positions = (torch.repeat_interleave(starts - bag_offsets, lengths, output_size=total)
                         + torch.arange(total, device=starts.device))
            return (self.ids.index_select(0, positions), bag_offsets), labels
        width = max(min(int(lengths.max()), self.pad_to), 1)
        steps = torch.arange(width, device=starts.device)
        inside = steps.unsqueeze(0) < lengths.unsqueeze(1)
        positions = torch.where(inside, starts.unsqueeze(1) + steps, len(self.ids) - 1)
        return (self.ids[positions],), labels


class BagOfNgrams(nn.Module):
    """Mean of n-gram embeddings → dropout → linear (fastText's classifier)."""

    def __init__(self, vocab: int, dim: int, num_classes: int, dropout: float) -> None:
        super().__init__()
        self.embedding = nn.EmbeddingBag(vocab + 1, dim, mode="mean")  # no padding_idx: 2x faster
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(dim, num_classes)

    def forward(self, ids: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        return self.output(self.dropout(self.embedding(ids, offsets)))


class TextCNN(nn.Module):
    """Word embeddings → conv1d(width) → ReLU → max over time → dropout → linear."""

    def __init__(self, vocab: int, dim: int, num_classes: int, dropout: float,
                 width: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab + 2, dim, padding_idx=0)
        self.width = width
        self.conv = nn.Conv1d(dim, dim, width, padding=width // 2)
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(dim, num_classes)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        features = torch.relu(self.conv(self.embedding(tokens).transpose(1, 2)))
        # keep the window positions an unpadded document of this length would have (padding
        # comes last), so a document's output does not depend on the batch it is in
        lengths = (tokens != 0).sum(dim=1, keepdim=True)
        positions = torch.arange(features.shape[2], device=tokens.device).unsqueeze(0)
        valid = positions < lengths + 2 * (self.width // 2) - self.width + 1
        features = features.masked_fill(~valid.unsqueeze(1), 0.0)
        return self.output(self.dropout(features.amax(dim=2)))


def to_device(encoded: dict[str, tuple[np.ndarray, np.ndarray]], labels: dict[str, np.ndarray],
              device: torch.device, pad_to: int | None = None) -> dict[str, RaggedSplit]:
    """Each part's ``(ids, offsets)`` with its labels as a :class:`RaggedSplit` on ``device``."""
    return {name: RaggedSplit.from_numpy(ids, offsets, labels[name], device, pad_to=pad_to)
            for name, (ids, offsets) in encoded.items()}


def model_builder(model: str, vocab: int, config: Config,
                  num_classes: int) -> Callable[[], nn.Module]:
    """What :func:`~tunebench.tasks.training.fit` calls (seeded) to build ``config``'s ``model``
    (``"bag"`` or ``"cnn"``) over ``vocab`` ids."""

    def build() -> nn.Module:
        if model == "cnn":
            return TextCNN(vocab, config["embed_dim"], num_classes, config["dropout"],
                           config["ngram"])
        return BagOfNgrams(vocab, config["embed_dim"], num_classes, config["dropout"])

    return build
