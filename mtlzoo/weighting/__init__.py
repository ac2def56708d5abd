"""Loss weightings and gradient aggregators, by name.

Import the submodules directly (they import TensorFlow):
``mtlzoo.weighting.weightings.WEIGHTINGS`` and ``mtlzoo.weighting.aggregators.AGGREGATORS``.
"""
