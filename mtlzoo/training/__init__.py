"""Training: the trainer, strategies, checkpoints and resume."""

from mtlzoo.training.strategy import STRATEGIES, get_strategy
from mtlzoo.training.trainer import TrainResult, compile_model, format_metrics_table, train

__all__ = ["STRATEGIES", "TrainResult", "compile_model", "format_metrics_table", "get_strategy", "train"]
