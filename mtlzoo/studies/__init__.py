"""Paper reproductions and experiment runners (layer 8: above the zoo, below the command line).

Each study trains or reads back many runs and writes a report; all of them share one
run-folder / result-CSV / statistics / table module, :mod:`mtlzoo.studies.common`.

* :mod:`~mtlzoo.studies.transfer` (tables: :mod:`~mtlzoo.studies.transfer_tables`): the
  pairwise transfer report next to covariance similarity (Wu, Zhang & Ré, ICLR 2020).
* :mod:`~mtlzoo.studies.fig3`: the synthetic 4-task covariance-misalignment study (Fig. 3).
* :mod:`~mtlzoo.studies.svd` (report: :mod:`~mtlzoo.studies.svd_report`): SVD task
  reweighting (Algorithm 2) under label noise and on clean labels.
* :mod:`~mtlzoo.studies.sentiment` on :mod:`~mtlzoo.studies.sweep`: STL vs MTL per encoder
  and the shared-capacity curve on the six sentiment tasks.
* :mod:`~mtlzoo.studies.conll`: CoNLL-2000 POS + chunking, MTL vs STL.
* :mod:`~mtlzoo.studies.architectures`: shared bottom, MMoE, PLE, cross-stitch on one config.
* :mod:`~mtlzoo.studies.simulator_grid`: the grid over (T, n, AMI) of Bettgenhaeuser,
  Hedderich & Klakow (2020) with its tagger trainer.
* :mod:`~mtlzoo.studies.census_mmoe`: shared bottom vs MMoE, CGC, PLE, cross-stitch on
  Census-Income (Ma et al., KDD 2018).
* :mod:`~mtlzoo.studies.affinity_study` (report: :mod:`~mtlzoo.studies.affinity_report`): predictors
  of pairwise transfer from one all-task run (lookahead affinity, gradient cosine, Eq. 5) and
  the recommended task grouping (Fifty et al., NeurIPS 2021).

Nothing is imported here: ``import mtlzoo.studies`` stays cheap; import the study's module.
"""
