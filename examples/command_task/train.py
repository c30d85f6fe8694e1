"""A plain PyTorch training script, tuned by tunebench without being rewritten as a task.

It reads its hyperparameters from the JSON tunebench sends on stdin (or runs with its own
defaults when started by hand), seeds itself from the seed it is given, trains a small MLP on
scikit-learn's Friedman #1 regression problem (generated, nothing downloaded) and prints one
JSON line per epoch — the only thing it does for tunebench — so pruners can stop it early.

    python examples/command_task/train.py < /dev/null            # by hand, defaults
    tunebench run examples/command_task/suite.toml --db cmd.db    # tuned
"""

from __future__ import annotations

import json
import sys

import torch
from sklearn.datasets import make_friedman1
from torch import nn


def main() -> None:
    text = sys.stdin.read() if not sys.stdin.isatty() else ""
    given = json.loads(text) if text.strip() else {}
    config = {"lr": 0.01, "hidden": 32, "weight_decay": 1e-5, **given.get("config", {})}
    epochs, seed = given.get("fidelity", 10), given.get("seed", 0)
    torch.manual_seed(seed)
    torch.set_num_threads(1)
    x, y = make_friedman1(n_samples=1200, noise=0.5, random_state=0)  # the data is fixed
    x, y = torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)
    train, valid, test = slice(0, 800), slice(800, 1000), slice(1000, 1200)
    model = nn.Sequential(nn.Linear(10, config["hidden"]), nn.ReLU(), nn.Linear(config["hidden"], 1))
    optimiser = torch.optim.Adam(model.parameters(), lr=config["lr"],
                                 weight_decay=config["weight_decay"])
    order = torch.Generator().manual_seed(seed)
    for epoch in range(1, epochs + 1):
        for batch in torch.randperm(800, generator=order).split(32):
            optimiser.zero_grad()
            loss = nn.functional.mse_loss(model(x[train][batch]).squeeze(1), y[train][batch])
            loss.backward()
            optimiser.step()
        with torch.no_grad():
            val = nn.functional.mse_loss(model(x[valid]).squeeze(1), y[valid]).item()
        print(json.dumps({"step": epoch, "value": val}), flush=True)
    with torch.no_grad():
        test_mse = nn.functional.mse_loss(model(x[test]).squeeze(1), y[test]).item()
    print(json.dumps({"value": val, "test_value": test_mse}), flush=True)


if __name__ == "__main__":
    main()
