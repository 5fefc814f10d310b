"""Keras 3 + Arty: epoch and batch metrics, and the best model as an artifact.

    pip install 'arty[keras]'
    KERAS_BACKEND=torch python examples/integrations/keras_example.py

Writes to the store Arty finds (ARTY_STORE, the nearest .arty folder, else ./.arty).
"""

import os

os.environ.setdefault("KERAS_BACKEND", "torch")  # the backend the 'keras' extra installs

import keras  # noqa: E402
import numpy as np  # noqa: E402

import arty  # noqa: E402
from arty.integrations.keras import ArtyCallback  # noqa: E402

rng = np.random.default_rng(0)
x = rng.normal(size=(512, 8)).astype("float32")
y = (x[:, :4].sum(axis=1) > 0).astype("float32")

keras.utils.set_random_seed(0)
model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"),
                          keras.layers.Dense(1, activation="sigmoid")])
model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="binary_crossentropy", metrics=["accuracy"])

with arty.init(project="integrations", job_type="keras", config={"batch_size": 32}) as run:
    model.fit(x, y, batch_size=32, epochs=5, validation_split=0.2, verbose=0,
              callbacks=[ArtyCallback(log_freq=5, log_model="best", monitor="val_accuracy")])
    best = arty.use_artifact(f"model-{run.id}:best")
    print(f"run {run.path}: best model {best.qualified_name} at epoch {best.metadata['epoch']} "
          f"(val_accuracy {best.metadata['val_accuracy']:.3f})")
