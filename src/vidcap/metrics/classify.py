"""Classification metrics: confusion matrix, accuracy, top-k accuracy."""
from __future__ import annotations

import numpy as np


def confusion_matrix(labels: np.ndarray, preds: np.ndarray, num_classes: int) -> np.ndarray:
    """``(C, C)`` counts: rows are the true class, columns the predicted one."""
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (labels, preds), 1)
    return cm


def top_k_accuracy(labels: np.ndarray, scores: np.ndarray, k: int = 5) -> float:
    """Share of rows whose true class is among the ``k`` highest scores."""
    k = min(k, scores.shape[1])
    top = np.argsort(-scores, 1)[:, :k]
    return float(np.mean([y in row for y, row in zip(labels, top)]))
