"""Training throughput of tunebench's loop against a reference loop written the PyTorch-examples way.

Same model, same data, same batch size, same thread count, same process. The reference is what the
PyTorch examples do: a ``Dataset`` of per-sample tensors, a ``DataLoader`` that shuffles and
collates them (a ``collate_fn`` building offsets for the text model, as the text-classification
tutorial does), the model in its default memory format, fp32, ``torch.optim.Adam`` with its default
implementation. tunebench's loop (:mod:`tunebench.tasks.training`) keeps each split as tensors on
the device, gathers batches by index, runs the convolutional model channels-last under the study's
precision (``auto``: bf16 on a CPU with AMX-BF16), uses fused optimiser kernels and, on top, runs with
torch's deterministic algorithms on — the reference does not.

One round = one training epoch over the same samples; the speed-up compares the fastest epochs (the least
disturbed by other processes on a shared machine). Run as pytest-benchmark cases::

    OMP_WAIT_POLICY=PASSIVE .venv/bin/pytest benchmarks/bench_training_throughput.py --benchmark-only

or as a script that prints samples/s and the ratio (``--threads``, ``--rounds``)::

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/bench_training_throughput.py
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from tunebench import devices
from tunebench.data import is_fetched
from tunebench.tasks import training
from tunebench.tasks.base import EvalContext
from tunebench.tasks.mnist_cnn import MnistCNNTask
from tunebench.tasks.mnist_net import LeNet
from tunebench.tasks.text_clf import TextClassifierTask, Vocabulary, gather
from tunebench.tasks.text_net import BagOfNgrams, RaggedSplit

#: One thread by default, as studies run (one per process); TUNEBENCH_BENCH_THREADS=2 for both cores.
THREADS = int(os.environ.get("TUNEBENCH_BENCH_THREADS", "1"))
MNIST_IMAGES = 4096
BATCH = {"mnist_cnn": 128, "text_clf": 64}


@dataclass
class Loop:
    """One training epoch as a callable, and how many samples it trains on."""

    name: str
    run_epoch: Callable[[], None]
    samples: int
    precision: str


# --- MNIST ------------------------------------------------------------------------------------

class PerSampleImages(Dataset):
    """The examples' way: one normalised (1, 28, 28) tensor per image, collated by the DataLoader."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, mean: float, std: float) -> None:
        self.items = [
            ((torch.from_numpy(image).float().div(255.0).sub(mean).div(std)).unsqueeze(0),
             int(label))
            for image, label in zip(images, labels, strict=True)
        ]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.items[i]


def mnist_loops(threads: int = THREADS) -> dict[str, Loop]:
    task = MnistCNNTask(train_size=MNIST_IMAGES + 1024)
    images, labels = task.splits(seed=0)["train"]
    mean, std = float(images.mean()) / 255.0, float(images.std()) / 255.0

    torch.manual_seed(0)
    ref_model = LeNet()
    ref_opt = torch.optim.Adam(ref_model.parameters(), lr=1e-3)
    loader = DataLoader(PerSampleImages(images, labels, mean, std), batch_size=BATCH["mnist_cnn"],
                        shuffle=True)

    def reference_epoch() -> None:
        ref_model.train()
        for data, target in loader:
            ref_opt.zero_grad()
            loss = F.cross_entropy(ref_model(data), target)
            loss.backward()
            ref_opt.step()

    ctx = EvalContext(device="cpu", threads=threads, precision="auto")
    with training.runtime(ctx, low_precision_pays=MnistCNNTask.low_precision_pays) as rt:
        precision = rt.precision
    x = torch.from_numpy(images).float().div(255.0).sub(mean).div(std).unsqueeze(1)
    split = training.Split(x.contiguous(memory_format=torch.channels_last),
                           torch.from_numpy(labels))
    model = LeNet().to(memory_format=torch.channels_last)
    settings = training.TrainSettings(lr=1e-3, optimizer="adam", batch_size=BATCH["mnist_cnn"])

    def tunebench_epoch() -> None:
        with training.runtime(ctx, low_precision_pays=MnistCNNTask.low_precision_pays) as rt:
            trainer = _trainer(model, settings, rt)
            trainer.train_epoch(split)

    return {
        "reference": Loop("reference", reference_epoch, len(labels), "fp32"),
        "tunebench": Loop("tunebench", tunebench_epoch, len(labels), precision),
    }


_TRAINERS: dict[int, training.Trainer] = {}


def _trainer(model: torch.nn.Module, settings: training.TrainSettings,
             rt: training.Runtime) -> training.Trainer:
    """One Trainer per model, so optimiser state carries over between rounds as in real training."""
    if id(model) not in _TRAINERS:
        _TRAINERS[id(model)] = training.Trainer(model, settings, rt, max_epochs=100, seed=0)
    trainer = _TRAINERS[id(model)]
    trainer.rt = rt
    return trainer


# --- text -------------------------------------------------------------------------------------

class PerSampleTexts(Dataset):
    """The text tutorial's way: one id tensor per document, batched by a collate_fn with offsets."""

    def __init__(self, ids: np.ndarray, offsets: np.ndarray, labels: np.ndarray) -> None:
        self.items = [(int(labels[i]), torch.from_numpy(ids[offsets[i]:offsets[i + 1]].copy()))
                      for i in range(len(labels))]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[int, torch.Tensor]:
        return self.items[i]


def collate_batch(batch: list[tuple[int, torch.Tensor]]):
    labels, texts, offsets = [], [], [0]
    for label, text in batch:
        labels.append(label)
        texts.append(text)
        offsets.append(text.size(0))
    offsets_tensor = torch.tensor(offsets[:-1]).cumsum(dim=0)
    return torch.tensor(labels, dtype=torch.int64), torch.cat(texts), offsets_tensor


def text_loops(threads: int = THREADS) -> dict[str, Loop]:
    task = TextClassifierTask()
    cfg = task.default_config()
    data = task.load()
    parts = task.indices(data, seed=0)
    corpus = task._corpus(data)
    keys, offsets = task._keys(data, corpus, cfg["ngram"])
    vocab = Vocabulary.build(gather(keys, offsets, parts["train"])[0], cfg["vocab_size"])
    ids, doc_offsets = vocab.encode(*gather(keys, offsets, parts["train"]))
    labels = data.labels[parts["train"]]

    def build() -> torch.nn.Module:
        torch.manual_seed(0)
        return BagOfNgrams(len(vocab), cfg["embed_dim"], data.num_classes, cfg["dropout"])

    ref_model = build()
    ref_opt = torch.optim.Adam(ref_model.parameters(), lr=cfg["lr"])
    loader = DataLoader(PerSampleTexts(ids, doc_offsets, labels), batch_size=BATCH["text_clf"],
                        shuffle=True, collate_fn=collate_batch)

    def reference_epoch() -> None:
        ref_model.train()
        for label, text, text_offsets in loader:
            ref_opt.zero_grad()
            loss = F.cross_entropy(ref_model(text, text_offsets), label)
            loss.backward()
            ref_opt.step()

    ctx = EvalContext(device="cpu", threads=threads, precision="auto")
    pays = TextClassifierTask.low_precision_pays_for["bag"]
    with training.runtime(ctx, low_precision_pays=pays) as rt:
        precision = rt.precision
    split = RaggedSplit.from_numpy(ids, doc_offsets, labels, torch.device("cpu"))
    model = build()
    settings = training.TrainSettings(lr=cfg["lr"], optimizer="adam",
                                      batch_size=BATCH["text_clf"])

    def tunebench_epoch() -> None:
        with training.runtime(ctx, low_precision_pays=pays) as rt:
            _trainer(model, settings, rt).train_epoch(split)

    return {
        "reference": Loop("reference", reference_epoch, len(labels), "fp32"),
        "tunebench": Loop("tunebench", tunebench_epoch, len(labels), precision),
    }


# --- pytest-benchmark cases ---------------------------------------------------------------------

_LOOPS: dict[str, Callable[[int], dict[str, Loop]]] = {"mnist_cnn": mnist_loops,
                                                       "text_clf": text_loops}
_DATA = {"mnist_cnn": "mnist", "text_clf": "rotten-tomatoes"}
_BUILT: dict[str, dict[str, Loop]] = {}
_FASTEST: dict[tuple[str, str], float] = {}


@pytest.fixture(scope="module")
def report_speedups(pytestconfig: pytest.Config):
    yield
    reporter = pytestconfig.pluginmanager.get_plugin("terminalreporter")
    capture = pytestconfig.pluginmanager.get_plugin("capturemanager")
    for task in _LOOPS:
        if (task, "reference") in _FASTEST and (task, "tunebench") in _FASTEST:
            ratio = _FASTEST[(task, "reference")] / _FASTEST[(task, "tunebench")]
            line = (f"{task}: tunebench loop {ratio:.2f}x the reference "
                    f"(fastest epochs, {THREADS} thread(s))")
            if reporter is not None and capture is not None:
                with capture.global_and_fixture_disabled():  # teardown output is captured
                    reporter.write_line(line)


@pytest.mark.parametrize("loop", ["reference", "tunebench"])  # reference first: the ratio needs it
@pytest.mark.parametrize("task", ["mnist_cnn", "text_clf"])
def test_training_throughput(benchmark, report_speedups, task: str, loop: str) -> None:
    if not is_fetched(_DATA[task]):
        pytest.skip(f"run `tunebench data fetch {_DATA[task]}`")
    torch.set_num_threads(THREADS)
    if task not in _BUILT:
        _BUILT[task] = _LOOPS[task](THREADS)
    chosen = _BUILT[task][loop]
    benchmark.group = f"{task} training epoch ({chosen.samples} samples)"
    benchmark.pedantic(chosen.run_epoch, rounds=3, iterations=1, warmup_rounds=1)
    fastest = benchmark.stats.stats.min  # least disturbed by other processes on a shared machine
    _FASTEST[(task, loop)] = fastest
    benchmark.extra_info["samples_per_second"] = round(chosen.samples / fastest, 1)
    benchmark.extra_info["precision"] = chosen.precision
    benchmark.extra_info["threads"] = THREADS
    if loop == "tunebench" and (task, "reference") in _FASTEST:
        benchmark.extra_info["speedup_vs_reference"] = round(_FASTEST[(task, "reference")] / fastest,
                                                             2)


# --- script -------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=THREADS)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tasks", nargs="*", default=list(_LOOPS))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, {devices.device_name('cpu')}, "
          f"cpu capability {torch.backends.cpu.get_cpu_capability()}")
    print(f"{'task':10} {'loop':10} {'precision':9} {'samples/s':>10} {'min s':>7} {'median s':>9}"
          "  speed-up (min, median)")
    for task in args.tasks:
        loops = _LOOPS[task](args.threads)
        timings: dict[str, list[float]] = {}
        for name in ("reference", "tunebench"):
            loop = loops[name]
            loop.run_epoch()  # warm-up: allocations, oneDNN kernel creation
            times = []
            for _ in range(args.rounds):
                start = time.perf_counter()
                loop.run_epoch()
                times.append(time.perf_counter() - start)
            timings[name] = times
            ref = timings["reference"]
            print(f"{task:10} {name:10} {loop.precision:9} {loop.samples / min(times):10.0f} "
                  f"{min(times):7.3f} {statistics.median(times):9.3f}  "
                  f"{min(ref) / min(times):.2f}x, "
                  f"{statistics.median(ref) / statistics.median(times):.2f}x")


if __name__ == "__main__":
    main()
