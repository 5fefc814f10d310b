"""Custom charts, as W&B's "Log plots" page shows them: ``wandb.plot.*`` returns a chart that
``wandb.log`` logs under a key."""
import numpy as np
import wandb

run = wandb.init(project="charts")

data = [[x, x * x] for x in range(10)]
table = wandb.Table(data=data, columns=["x", "y"])
wandb.log({"my_custom_plot_id": wandb.plot.line(table, "x", "y", title="Custom Y vs X Line Plot")})

scores = wandb.Table(data=[[s] for s in np.linspace(0, 1, 50)], columns=["scores"])
wandb.log({"my_histogram": wandb.plot.histogram(scores, "scores", title="Prediction Score Distribution")})

ground_truth = [0, 1, 2, 2, 1, 0, 2]
predictions = [0, 1, 1, 2, 1, 2, 2]
wandb.log({"conf_mat": wandb.plot.confusion_matrix(probs=None, y_true=ground_truth, preds=predictions,
                                                   class_names=["cat", "dog", "owl"])})
wandb.finish()
