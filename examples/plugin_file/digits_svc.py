from sklearn.datasets import load_digits
from sklearn.model_selection import cross_val_score, train_test_split
from sklearn.svm import SVC

from tunebench import Categorical, Direction, Result, Space, Task


class DigitsSVC(Task):
    name = "digits_svc"
    description = "scikit-learn's GridSearchCV digits example: SVC, 5-fold CV accuracy on a fixed half"
    metric, direction = "accuracy", Direction.MAXIMIZE
    space = Space({"kernel": Categorical(["rbf", "linear"]), "C": Categorical([1, 10, 100, 1000]),
                   "gamma": Categorical([1e-3, 1e-4], active_if={"kernel": "rbf"})})

    def evaluate(self, config, fidelity, seed, context):  # the example's split, whatever the seed
        X, X_test, y, y_test = train_test_split(*load_digits(return_X_y=True), test_size=0.5, random_state=0)
        model = SVC(**config)
        value = cross_val_score(model, X, y, cv=5).mean()
        return Result(value=value, test_value=model.fit(X, y).score(X_test, y_test))
