from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.svm import SVC

from tunebench import Direction, Float, Result, Space, Task


class DigitsSVC(Task):
    name = "digits_svc"
    description = "RBF support-vector classifier on scikit-learn's digits (accuracy)"
    metric, direction = "accuracy", Direction.MAXIMIZE
    space = Space({"C": Float(1e-2, 1e3, log=True), "gamma": Float(1e-5, 1e-1, log=True)})

    def evaluate(self, config, fidelity, seed, context):
        X, y = load_digits(return_X_y=True)
        X_fit, X_test, y_fit, y_test = train_test_split(X, y, test_size=0.25, random_state=seed)
        X_train, X_val, y_train, y_val = train_test_split(X_fit, y_fit, random_state=seed)
        model = SVC(**config).fit(X_train, y_train)
        return Result(value=model.score(X_val, y_val), test_value=model.score(X_test, y_test))
