"""W&B's Keras page: ``WandbMetricsLogger`` and ``WandbModelCheckpoint`` on ``model.fit``."""
import numpy as np
import keras

import wandb
from wandb.integration.keras import WandbMetricsLogger, WandbModelCheckpoint

run = wandb.init(project="keras-compat", config={"bs": 16, "epochs": 2})

x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
y = (x[:, 0] > 0).astype("int64")
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(x, y, batch_size=run.config.bs, epochs=run.config.epochs, validation_data=(x[:16], y[:16]),
          verbose=0, callbacks=[WandbMetricsLogger(), WandbModelCheckpoint("models.keras")])
run.finish()
