"""W&B's scikit-learn page: fit a classifier and draw its plots with ``wandb.sklearn``."""
import numpy as np
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import train_test_split

import wandb

X, y = load_iris(return_X_y=True)
labels = ["setosa", "versicolor", "virginica"]
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0)

model = RandomForestClassifier(n_estimators=10, max_depth=3, random_state=0)
model.fit(X_train, y_train)
y_pred = model.predict(X_test)
y_probas = model.predict_proba(X_test)

run = wandb.init(project="visualize-sklearn", config=model.get_params())
wandb.sklearn.plot_classifier(model, X_train, X_test, y_train, y_test, y_pred, y_probas, labels,
                              model_name="RandomForest", feature_names=["sl", "sw", "pl", "pw"])
wandb.sklearn.plot_confusion_matrix(y_test, y_pred, labels)
wandb.log({"accuracy": float(np.mean(y_pred == y_test))})
run.finish()
