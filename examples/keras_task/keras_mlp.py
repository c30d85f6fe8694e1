"""A Keras 3 model as a tunebench task (a plugin file): an MLP on scikit-learn's digits, trained
by Keras on its torch backend, one epoch per fidelity step.

Keras calls back after every epoch; the callback reports the validation accuracy to tunebench
(``context.report``), so pruners and multi-fidelity runners act on it, and a pruner's stop ends
``fit`` right there. Everything random is seeded from the evaluation seed (weights, shuffling,
dropout) with ``keras.utils.set_random_seed``, and the data (bundled with scikit-learn, nothing
downloaded) is split once, outside the charged span.

    tunebench run examples/keras_task/suite.toml --db keras.db
"""

from __future__ import annotations

import functools
import os

from tunebench import Categorical, Direction, EvalContext, Float, Int, Result, Space, Task


@functools.cache
def digits() -> tuple:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype("float32")
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.3, random_state=0,
                                                        stratify=y)
    x_train, x_valid, y_train, y_valid = train_test_split(x_train, y_train, test_size=0.25,
                                                          random_state=0, stratify=y_train)
    return x_train, y_train, x_valid, y_valid, x_test, y_test


class KerasMLP(Task):
    name = "keras_mlp"
    description = "A Keras 3 MLP (torch backend) on scikit-learn's digits, one epoch per step"
    metric, direction = "val_accuracy", Direction.MAXIMIZE
    max_fidelity = 20
    uses_torch = True
    space = Space({
        "learning_rate": Float(1e-4, 1e-1, log=True, default=1e-3),
        "units": Int(8, 256, log=True, default=64),
        "dropout": Float(0.0, 0.5, default=0.1),
        "optimizer": Categorical(["adam", "sgd"], default="adam"),
        "batch_size": Int(16, 128, log=True, default=32),
    })

    def evaluate(self, config, fidelity: int, seed: int, context: EvalContext) -> Result:
        os.environ.setdefault("KERAS_BACKEND", "torch")
        import keras

        with context.uncharged():  # the split is the task's, not the configuration's, to pay
            x_train, y_train, x_valid, y_valid, x_test, y_test = digits()
        keras.utils.set_random_seed(seed)
        model = keras.Sequential([
            keras.Input((64,)),
            keras.layers.Dense(config["units"], activation="relu"),
            keras.layers.Dropout(config["dropout"]),
            keras.layers.Dense(10, activation="softmax"),
        ])
        optimizer = (keras.optimizers.Adam if config["optimizer"] == "adam"
                     else keras.optimizers.SGD)(learning_rate=config["learning_rate"])
        model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])

        class Report(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                context.report(epoch + 1, float(logs["val_accuracy"]))  # may stop the trial

        model.fit(x_train, y_train, validation_data=(x_valid, y_valid), epochs=fidelity,
                  batch_size=config["batch_size"], shuffle=True, verbose=0, callbacks=[Report()])
        with context.uncharged():
            _, test_accuracy = model.evaluate(x_test, y_test, verbose=0)
        return Result(value=context.curve[-1], test_value=float(test_accuracy))
