"""Custom Keras layers of mtlzoo (keras.ops only, serializable under package ``mtlzoo``)."""

from mtlzoo.layers.alignment import CovarianceAlignment
from mtlzoo.layers.experts import CrossStitch, ExpertMixture, MixtureGate
from mtlzoo.layers.sequence import ApplyMask, MaskedGlobalPooling1D, PaddingMask, TokenSelect
from mtlzoo.layers.task_weights import TaskWeights

__all__ = [
    "ApplyMask",
    "CovarianceAlignment",
    "CrossStitch",
    "ExpertMixture",
    "MixtureGate",
    "MaskedGlobalPooling1D",
    "PaddingMask",
    "TaskWeights",
    "TokenSelect",
]
