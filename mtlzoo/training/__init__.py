"""Training: the trainer, strategies, checkpoints and resume."""

from mtlzoo.training.strategy import STRATEGIES, get_strategy
from mtlzoo.training.trainer import (
    TrainingError,
    TrainResult,
    compile_model,
    evaluate_model,
    format_metrics_table,
    train,
)

__all__ = [
    "STRATEGIES",
    "TrainResult",
    "TrainingError",
    "compile_model",
    "evaluate_model",
    "format_metrics_table",
    "get_strategy",
    "train",
]
