"""Model builders: ``build_model(config)`` and architectures by name; ``load_model(path)``."""

from mtlzoo.models import soft_sharing  # noqa: F401,E402  (registers mmoe, cgc, ple, cross_stitch)
from mtlzoo.models.builder import ARCHITECTURES, build_model, split_variables
from mtlzoo.models.keras_saving import cache_attr_skipsets
from mtlzoo.models.saving import load_model, save_model

cache_attr_skipsets()

__all__ = ["ARCHITECTURES", "build_model", "load_model", "save_model", "split_variables"]
