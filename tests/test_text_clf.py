"""text_clf: tokenizer, n-gram keys, vocabulary, ragged batches, the task on a CSV and on real data."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from tunebench.data import DataMissingError, is_fetched
from tunebench.registry import RegistryError, make_task
from tunebench.tasks.base import Direction, EvalContext
from tunebench.tasks.text_clf import Corpus, TextClassifierTask, Vocabulary, gather, tokenize
from tunebench.tasks.text_net import RaggedSplit, TextCNN

#: `make test` sets this so a data set missing after `make install` fails instead of skipping.
REQUIRE_DATA = os.environ.get("TUNEBENCH_REQUIRE_DATA") == "1"
needs_rt = pytest.mark.skipif(not is_fetched("rotten-tomatoes") and not REQUIRE_DATA,
                              reason="run `tunebench data fetch rotten-tomatoes`")


def test_tokenize_lowercases_and_keeps_inner_apostrophes() -> None:
    assert tokenize("Don’t stop -- it's 2 GOOD!") == ["don't", "stop", "it's", "2", "good"]
    assert tokenize("") == []


def test_ngram_keys_stay_inside_documents_and_orders_never_collide() -> None:
    corpus = Corpus.build(["a b c", "c a", ""])
    keys, offsets = corpus.ngram_keys(2)
    assert offsets.tolist() == [0, 5, 8, 8]  # 3 + 2 bigrams, 2 + 1 bigram, nothing
    a, b, c = corpus.tokens[:3]
    v = corpus.num_words
    assert keys[:5].tolist() == [a, b, c, v + a * v + b, v + b * v + c]
    assert keys[5:8].tolist() == [c, a, v + c * v + a]  # no bigram "c c" across documents
    trigram_keys, _ = corpus.ngram_keys(3)
    assert len(set(trigram_keys[:6].tolist())) == 6


def test_gather_and_vocabulary_from_the_training_part_only() -> None:
    flat = np.array([5, 6, 7, 5, 5, 9])
    offsets = np.array([0, 3, 5, 6])
    sub, sub_offsets = gather(flat, offsets, np.array([2, 0]))
    assert sub.tolist() == [9, 5, 6, 7] and sub_offsets.tolist() == [0, 1, 4]
    vocab = Vocabulary.build(np.array([5, 5, 5, 6, 7, 7]), size=2)  # 5 (x3), 7 (x2); 6 cut
    assert vocab.keys.tolist() == [5, 7]
    ids, new_offsets = vocab.encode(flat, offsets)
    assert ids.tolist() == [1, 2, 1, 1] and new_offsets.tolist() == [0, 2, 4, 4]
    ids, same_offsets = vocab.encode(flat, offsets, unknown=3)
    assert ids.tolist() == [1, 3, 2, 1, 1, 3] and same_offsets is offsets
    tie = Vocabulary.build(np.array([9, 8, 9, 8]), size=1)
    assert tie.keys.tolist() == [8]  # ties: the smaller key, so the choice is deterministic


def test_ragged_batches_for_bags_and_for_a_cnn() -> None:
    ids = np.array([1, 2, 3, 4, 5, 6])
    offsets = np.array([0, 3, 3, 6])
    labels = np.array([0, 1, 0])
    bags = RaggedSplit.from_numpy(ids, offsets, labels, torch.device("cpu"))
    (flat, bag_offsets), batch_labels = bags.batch(torch.tensor([2, 1, 0]))
    assert flat.tolist() == [4, 5, 6, 1, 2, 3] and bag_offsets.tolist() == [0, 3, 3]
    assert batch_labels.tolist() == [0, 1, 0]
    padded = RaggedSplit.from_numpy(ids, offsets, labels, torch.device("cpu"), pad_to=2)
    (tokens,), _ = padded.batch(torch.tensor([0, 1]))
    assert tokens.tolist() == [[1, 2], [0, 0]]


@pytest.mark.parametrize("width", [1, 2, 3])
def test_the_cnn_ignores_padding(width: int) -> None:
    torch.manual_seed(0)
    model = TextCNN(vocab=10, dim=8, num_classes=2, dropout=0.0, width=width).eval()
    short = model(torch.tensor([[3, 4, 5]]))
    padded = model(torch.tensor([[3, 4, 5, 0, 0, 0]]))
    assert torch.allclose(short, padded, atol=1e-6)


@pytest.fixture
def reviews_csv(tmp_path: Path) -> Path:
    """A small CSV the test writes: sentiment words decide the label, filler words do not."""
    rng = np.random.default_rng(0)
    filler = ["the", "film", "plot", "actor", "scene", "story", "music", "ending"]
    rows = ["text,label"]
    for i in range(400):
        positive = i % 2 == 0
        words = list(rng.choice(filler, size=6))
        words.insert(int(rng.integers(0, 6)), "great" if positive else "dull")
        if rng.random() < 0.3:  # negation flips the meaning: bigrams can tell
            words = ["not", "dull" if positive else "great", *words[1:]]
        rows.append(f"{' '.join(words)},{'pos' if positive else 'neg'}")
    path = tmp_path / "reviews.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def test_the_task_declares_its_space_and_metric() -> None:
    task = make_task("text_clf", {"train_size": 2000, "max_epochs": 3})
    assert isinstance(task, TextClassifierTask) and task.max_fidelity == 3
    assert task.metric == "accuracy" and task.direction is Direction.MAXIMIZE
    assert {"lr", "optimizer", "weight_decay", "dropout", "embed_dim", "ngram", "vocab_size",
            "batch_size", "schedule"} <= set(task.space)
    with pytest.raises(RegistryError, match="dataset must be one of"):
        make_task("text_clf", {"dataset": "imdb"})
    with pytest.raises(RegistryError, match="model must be one of"):
        make_task("text_clf", {"model": "transformer"})


def test_missing_data_is_an_error_naming_the_fetch_command(tmp_path: Path) -> None:
    task = TextClassifierTask(data_dir=str(tmp_path))
    with pytest.raises(DataMissingError, match="tunebench data fetch rotten-tomatoes"):
        task.evaluate(task.default_config(), 1, 0, EvalContext())


@pytest.mark.parametrize("model", ["bag", "cnn"])
def test_a_csv_trains_deterministically(reviews_csv: Path, model: str) -> None:
    task = TextClassifierTask(csv_path=str(reviews_csv), model=model, max_epochs=4)
    cfg = {**task.default_config(), "lr": 0.02, "batch_size": 16, "patience": 10}
    ctx = EvalContext(threads=1, precision="fp32")
    first = task.evaluate(cfg, 4, seed=3, context=ctx)
    assert len(ctx.curve) == 4 and first.fidelity_spent == 4
    assert first.test_value is not None and first.test_value > 0.8
    assert first.extra["train_size"] == 256 and first.extra["test_size"] == 80
    assert first.extra["majority_test"] == pytest.approx(0.5)
    again = task.evaluate(cfg, 4, seed=3, context=EvalContext(threads=1, precision="fp32"))
    assert (again.value, again.test_value, again.curve) == (first.value, first.test_value,
                                                            first.curve)
    assert again.extra["train_loss"] == first.extra["train_loss"]


def test_the_test_split_is_fixed_and_the_vocabulary_sees_training_only(reviews_csv: Path) -> None:
    task = TextClassifierTask(csv_path=str(reviews_csv))
    data = task.load()
    a, b = task.indices(data, seed=0), task.indices(data, seed=1)
    assert np.array_equal(a["test"], b["test"])
    assert not np.array_equal(a["val"], b["val"])
    for parts in (a, b):
        assert not set(parts["train"]) & set(parts["val"])
        assert not (set(parts["train"]) | set(parts["val"])) & set(parts["test"])


@needs_rt
def test_real_rotten_tomatoes_learns_above_the_majority_class() -> None:
    task = TextClassifierTask(train_size=3000, max_epochs=3)
    cfg = {**task.default_config(), "batch_size": 32, "lr": 0.01}
    result = task.evaluate(cfg, 3, 0, EvalContext(threads=1, precision="auto"))
    assert result.extra["precision"] == "fp32"  # auto keeps the bag model in fp32
    assert result.extra["test_size"] == 2550 and result.extra["majority_test"] < 0.6
    assert result.test_value > result.extra["majority_test"] + 0.05


def _csv_suite(path: Path, **options) -> dict:
    return {"suite": {"name": "csv", "seed": 3}, "budget": {"trials": 2},
            "tasks": [{"name": "text_clf", "options": {"csv_path": str(path), "max_epochs": 1,
                                                        **options}}],
            "runners": [{"name": "random"}]}


def test_editing_an_unpinned_data_file_is_never_served_the_old_results(reviews_csv: Path,
                                                                        tmp_path: Path) -> None:
    import tunebench
    from tunebench.suite.cache import EvaluationCacheStore
    from tunebench.suite.store import load_trials

    cache = EvaluationCacheStore(tmp_path / "cache.db")
    suite = _csv_suite(reviews_csv)
    tunebench.run_suite(suite, tmp_path / "a.db", cache=cache, progress=False)
    tunebench.run_suite(suite, tmp_path / "b.db", cache=cache, progress=False)
    assert load_trials(tmp_path / "b.db")["cached"].all()  # the same file: served
    lines = reviews_csv.read_text().splitlines()
    flipped = [line.replace(",pos", ",tmp").replace(",neg", ",pos").replace(",tmp", ",neg")
               for line in lines[1:]]
    reviews_csv.write_text("\n".join([lines[0], *flipped]) + "\n")  # same path, other labels
    tunebench.run_suite(suite, tmp_path / "c.db", cache=cache, progress=False)
    edited = load_trials(tmp_path / "c.db")
    assert not edited["cached"].any()  # evaluated afresh on the edited file
    assert edited["status"].eq("ok").all()


def test_a_pinned_data_file_is_keyed_by_its_pin_not_read_again(reviews_csv: Path) -> None:
    from tunebench.data.store import sha256_file
    from tunebench.suite.cache import data_content_hashes, resolved_task_options

    unpinned = make_task("text_clf", {"csv_path": str(reviews_csv)})
    assert data_content_hashes(unpinned, resolved_task_options(unpinned)) == {
        "csv_path": sha256_file(reviews_csv)}
    pinned = make_task("text_clf", {"csv_path": str(reviews_csv),
                                    "sha256": sha256_file(reviews_csv)})
    assert data_content_hashes(pinned, resolved_task_options(pinned)) == {}  # the pin is an option
    assert data_content_hashes(make_task("text_clf"), resolved_task_options(make_task("text_clf"))) == {}


@pytest.mark.parametrize("model", ["bag", "cnn"])
def test_warm_up_needs_no_data_and_an_evaluation_prepares_its_data_uncharged(
        reviews_csv: Path, model: str) -> None:
    task = TextClassifierTask(csv_path=str(reviews_csv), model=model, max_epochs=1)
    task.warm_up(EvalContext(threads=1))
    assert task._data is None  # the warm-up did not load the data set
    context = EvalContext(threads=1)
    task.evaluate(task.default_config(), 1, 0, context)
    assert context.uncharged_seconds > 0 and context.uncharged_since is None
