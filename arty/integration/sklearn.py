"""W&B's ``wandb.sklearn`` / ``wandb.integration.sklearn`` plot functions, with ``arty``
in place of ``wandb``.

::

    from arty.integration import sklearn as arty_sklearn   # or: import arty.sklearn

    arty.init(project="visualize-sklearn")
    arty_sklearn.plot_classifier(clf, X_train, X_test, y_train, y_test, y_pred, y_probas, labels)
    arty_sklearn.plot_confusion_matrix(y_test, y_pred, labels)

The charts are :class:`arty.Table` values logged under W&B's keys; see
:mod:`arty.integrations.sklearn_plots`. The clustering and outlier plots are
refused with :class:`arty.UsageError` on use. ``log_estimator`` and friends
(Arty's own) are here too.
"""

from __future__ import annotations

from arty.integration import unsupported
from arty.integrations.sklearn import log_estimator, log_model, log_params, log_scores
from arty.integrations.sklearn_plots import (plot_calibration_curve, plot_class_proportions, plot_classifier,
                                             plot_confusion_matrix, plot_feature_importances, plot_learning_curve,
                                             plot_precision_recall, plot_regressor, plot_residuals, plot_roc,
                                             plot_summary_metrics)

_CLUSTER_HINT = "compute it with scikit-learn and log an arty.Table: run.log({'name': arty.Table(...)})"
plot_clusterer = unsupported("plot_clusterer", _CLUSTER_HINT)
plot_elbow_curve = unsupported("plot_elbow_curve", _CLUSTER_HINT)
plot_silhouette = unsupported("plot_silhouette", _CLUSTER_HINT)
plot_outlier_candidates = unsupported("plot_outlier_candidates", _CLUSTER_HINT)
plot_decision_boundaries = unsupported("plot_decision_boundaries", _CLUSTER_HINT)

__all__ = ["log_estimator", "log_model", "log_params", "log_scores", "plot_calibration_curve",
           "plot_class_proportions", "plot_classifier", "plot_clusterer", "plot_confusion_matrix",
           "plot_decision_boundaries", "plot_elbow_curve", "plot_feature_importances", "plot_learning_curve",
           "plot_outlier_candidates", "plot_precision_recall", "plot_regressor", "plot_residuals", "plot_roc",
           "plot_silhouette", "plot_summary_metrics"]
