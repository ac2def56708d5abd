"""Task-relationship maths: covariance similarity (Eq. 5), SVD task weights (Algorithm 2), linear theory.

After Wu, Zhang & Ré, "Understanding and Improving Information Transfer in Multi-Task
Learning" (ICLR 2020), plus formula fitting (:mod:`mtlzoo.analysis.formulas`) and
cross-task data overlap (:mod:`mtlzoo.analysis.overlap`). Maths only: the paper studies
that train models on these quantities (transfer report, Fig. 3, SVD, sweeps) live in
:mod:`mtlzoo.studies`. The functions re-exported here need only numpy; Keras is imported
inside the few functions that use it (``task_embeddings``, ``train_relu_mtl``).
"""

from mtlzoo.analysis.covariance import (
    covariance_similarity,
    covariance_similarity_matrix,
    embedding_similarity_matrix,
    normalized_covariance_similarity,
    spectral_factor,
    task_embeddings,
)
from mtlzoo.analysis.linear import (
    LinearMTLSolution,
    check_proposition1,
    cosine_similarity,
    least_squares,
    single_task_solutions,
    solve_aligned_linear_mtl,
    solve_linear_mtl,
    task_similarity_matrix,
    train_relu_mtl,
)
from mtlzoo.analysis.svd_reweighting import svd_task_weights, task_vectors

__all__ = [
    "LinearMTLSolution",
    "check_proposition1",
    "cosine_similarity",
    "covariance_similarity",
    "covariance_similarity_matrix",
    "embedding_similarity_matrix",
    "least_squares",
    "normalized_covariance_similarity",
    "single_task_solutions",
    "solve_aligned_linear_mtl",
    "solve_linear_mtl",
    "spectral_factor",
    "svd_task_weights",
    "task_embeddings",
    "task_similarity_matrix",
    "task_vectors",
    "train_relu_mtl",
]
