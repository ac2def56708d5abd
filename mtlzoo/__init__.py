"""mtlzoo: a Keras 3 / TensorFlow model zoo for multi-task learning.

Importing ``mtlzoo`` is light: Keras, TensorFlow, keras-hub and friends load only
when a function that needs them is first used.

    >>> import mtlzoo
    >>> model = mtlzoo.build_model(config)   # imports Keras on first use
"""

import importlib

from mtlzoo.errors import ConfigError
from mtlzoo.tasks import TaskSpec

__version__ = "0.1.0"

_LAZY = {
    "build_model": ("mtlzoo.models", "build_model"),
    "load_model": ("mtlzoo.models", "load_model"),
    "save_model": ("mtlzoo.models", "save_model"),
    "train": ("mtlzoo.training", "train"),
    "evaluate": ("mtlzoo.evaluation", "evaluate"),
    "resolve_config": ("mtlzoo.config", "resolve_config"),
}

__all__ = ["ConfigError", "TaskSpec", "__version__", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'mtlzoo' has no attribute {name!r}")
