"""Metrics: maths on arrays of labels and predictions (numpy; scikit-learn and scipy in the tests)."""
