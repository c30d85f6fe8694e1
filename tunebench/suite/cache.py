"""The evaluation cache: complete evaluations stored by a content key, so nothing is trained twice.

**The key** is the sha256 of everything that decides an evaluation's numbers:

- the task: its registry name, its ``version`` attribute, its *code hash* and its options with the
  defaults of its ``__init__`` filled in (``{}`` and ``{"dim": 2}`` are the same task);
- the evaluation: the configuration's canonical key, the fidelity asked for and the evaluation seed;
- the *numerics* (:func:`numerics_settings`): device type, threads and precision from the study
  settings, plus the library facts that change floating-point results — the numpy and scipy
  versions and numpy's BLAS (name, version and the kernel architecture it picked for this CPU);
  for a torch task also the torch build, its CPU capability (AVX2 / AVX-512) and CUDA version, and
  the GPU's name.

**The code hash** is the sha256 of the source files of the modules that define the task: every
module in the task class's MRO (``tunebench/tasks/base.py`` included) and, transitively, every
module of the same top-level package that those modules reference at module level (a module they
import, or a class or function they import from one) or import inside a function. For ``linreg``
that is ``tasks/linreg.py``, ``tasks/base.py``, ``errors.py`` and ``space.py``; ``mnist_cnn``'s
include ``tasks/mnist_net.py`` and ``tasks/training.py``, which its ``evaluate`` imports (they need
torch, which listing or checking the task must not pay for); for a plugin file, the file itself and
what it imports from its own package. A module imported inside a function is imported for the hash,
so the hash is the same whether or not a trial has run in the process. Editing any of them
invalidates the task's entries; editing the harness, the runners or the reports does not. A module
imported by a computed name is not seen: when such a change alters numbers, bump the task's
``version``.

**A user's data file** (an option the task lists in ``Task.data_files``) is part of the key by its
content: given with its ``sha256`` option, the pinned digest is in the options (and the task's
loader refuses any other file); without one, the file is hashed (a directory: every file in it,
by name), so editing it never serves the old file's results. Digests are kept per process by path,
size, modification time and inode, so a file is read once however many studies use it.

**What is cached**: complete evaluations only — ``ok`` trials, and trials that failed by a
non-finite value, a diverged training run or an arithmetic error (``FloatingPointError``,
``OverflowError``, ``ZeroDivisionError``), which are properties of the inputs. Other failures (a
timeout, out of memory, a missing file, a CUDA error, a trial clipped by the end of a device-seconds
budget) may depend on the machine or the moment and are recomputed.
**Pruned trials are stored as prefixes**: where a trial stops depends on the runner's pruner, not
on the evaluation, but the first *k* steps of an evaluation are the same whoever stops it (tasks
report a deterministic curve). A hit is *replayed* through the current runner's pruner, step by
step, exactly as the live evaluation would have reported its curve: if the pruner stops it at step
*k* within what is stored, the trial is served as pruned at *k* (as a live run would have been), so
a pruning runner sees the same trials with or without the cache. A stored prefix the pruner would
run past is a miss; the complete evaluation then replaces the prefix. Under a ``device_seconds`` budget a
pruned trial's charge would be the time of its first *k* steps, which is not recorded, so there a
pruning runner's multi-step evaluations are recomputed rather than served.

**A hit charges the recorded cost**: the served record carries the original evaluation's
``eval_seconds`` and ``cpu_seconds`` (marked ``cached``), so budgets, curves and every stored number
are the same with or without the cache. A hit whose recorded time exceeds the study's
``trial_timeout`` is recomputed (a live run would have timed out).

**Where and who writes**: a separate SQLite file, ``tunebench-cache.db``, in the results store's
folder (:meth:`EvaluationCacheStore.beside`), shared by every results store in that folder — so a
suite re-run into a *new* results store trains nothing. The results store keeps its single writer
(the driver); the cache is a different kind of file: content-addressed, append-only and idempotent
(the same key always maps to the same numbers), so it needs no ordering and no single writer. Each
process (the driver, or each process-pool or Ray worker, which receives the store pickled) opens
its own WAL connection on first use and commits each entry in one short transaction with
``INSERT OR IGNORE``; concurrent writers queue on SQLite's lock (``busy_timeout``), and a race can
only write the same row twice, which the primary key ignores. A cache that cannot be opened or
written (read-only folder, a Ray worker on another machine, a lock held too long) warns once and
degrades to recomputing: a miss is always correct. The file needs a local filesystem (SQLite's WAL
does not work over NFS).
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import inspect
import json
import math
import os
import re
import sqlite3
import sys
import threading
import time
import warnings
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import Any

from tunebench.runners.base import Status
from tunebench.space import canonical_json
from tunebench.suite.budget import BudgetKind
from tunebench.suite.records import TrialRecord
from tunebench.suite.spec import StudySpec
from tunebench.tasks.base import EvalContext, Task
from tunebench.versions import package_version

#: Name of the cache file in a results store's folder.
CACHE_FILENAME = "tunebench-cache.db"
#: Bump when the key's recipe or the table changes: older entries are then never looked up.
CACHE_FORMAT = 1

#: Failures that are properties of the inputs (cached); anything else is recomputed.
DETERMINISTIC_FAILURES = ("NonFiniteValue", "Diverged", "FloatingPointError", "OverflowError",
                          "ZeroDivisionError")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS evaluations (
    key TEXT PRIMARY KEY, task TEXT NOT NULL, task_version TEXT NOT NULL, code_hash TEXT NOT NULL,
    config_key TEXT NOT NULL, fidelity INTEGER NOT NULL, eval_seed INTEGER NOT NULL,
    key_json TEXT NOT NULL, config_json TEXT NOT NULL, status TEXT NOT NULL, value REAL,
    test_value REAL, fidelity_spent REAL NOT NULL, curve_json TEXT NOT NULL,
    reported_json TEXT NOT NULL, eval_seconds REAL NOT NULL, cpu_seconds REAL NOT NULL,
    error TEXT, traceback TEXT, extra_json TEXT, created_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS evaluations_task ON evaluations (task, code_hash);
"""

_COLUMNS = ("status, value, test_value, fidelity_spent, curve_json, reported_json, eval_seconds,"
            " cpu_seconds, error, traceback, extra_json, config_json")


# ----------------------------------------------------------------------------- the key

def _module_source(module: ModuleType) -> bytes | None:
    """The bytes of ``module``'s source file; None when it has none or it cannot be read."""
    path = getattr(module, "__file__", None)
    if not path:
        return None
    try:
        return Path(path).read_bytes()
    except OSError:
        return None


def _referenced_modules(module: ModuleType, source: str | None) -> set[str]:
    """Names of the modules of ``module``'s own top-level package that it references.

    A package's own submodules are followed only when its source names them: the import system
    sets every imported submodule as an attribute of its package, so following them all would make
    the hash depend on what else the process happened to import (a driver that built every task of
    a suite against a worker that built one).
    """
    top = module.__name__.split(".")[0]
    found: set[str] = set()
    for value in list(vars(module).values()):
        if inspect.ismodule(value):
            name = value.__name__
            if name.startswith(module.__name__ + ".") and not _source_names(
                    source, name.rsplit(".", 1)[1]):
                continue
        elif inspect.isclass(value) or inspect.isfunction(value):
            name = getattr(value, "__module__", None) or ""
        else:
            continue
        if name.split(".")[0] == top and name in sys.modules:
            found.add(name)
    return found


def _imported_in_functions(module: ModuleType, source: str | None) -> set[str]:
    """Names of the modules of ``module``'s own top-level package that it imports inside a function.

    They are imported here (a task imports them when a trial runs anyway), so the answer is the
    same in a process that has not evaluated the task yet. One that fails to import is left out:
    no evaluation that needs it can succeed. Only a file with an indented import of its package is
    parsed: parsing every file would take the hash of a synthetic task from about 1 ms to 50 ms.
    """
    top = module.__name__.split(".")[0]
    indented_import = re.compile(
        rf"\n[ \t]+(?:from[ \t]+(?:\.|{re.escape(top)}\b)|import[ \t][^\n#]*\b{re.escape(top)}\b)")
    try:
        tree = ast.parse(source) if source and indented_import.search(source) else None
    except (SyntaxError, ValueError):
        tree = None
    if tree is None:
        return set()
    found: set[str] = set()
    pending: list[tuple[ast.AST, bool]] = [(node, False) for node in tree.body]
    while pending:
        node, in_function = pending.pop()
        if in_function:
            for base, attribute in _import_targets(node, module.__package__):
                name = _imported_module(base, attribute) if base.split(".")[0] == top else None
                if name is not None:
                    found.add(name)
        inside = in_function or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        pending.extend((child, inside) for child in ast.iter_child_nodes(node))
    return found


def _import_targets(node: ast.AST, package: str | None) -> list[tuple[str, str | None]]:
    """``(module, attribute or None)`` for each name an import statement binds."""
    if isinstance(node, ast.Import):
        return [(alias.name, None) for alias in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    try:
        base = importlib.util.resolve_name("." * node.level + (node.module or ""), package)
    except (ImportError, ValueError):  # a relative import outside a package
        return []
    return [(base, alias.name) for alias in node.names]


def _imported_module(base: str, attribute: str | None) -> str | None:
    """The module that ``import base`` or ``from base import attribute`` brings code from."""
    try:
        module = importlib.import_module(base)
    except Exception:  # whatever a module raises on import, it cannot decide an evaluation's numbers
        return None
    if attribute is None:
        return module.__name__
    value = getattr(module, attribute, None)
    if value is None:  # a submodule not imported yet
        try:
            value = importlib.import_module(f"{base}.{attribute}")
        except Exception:
            return module.__name__
    if inspect.ismodule(value):
        return value.__name__
    if inspect.isclass(value) or inspect.isfunction(value):
        return getattr(value, "__module__", None) or module.__name__
    return module.__name__


def _source_names(source: str | None, word: str) -> bool:
    if source is None:
        return True  # no readable source: follow it rather than risk missing a change
    return re.search(rf"\b{re.escape(word)}\b", source) is not None


@lru_cache(maxsize=256)
def task_code_hash(cls: type) -> str:
    """sha256 over the source files that define task class ``cls`` (see the module docstring)."""
    pending = [c.__module__ for c in cls.__mro__ if c.__module__ not in ("builtins", "abc")]
    sources: dict[str, bytes | None] = {}  # each file read once, for both following and hashing
    while pending:
        name = pending.pop()
        if name in sources or name not in sys.modules:
            continue
        module = sys.modules[name]
        source = sources[name] = _module_source(module)
        # No file at all (a namespace package) reads as empty; a file that cannot be read, as None.
        text = (source.decode("utf-8", "replace") if source is not None
                else None if getattr(module, "__file__", None) else "")
        pending.extend((_referenced_modules(module, text) | _imported_in_functions(module, text))
                       - sources.keys())
    # Digests are sorted, not module names: a plugin file's module name differs between processes.
    digests = sorted(hashlib.sha256(s).hexdigest() for s in sources.values() if s is not None)
    return hashlib.sha256("\n".join(digests).encode()).hexdigest()


def resolved_task_options(task: Task) -> dict[str, Any]:
    """The task's options with its ``__init__`` defaults filled in."""
    options: dict[str, Any] = {}
    try:
        parameters = list(inspect.signature(type(task).__init__).parameters.values())[1:]
    except (TypeError, ValueError):
        parameters = []
    for p in parameters:
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.default is not p.empty:
            options[p.name] = p.default
    options.update(task.options())
    return options


@lru_cache(maxsize=1)
def _numpy_blas() -> tuple[tuple[str, str, str], ...]:
    """numpy's own BLAS (name, version, kernel architecture), whatever else is loaded.

    Only the library inside numpy's installation is taken, so the answer does not depend on
    which other packages (scipy, torch) happen to have loaded their own BLAS before the call.
    A numpy linked against a system BLAS reports every BLAS loaded at the time.
    """
    try:
        import numpy

        from tunebench.threadpools import pool_info

        pools = [p for p in pool_info() if p.get("user_api") == "blas"]
    except Exception:  # threadpoolctl inspects native libraries; a failure must not stop a run
        return ()
    here = Path(numpy.__file__).resolve().parent
    own = [p for p in pools if str(Path(p.get("filepath", "")).resolve()).startswith(
        (str(here), str(here.parent / "numpy.libs")))]
    return tuple(sorted({(str(p.get("internal_api")), str(p.get("version")),
                          str(p.get("architecture"))) for p in (own or pools)}))


def numerics_settings(uses_torch: bool, device: str, threads: int, precision: str,
                      *, applied: bool = False) -> dict[str, Any]:
    """The facts that change the numbers an evaluation computes (part of every cache key).

    With ``applied=True`` a torch task's entry also holds the determinism settings tunebench's torch
    loop applies to every evaluation (deterministic algorithms on, cuDNN benchmark off, the thread
    count), read from torch inside those settings: this is what each study records.
    """
    import numpy

    out: dict[str, Any] = {
        "device_type": device.split(":")[0], "threads": threads, "precision": precision,
        "numpy": numpy.__version__, "scipy": package_version("scipy"),
        "blas": [{"api": api, "version": ver, "architecture": arch}
                 for api, ver, arch in _numpy_blas()],
    }
    if uses_torch:
        import torch

        from tunebench import devices

        out["torch"] = {"version": torch.__version__, "cuda": torch.version.cuda,
                        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
                        # what precision "auto" resolves to depends on these, not on the name
                        "cpu_fast_bf16": devices.cpu_has_fast_bf16()}
        if device.startswith("cuda"):
            out["torch"]["gpu"] = torch.cuda.get_device_name(device)
            out["torch"]["gpu_bf16"] = bool(torch.cuda.is_bf16_supported())
        if applied:
            with devices.pinned_threads(threads), devices.deterministic(device):
                out["determinism"] = devices.determinism_settings(device)
    return out


@dataclass(frozen=True)
class _TaskKey:
    """The part of a cache key fixed for one task instance under one study's settings."""

    name: str
    version: str
    code_hash: str
    prefix: str  # canonical JSON of everything but the per-evaluation parts


def _task_key(task: Task, study: StudySpec, context: EvalContext) -> _TaskKey:
    code = task_code_hash(type(task))
    threads = context.threads if context.threads is not None else study.settings.threads
    options = resolved_task_options(task)
    parts = {
        "format": CACHE_FORMAT, "task": study.task.name, "version": str(task.version),
        "code": code, "options": options,
        "numerics": numerics_settings(task.uses_torch, context.device, threads, context.precision),
    }
    data = data_content_hashes(task, options)
    if data:  # absent otherwise, so the keys of tasks without user data files stay as they were
        parts["data"] = data
    return _TaskKey(study.task.name, str(task.version), code, canonical_json(parts))


def data_content_hashes(task: Task, options: dict[str, Any]) -> dict[str, str]:
    """The content digest of every user data file the task's options name and do not pin."""
    digests: dict[str, str] = {}
    for option, pin in getattr(task, "data_files", {}).items():
        path = options.get(option)
        if path is None or (pin is not None and options.get(pin)):
            continue
        digests[option] = _content_digest(Path(str(path)).expanduser())
    return digests


_DIGESTS: dict[tuple[str, int, int, int], str] = {}


def _content_digest(path: Path) -> str:
    """sha256 of a file, or of a directory's files (by name); "missing" when there is none (the
    evaluation then fails with the loader's error, and failures of that kind are not cached)."""
    try:
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.is_file())
            return hashlib.sha256("".join(f"{p.name}:{_content_digest(p)};" for p in files)
                                  .encode()).hexdigest()
        stat = path.stat()
    except OSError:
        return "missing"
    memo = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, stat.st_ino)
    found = _DIGESTS.get(memo)
    if found is None:
        digest = hashlib.sha256()
        try:
            with open(path, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
        except OSError:
            return "missing"
        found = _DIGESTS[memo] = digest.hexdigest()
    return found


def evaluation_key(prefix: str, config_key: str, fidelity: int, eval_seed: int) -> str:
    return hashlib.sha256(f"{prefix}\x1f{config_key}\x1f{int(fidelity)}\x1f{int(eval_seed)}"
                          .encode()).hexdigest()


def is_cacheable(record: TrialRecord) -> bool:
    """Whether a fresh evaluation's record may be stored (see the module docstring)."""
    if record.cached:
        return False
    if record.status is Status.OK:
        return True
    if record.status is Status.PRUNED:
        return bool(record.curve)  # a prefix: served only to a pruner that stops within it
    if record.status is Status.FAILED and record.error:
        return record.error.split(":", 1)[0] in DETERMINISTIC_FAILURES
    return False


@lru_cache(maxsize=256)
def _runner_prunes(name: str) -> bool:
    from tunebench.registry import get_runner_class

    try:
        return bool(get_runner_class(name).capabilities.pruning)
    except Exception:  # an unknown runner cannot be reached here; stay on the safe side
        return True


# ----------------------------------------------------------------------------- the store

@dataclass
class CacheStats:
    """What this process's cache object did (hits, misses, entries written, skipped writes)."""

    hits: int = 0
    pruned_hits: int = 0
    misses: int = 0
    stored: int = 0
    not_cacheable: int = 0
    errors: int = 0


class EvaluationCacheStore:
    """The evaluation cache in one SQLite file; implements the study loop's ``EvaluationCache``.

    Picklable: a worker process receives the path and opens its own connection on first use.
    """

    def __init__(self, path: str | Path, *, readonly: bool = False, busy_timeout: float = 10.0) -> None:
        self.path = Path(path).expanduser()
        self.readonly = readonly
        self.busy_timeout = busy_timeout
        self.stats = CacheStats()
        self._init_runtime()

    def _init_runtime(self) -> None:
        self._conn: sqlite3.Connection | None = None
        self._pid: int | None = None
        self._disabled: str | None = None
        self._lock = threading.Lock()
        self._task_keys: weakref.WeakKeyDictionary[Task, dict[tuple[Any, ...], _TaskKey]] = (
            weakref.WeakKeyDictionary())

    @classmethod
    def beside(cls, db: str | Path, **options: Any) -> EvaluationCacheStore:
        """The cache shared by every results store in ``db``'s folder."""
        return cls(Path(db).expanduser().resolve().parent / CACHE_FILENAME, **options)

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "readonly": self.readonly, "busy_timeout": self.busy_timeout}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.stats = CacheStats()
        self._init_runtime()

    def __repr__(self) -> str:
        return f"EvaluationCacheStore({str(self.path)!r})"

    # ------------------------------------------------------------------ connection
    def _connection(self) -> sqlite3.Connection | None:
        if self._disabled is not None:
            return None
        if self._conn is not None and self._pid == os.getpid():
            return self._conn
        try:
            if self.readonly:
                conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True,
                                       timeout=self.busy_timeout, check_same_thread=False)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(self.path, isolation_level=None, timeout=self.busy_timeout,
                                       check_same_thread=False)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.executescript(_SCHEMA)
                conn.execute("INSERT OR IGNORE INTO meta VALUES ('format', ?)", (str(CACHE_FORMAT),))
            conn.execute("SELECT 1 FROM evaluations LIMIT 1")
        except (sqlite3.Error, OSError) as exc:
            self._disable(f"cannot open it ({exc})")
            return None
        self._conn, self._pid = conn, os.getpid()
        return conn

    def _disable(self, why: str) -> None:
        self.stats.errors += 1
        if self._disabled is None:
            self._disabled = why
            warnings.warn(f"evaluation cache {self.path}: {why}; evaluations are recomputed",
                          RuntimeWarning, stacklevel=3)

    def close(self) -> None:
        if self._conn is not None and self._pid == os.getpid():
            self._conn.close()
        self._conn = None

    # ------------------------------------------------------------------ keys
    def task_key(self, task: Task, study: StudySpec, context: EvalContext) -> _TaskKey:
        memo_key = (study.task.name, context.device, context.threads, context.precision)
        try:
            per_task = self._task_keys.setdefault(task, {})
        except TypeError:  # a task that cannot be weakly referenced: no memo
            return _task_key(task, study, context)
        found = per_task.get(memo_key)
        if found is None:
            found = per_task[memo_key] = _task_key(task, study, context)
        return found

    def key(self, task: Task, study: StudySpec, config_key: str, fidelity: int,
            context: EvalContext) -> str:
        """The cache key of one evaluation (what :meth:`lookup` and :meth:`store` use)."""
        return evaluation_key(self.task_key(task, study, context).prefix, config_key, fidelity,
                              study.eval_seed)

    # ------------------------------------------------------------------ the protocol
    def lookup(self, task: Task, study: StudySpec, config_key: str, fidelity: int,
               context: EvalContext) -> TrialRecord | None:
        """The stored evaluation, replayed through the runner's pruner; None on a miss."""
        conn = self._connection()
        if conn is None:
            return None
        key = self.key(task, study, config_key, fidelity, context)
        try:
            with self._lock:
                row = conn.execute(f"SELECT {_COLUMNS} FROM evaluations WHERE key=?",
                                   (key,)).fetchone()
        except sqlite3.Error as exc:
            self.stats.errors += 1
            warnings.warn(f"evaluation cache {self.path}: lookup failed ({exc})", RuntimeWarning,
                          stacklevel=2)
            return None
        if row is None:
            self.stats.misses += 1
            return None
        (status, value, test_value, spent, curve_json, reported_json, eval_seconds, cpu_seconds,
         error, trace, extra_json, config_json) = row
        timeout = study.settings.trial_timeout
        reported = [float(v) for v in json.loads(reported_json)]
        if (timeout is not None and eval_seconds > timeout) or (
                len(reported) > 1 and study.budget.kind is BudgetKind.DEVICE_SECONDS
                and _runner_prunes(study.runner.name)):
            self.stats.misses += 1
            return None
        config = json.loads(config_json)
        pruned_at = _replay_pruner(reported, context)
        if pruned_at is None and status == Status.PRUNED:  # the pruner would run past the prefix
            self.stats.misses += 1
            return None
        if pruned_at is not None:
            self.stats.pruned_hits += 1
            share = pruned_at / len(reported)
            return TrialRecord(
                number=0, config=config, config_key=config_key, status=Status.PRUNED,
                value=reported[pruned_at - 1], test_value=None, fidelity=fidelity,
                fidelity_spent=float(pruned_at), curve=tuple(reported[:pruned_at]),
                eval_seconds=eval_seconds * share, cpu_seconds=cpu_seconds * share,
                optimizer_seconds=0.0, charge=0.0, cached=True,
            )
        self.stats.hits += 1
        return TrialRecord(
            number=0, config=config, config_key=config_key, status=Status(status), value=value,
            test_value=test_value, fidelity=fidelity, fidelity_spent=float(spent),
            curve=tuple(float(v) for v in json.loads(curve_json)), eval_seconds=eval_seconds,
            cpu_seconds=cpu_seconds, optimizer_seconds=0.0, charge=0.0, error=error,
            traceback=trace, cached=True, extra=json.loads(extra_json) if extra_json else {},
        )

    def store(self, task: Task, study: StudySpec, record: TrialRecord,
              context: EvalContext) -> None:
        """Store a fresh evaluation if it is complete (see :func:`is_cacheable`)."""
        if not is_cacheable(record):
            self.stats.not_cacheable += 1
            return
        if self.readonly:
            return
        conn = self._connection()
        if conn is None:
            return
        task_key = self.task_key(task, study, context)
        key = evaluation_key(task_key.prefix, record.config_key, record.fidelity, study.eval_seed)
        row = (key, task_key.name, task_key.version, task_key.code_hash, record.config_key,
               record.fidelity, study.eval_seed, task_key.prefix, canonical_json(record.config),
               str(record.status), _finite(record.value), _finite(record.test_value),
               record.fidelity_spent, json.dumps(list(record.curve)),
               json.dumps([float(v) for v in context.curve]), record.eval_seconds,
               record.cpu_seconds, record.error, record.traceback,
               canonical_json(record.extra) if record.extra else None, time.time())
        # A complete evaluation replaces a stored prefix of itself; a prefix never replaces anything.
        verb = "INSERT OR IGNORE" if record.status is Status.PRUNED else "INSERT OR REPLACE"
        try:
            with self._lock:  # one statement in autocommit mode: its own transaction
                conn.execute(f"{verb} INTO evaluations VALUES ({','.join('?' * 21)})", row)
        except (sqlite3.Error, TypeError, ValueError) as exc:
            self._disable(f"writing failed ({type(exc).__name__}: {exc})")
            return
        self.stats.stored += 1

    # ------------------------------------------------------------------ inspection
    def count(self, task: str | None = None) -> int:
        """How many evaluations are stored (for one task name, or all)."""
        conn = self._connection()
        if conn is None:
            return 0
        if task is None:
            return int(conn.execute("SELECT COUNT(*) FROM evaluations").fetchone()[0])
        return int(conn.execute("SELECT COUNT(*) FROM evaluations WHERE task=?",
                                (task,)).fetchone()[0])

    def entries(self) -> Iterator[dict[str, Any]]:
        """Every stored evaluation as a dict (task, code hash, key parts, status, value, …)."""
        conn = self._connection()
        if conn is None:
            return
        cursor = conn.execute("SELECT key, task, task_version, code_hash, config_key, fidelity,"
                              " eval_seed, status, value, eval_seconds FROM evaluations")
        names = [d[0] for d in cursor.description]
        for row in cursor:
            yield dict(zip(names, row, strict=True))


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _replay_pruner(reported: list[float], context: EvalContext) -> int | None:
    """Feed the stored curve to the runner's pruner as the live evaluation would; the step it
    stops at, or None. Non-finite values are not shown to the pruner (as in EvalContext.report)."""
    if context.pruner is None:
        return None
    for step, value in enumerate(reported, start=1):
        if math.isfinite(value) and context.pruner(step, float(value)):
            return step
    return None


def open_cache(path: str | Path | None, db: str | Path | None = None) -> EvaluationCacheStore | None:
    """A cache at ``path``, or beside ``db`` when ``path`` is None; None when both are None."""
    if path is not None:
        return EvaluationCacheStore(path)
    if db is not None:
        return EvaluationCacheStore.beside(db)
    return None


__all__ = [
    "CACHE_FILENAME", "CacheStats", "EvaluationCacheStore", "evaluation_key", "is_cacheable",
    "numerics_settings", "open_cache", "resolved_task_options", "task_code_hash",
]
