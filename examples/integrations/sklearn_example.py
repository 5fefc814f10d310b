"""scikit-learn + Arty: params as config, test scores, the fitted model as an artifact.

    pip install 'arty[sklearn]'
    python examples/integrations/sklearn_example.py

Writes to the store Arty finds (ARTY_STORE, the nearest .arty folder, else ./.arty).
"""

from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import train_test_split

import arty
from arty.integrations.sklearn import log_estimator

X, y = load_iris(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0)

with arty.init(project="integrations", job_type="sklearn", config={"dataset": "iris"}) as run:
    clf = RandomForestClassifier(n_estimators=30, max_depth=3, random_state=0).fit(X_train, y_train)
    version = log_estimator(clf, X_test, y_test, scoring=["accuracy", "f1_macro"], aliases=["best"])
    print(f"run {run.path}: accuracy {run.summary['test/accuracy']:.3f}, model {version.qualified_name}")
