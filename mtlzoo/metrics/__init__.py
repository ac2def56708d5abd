"""Metrics: what a model's outputs score against labels, by task kind (numpy, scikit-learn, scipy).

One module per family; this file re-exports their public names.

- :mod:`mtlzoo.metrics.kinds`: per-task metrics by kind (``task_metrics``), their average
  over tasks and ``compute_metrics`` for a whole model's outputs.
- :mod:`mtlzoo.metrics.tagging`: sequence labelling: conlleval entity (chunk) precision,
  recall, F1 over IOB / IO / IOBES tags, token accuracy, ``tagging_scores``.
- :mod:`mtlzoo.metrics.glue`: the GLUE benchmark's metric per task (Matthews corr., F1 and
  accuracy, Pearson and Spearman) and the GLUE average (import it from there).

Example:
    >>> from mtlzoo.metrics import entity_scores
    >>> entity_scores([["B-PER", "I-PER", "O"]], [["B-PER", "O", "O"]])["f1"]
    0.0
"""

from mtlzoo.metrics.kinds import METRIC_NAMES, average_metrics, compute_metrics, task_metrics, token_mask_of
from mtlzoo.metrics.tagging import (
    chunk_tag_names,
    entity_f1,
    entity_scores,
    extract_entities,
    is_iob,
    split_tag,
    tagging_scores,
    token_accuracy,
)

__all__ = [
    "METRIC_NAMES",
    "average_metrics",
    "chunk_tag_names",
    "compute_metrics",
    "entity_f1",
    "entity_scores",
    "extract_entities",
    "is_iob",
    "split_tag",
    "tagging_scores",
    "task_metrics",
    "token_accuracy",
    "token_mask_of",
]
