"""The torch training loop every deep-learning task shares: fast, deterministic, multi-fidelity.

- **Fast**: a data split lives as tensors on the device; a batch is an ``index_select`` of a seeded
  permutation — no Dataset, no DataLoader, no per-sample Python. The forward pass runs under
  autocast in the study's precision (bf16 on a CPU with AMX-BF16 is 2–3× fp32 for convolutions).
- **Deterministic**: the model is initialised, the batches shuffled and dropout drawn from
  generators seeded by (evaluation seed, purpose); torch's deterministic algorithms are on and the
  thread count is the study's. The global RNG is restored afterwards.
- **Multi-fidelity**: fidelity = epochs. Learning-rate schedules span the task's *maximum* fidelity,
  so a run to fidelity ``k`` is exactly the first ``k`` epochs of a run to the maximum. The validation
  metric is reported after every epoch (a pruner may stop the trial there); early stopping ends a run
  whose validation metric has not improved for ``patience`` epochs; the model of the best epoch is
  the one scored on the test set.
- **Continues**: a run saves a checkpoint (:func:`checkpoint`: weights, optimiser and scaler state,
  the shuffling and dropout generators, the best epoch so far) and one continuing from it trains
  only the epochs after it, to exactly the numbers of a run to that fidelity in one go — so a
  promotion of Successive Halving or ASHA is charged only its new epochs.

What the loop is told (:class:`~tunebench.tasks.train_settings.TrainSettings`, the schedules, the
seeds) lives in :mod:`tunebench.tasks.train_settings`, without torch; tasks import this module only
when a trial runs.

The metric is accuracy (maximise). ``Result.value`` is the best validation accuracy seen so far, which
is the accuracy of the returned model; ``curve`` holds each epoch's validation accuracy.

**Charged honestly**: a run whose mean training loss in an epoch passes the task's bound (``loss_bound``:
each task declares it) or is not finite has diverged: it stops in that epoch with
:class:`~tunebench.tasks.base.Diverged` (a failed trial, charged the epochs trained). Restoring the
best epoch's weights and scoring the test set run outside the charged span
(:meth:`~tunebench.tasks.base.EvalContext.uncharged`); :func:`warm_up` pays torch's one-off
costs before the first timed trial.
"""

from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import nn

from tunebench import devices
from tunebench.tasks.base import Diverged, EvalContext, Result, TaskError
from tunebench.tasks.train_settings import TrainSettings, derive_seed, lr_factor


class Batches(Protocol):
    """A data split on the device that hands out batches by index (what :func:`fit` trains on)."""

    labels: torch.Tensor

    def __len__(self) -> int: ...

    def batch(self, index: torch.Tensor) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
        """``(model inputs, labels)`` of the items at ``index``; the model is called as ``model(*inputs)``."""
        ...


@dataclass(frozen=True)
class Split:
    """One data split as tensors on the device: ``inputs[i]`` has label ``labels[i]``."""

    inputs: torch.Tensor
    labels: torch.Tensor

    def __post_init__(self) -> None:
        if len(self.inputs) != len(self.labels):
            raise ValueError(f"{len(self.inputs)} inputs but {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.labels)

    def batch(self, index: torch.Tensor) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
        return (self.inputs.index_select(0, index),), self.labels.index_select(0, index)


def make_optimizer(params: list[nn.Parameter], settings: TrainSettings,
                   device: torch.device | None = None) -> torch.optim.Optimizer:
    """The optimiser ``settings`` names; fused kernels (one pass over all weights) on CPU and CUDA."""
    lr, wd = settings.lr, settings.weight_decay
    fused = device is not None and device.type in ("cpu", "cuda")
    if settings.optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, weight_decay=wd, fused=fused)
    if settings.optimizer == "momentum":
        return torch.optim.SGD(params, lr=lr, momentum=settings.momentum, weight_decay=wd,
                               nesterov=True, fused=fused)
    if settings.optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd, fused=fused)
    return torch.optim.AdamW(params, lr=lr, weight_decay=wd, fused=fused)


@dataclass
class Runtime:
    """What an evaluation actually ran on, resolved from the study's settings."""

    device: torch.device
    precision: str
    threads: int
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def device_str(self) -> str:
        return str(self.device)


@contextlib.contextmanager
def runtime(context: EvalContext, *, low_precision_pays: bool = True) -> Iterator[Runtime]:
    """Apply the study's device, threads and precision for one evaluation, deterministically.

    The global torch RNG state (CPU and the device's), the thread count and the determinism flags
    are all restored when the block ends, so an evaluation leaves the process as it found it.
    """
    device = devices.resolve_device(context.device or "auto", uses_torch=True)
    precision = devices.resolve_precision(context.precision or "fp32", device,
                                          low_precision_pays=low_precision_pays)
    rng_devices = [torch.device(device).index or 0] if device.startswith("cuda") else []
    with (
        devices.pinned_threads(context.threads) as threads,
        devices.deterministic(device),
        torch.random.fork_rng(devices=rng_devices),
    ):
        yield Runtime(torch.device(device), precision, int(threads))


@torch.inference_mode()
def accuracy(model: nn.Module, split: Batches, rt: Runtime, batch_size: int = 2048) -> float:
    """Fraction of ``split`` the model classifies correctly (eval mode, no gradients)."""
    was_training = model.training
    model.eval()
    correct = torch.zeros((), dtype=torch.int64, device=rt.device)
    n = len(split)
    for start in range(0, n, batch_size):
        index = torch.arange(start, min(start + batch_size, n), device=rt.device)
        inputs, labels = split.batch(index)
        with devices.autocast(rt.device_str, rt.precision):
            logits = model(*inputs)
        correct += (logits.argmax(dim=1) == labels).sum()
    model.train(was_training)
    return correct.item() / max(n, 1)


class Trainer:
    """Trains one model on one split and reports its validation accuracy after every epoch."""

    def __init__(self, model: nn.Module, settings: TrainSettings, rt: Runtime, *,
                 max_epochs: int, seed: int, loss_bound: float = math.inf) -> None:
        self.model, self.settings, self.rt = model, settings, rt
        self.max_epochs = max_epochs
        self.loss_bound = loss_bound
        params = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = make_optimizer(params, settings, rt.device)
        self.l1_params = [p for p in params if p.ndim > 1] if settings.l1 > 0 else []
        self.scaler = (torch.amp.GradScaler(rt.device.type)
                       if rt.precision == "fp16" else None)
        self.shuffle = torch.Generator(device="cpu").manual_seed(derive_seed(seed, "shuffle"))
        self.epoch = 0
        self.samples_seen = 0

    def train_epoch(self, train: Batches) -> float:
        """One pass over ``train`` in seeded random order; returns the mean training loss.

        Raises :class:`Diverged` when that loss is past ``loss_bound`` or not finite (checked once
        per epoch: a check per batch would make a GPU wait for every batch).
        """
        settings, rt, model = self.settings, self.rt, self.model
        for group in self.optimizer.param_groups:
            group["lr"] = settings.lr * lr_factor(settings.schedule, self.epoch, self.max_epochs)
        model.train()
        order = torch.randperm(len(train), generator=self.shuffle).to(rt.device)
        total = torch.zeros((), dtype=torch.float32, device=rt.device)
        for start in range(0, len(train), settings.batch_size):
            inputs, labels = train.batch(order[start:start + settings.batch_size])
            with devices.autocast(rt.device_str, rt.precision):
                logits = model(*inputs)
            loss = F.cross_entropy(logits.float(), labels)
            total += loss.detach() * len(labels)
            if self.l1_params:
                loss = loss + settings.l1 * sum(p.abs().sum() for p in self.l1_params)
            self.optimizer.zero_grad(set_to_none=True)
            if self.scaler is not None:
                self.scaler.scale(loss).backward()
                self.scaler.step(self.optimizer)
                self.scaler.update()
            else:
                loss.backward()
                self.optimizer.step()
        self.epoch += 1
        self.samples_seen += len(train)
        mean_loss = total.item() / len(train)
        if not mean_loss <= self.loss_bound:  # NaN included
            raise Diverged(
                f"training diverged: the mean loss of epoch {self.epoch} is {mean_loss:.4g}"
                f"{'' if math.isinf(self.loss_bound) else f' (bound {self.loss_bound:.4g})'} "
                f"(lr={settings.lr:.3g}, optimizer={settings.optimizer})"
            )
        return mean_loss


def fit(
    build_model: Callable[[], nn.Module],
    train: Batches,
    val: Batches,
    test: Batches | None,
    settings: TrainSettings,
    *,
    fidelity: int,
    max_fidelity: int,
    seed: int,
    context: EvalContext,
    rt: Runtime,
    extra: dict[str, Any] | None = None,
    loss_bound: float = math.inf,
) -> Result:
    """Train to ``fidelity`` epochs (fewer if early stopping ends it) and score the best epoch's model.

    Call inside :func:`runtime`. ``context.report`` is called after every epoch; a
    :class:`~tunebench.tasks.base.TrialPruned` or ``TrialTimeout`` it raises propagates, and so
    does :class:`~tunebench.tasks.base.Diverged` when an epoch's mean training loss passes
    ``loss_bound`` (or is not finite).
    """
    start = context.start
    if not 1 <= fidelity <= max_fidelity or not 0 <= start < fidelity:
        raise TaskError(f"fidelity must be 1..{max_fidelity} epochs (above the {start} trained), "
                        f"got {fidelity}")
    torch.manual_seed(derive_seed(seed, "init"))
    model = build_model().to(rt.device)
    torch.manual_seed(derive_seed(seed, "dropout"))
    trainer = Trainer(model, settings, rt, max_epochs=max_fidelity, seed=seed,
                      loss_bound=loss_bound)
    train_clock = devices.DeviceTimer(rt.device_str)
    eval_clock = devices.DeviceTimer(rt.device_str)
    curve: list[float] = []  # this evaluation's epochs (after ``start``)
    losses: list[float] = []
    best_value, best_epoch, best_state = -math.inf, 0, None
    if start:
        best_value, best_epoch, best_state, losses = restore(context.checkpoint, start, trainer)
    for epoch in range(start + 1, fidelity + 1):
        with train_clock:
            losses.append(trainer.train_epoch(train))
        with eval_clock:
            value = accuracy(model, val, rt)
        curve.append(value)
        if value > best_value:
            best_value, best_epoch = value, epoch
            if epoch < fidelity:
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            else:
                best_state = None  # the current weights are the best: nothing to restore
        context.report(epoch, value)
        if settings.patience is not None and epoch - best_epoch >= settings.patience:
            break
    test_value = None
    reached = start + len(curve)
    with context.uncharged():  # scoring the test set is not the configuration's to pay for
        if context.wants_checkpoint and reached < max_fidelity:  # a promotion may continue it
            if best_state is None:  # the best epoch is the last: a continuation may restore it
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            context.save_checkpoint(checkpoint(trainer, best_value, best_epoch, best_state, losses))
        if best_state is not None and best_epoch != reached:
            model.load_state_dict(best_state)
        if test is not None:
            with eval_clock:
                test_value = accuracy(model, test, rt)
    info: dict[str, Any] = {
        "device": rt.device_str,
        "precision": rt.precision,
        "threads": rt.threads,
        "epochs": reached,
        "best_epoch": best_epoch,
        "stopped_early": reached < fidelity,
        "train_loss": losses,
        "train_size": len(train),
        "val_size": len(val),
        "test_size": len(test) if test is not None else 0,
        "train_seconds": round(train_clock.seconds, 4),
        "eval_seconds": round(eval_clock.seconds, 4),
        "train_samples_per_second": round(trainer.samples_seen / max(train_clock.seconds, 1e-9), 1),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        **(extra or {}),
    }
    # Accuracy against what it cost: the measured training seconds of this evaluation (a
    # machine-dependent objective) and the model's size, for multi-objective studies.
    parameters = float(sum(p.numel() for p in model.parameters()))
    costs = {"train_seconds": train_clock.seconds, "parameters": parameters}
    return Result(value=best_value, test_value=test_value, fidelity_spent=reached,
                  curve=tuple(curve), extra=info, objectives={"accuracy": best_value, **costs},
                  test_objectives=None if test_value is None else {"accuracy": test_value,
                                                                   **costs})


def checkpoint(trainer: Trainer, best_value: float, best_epoch: int,
               best_state: dict[str, torch.Tensor] | None, losses: list[float]) -> dict[str, Any]:
    """Everything a continuation needs to train on as if it had never stopped (copies: training
    on must not change a checkpoint another promotion may still continue from)."""
    rng_devices = [trainer.rt.device] if trainer.rt.device.type == "cuda" else []
    return {
        "epoch": trainer.epoch,
        "samples_seen": trainer.samples_seen,
        "model": {k: v.detach().clone() for k, v in trainer.model.state_dict().items()},
        "optimizer": copy.deepcopy(trainer.optimizer.state_dict()),
        "scaler": trainer.scaler.state_dict() if trainer.scaler is not None else None,
        "shuffle": trainer.shuffle.get_state(),
        "rng": torch.get_rng_state(),
        "device_rng": [torch.cuda.get_rng_state(d) for d in rng_devices],
        "best": (best_value, best_epoch, best_state),
        "losses": list(losses),
    }


def restore(state: Any, start: int, trainer: Trainer
            ) -> tuple[float, int, dict[str, torch.Tensor] | None, list[float]]:
    """Put ``trainer`` where :func:`checkpoint` left it; the best epoch so far and the losses."""
    if not isinstance(state, dict) or state.get("epoch") != start:
        raise TaskError(f"asked to continue from epoch {start} with a checkpoint of epoch "
                        f"{state.get('epoch') if isinstance(state, dict) else state!r:.40}")
    trainer.model.load_state_dict(state["model"])
    trainer.optimizer.load_state_dict(copy.deepcopy(state["optimizer"]))
    if trainer.scaler is not None and state["scaler"] is not None:
        trainer.scaler.load_state_dict(state["scaler"])
    trainer.shuffle.set_state(state["shuffle"])
    torch.set_rng_state(state["rng"])
    if state["device_rng"]:
        torch.cuda.set_rng_state(state["device_rng"][0], trainer.rt.device)
    trainer.epoch, trainer.samples_seen = start, state["samples_seen"]
    best_value, best_epoch, best_state = state["best"]
    return best_value, best_epoch, best_state, list(state["losses"])


def chance_loss_bound(num_classes: int, factor: float) -> float:
    """``factor`` times the cross-entropy of guessing uniformly among ``num_classes`` (what an
    untrained classifier scores): a mean training loss past it is a diverged run."""
    return factor * math.log(max(num_classes, 2))


def warm_up(build_model: Callable[[], nn.Module], make_batches: Callable[[torch.device], Batches],
            settings: TrainSettings, context: EvalContext, *, low_precision_pays: bool) -> None:
    """One training epoch and one evaluation pass of a model on a few items, in the study's
    settings, so torch's one-off costs in this process (thread pool start, kernel selection,
    allocator growth, autocast and optimiser set-up) are paid before any timed trial."""
    with runtime(context, low_precision_pays=low_precision_pays) as rt:
        torch.manual_seed(0)
        model = build_model().to(rt.device)
        batches = make_batches(rt.device)
        Trainer(model, settings, rt, max_epochs=1, seed=0).train_epoch(batches)
        accuracy(model, batches, rt)
        devices.synchronize(rt.device_str)
