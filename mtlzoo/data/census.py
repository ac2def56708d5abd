"""Census-Income (KDD) from UCI: the real-data benchmark of MMoE (Ma et al., KDD 2018, Section 6.3).

Source ``census``: reads ``census-income.test.gz`` (or ``census-income.data.gz`` / the
uncompressed files, the first that exists, from ``data_dir`` or ``$MTLZOO_DATA_DIR/census``):
42 comma-separated columns, no header, the column order of ``census-income.names``.
Two shared-input binary tasks, the paper's first task group:

* ``income``: total person income > $50K (the last column is ``50000+.``);
* ``marital``: marital status is ``Never married`` (column 7, ``marital stat``).

Features (``features`` float32 ``[n, input_dim]``): the 7 continuous columns standardised
with the training split's mean and standard deviation, and the 32 remaining nominal
columns one-hot (categories: the values that occur in the file, sorted; the category
list is the data's schema, not its labels, so it is the same for every seed and
``input_dim`` is fixed). Left out: the income label, ``marital stat`` (the second label)
and ``instance weight`` (a survey sampling weight, "should not be used in the
classifiers" per ``census-income.names``). The MMoE paper reports 40 features and a
199,523 / 49,881 / 49,881 train/validation/test split of the train and test files;
here only the test file is assumed, so its 99,762 rows are split with the seed
(``validation_fraction`` / ``test_fraction``, default 1/6 each: the paper's proportions).

``max_rows: N`` (default: all) first keeps a seeded uniform subset of N rows
(``default_rng([seed, 0xC5])``, without replacement, file order kept), then splits those; the
one-hot categories stay those of the whole file, so ``input_dim`` does not change.
``corrupt_labels: {task: fraction}`` with ``corrupt_mode`` (``flip`` or ``random``) corrupts
that fraction of the task's training labels as the ``yeast`` source does
(:func:`mtlzoo.data.real.corrupt_binary_labels`, key 0 for ``income``, 1 for ``marital``);
validation and test labels stay clean (the SVD reweighting study, ``mtlzoo.studies.svd``).

Example:
    >>> data = CensusSource.load(resolved_opts, tasks, seed=0)
    >>> data.info["input_dim"], data.info["positives"]
"""

import functools
import gzip
import os

import numpy as np

from mtlzoo import options
from mtlzoo.data.base import Split, TaskData, check_task_kinds, split_indices
from mtlzoo.data.real import (  # noqa: F401  (DATA_DIR_ENV re-exported; one data-directory rule)
    CORRUPT_MODES,
    DATA_DIR_ENV,
    corrupt_binary_labels,
    data_dir,
)
from mtlzoo.errors import ConfigError

FILES = ("census-income.test.gz", "census-income.data.gz", "census-income.test", "census-income.data")
COLUMNS = (
    "age",
    "class of worker",
    "detailed industry recode",
    "detailed occupation recode",
    "education",
    "wage per hour",
    "enroll in edu inst last wk",
    "marital stat",
    "major industry code",
    "major occupation code",
    "race",
    "hispanic origin",
    "sex",
    "member of a labor union",
    "reason for unemployment",
    "full or part time employment stat",
    "capital gains",
    "capital losses",
    "dividends from stocks",
    "tax filer stat",
    "region of previous residence",
    "state of previous residence",
    "detailed household and family stat",
    "detailed household summary in household",
    "instance weight",
    "migration code-change in msa",
    "migration code-change in reg",
    "migration code-move within reg",
    "live in this house 1 year ago",
    "migration prev res in sunbelt",
    "num persons worked for employer",
    "family members under 18",
    "country of birth father",
    "country of birth mother",
    "country of birth self",
    "citizenship",
    "own business or self employed",
    "fill inc questionnaire for veteran's admin",
    "veterans benefits",
    "weeks worked in year",
    "year",
    "income",
)
CONTINUOUS = (
    "age",
    "wage per hour",
    "capital gains",
    "capital losses",
    "dividends from stocks",
    "num persons worked for employer",
    "weeks worked in year",
)
EXCLUDED = ("marital stat", "instance weight", "income")
NOMINAL = tuple(c for c in COLUMNS if c not in CONTINUOUS and c not in EXCLUDED)
INCOME_POSITIVE = "50000+."
MARITAL_POSITIVE = "Never married"


def census_file(opts):
    """The Census-Income file: the first of :data:`FILES` in ``data_dir`` or ``$MTLZOO_DATA_DIR/census``."""
    root = opts.get("data_dir") or data_dir({}, "census")  # unset: $MTLZOO_DATA_DIR/census (mtlzoo.data.real)
    if not os.path.isdir(root):
        raise ConfigError("data.data_dir", f"directory {root} does not exist")
    for name in FILES:
        if os.path.isfile(os.path.join(root, name)):
            return os.path.join(root, name)
    raise ConfigError("data.data_dir", f"{root} has none of {', '.join(FILES)}")


@functools.lru_cache(maxsize=2)
def read_census(path):
    """``{column: list of str}`` of the file (values stripped); ValueError naming a line with a wrong width."""
    opener = gzip.open if path.endswith(".gz") else open
    cols = [[] for _ in COLUMNS]
    with opener(path, "rt", encoding="latin-1") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            values = line.rstrip("\n").split(",")
            if len(values) != len(COLUMNS):
                raise ValueError(f"{path} line {lineno}: {len(values)} columns, expected {len(COLUMNS)}")
            for c, v in zip(cols, values, strict=True):
                c.append(v.strip())
    return dict(zip(COLUMNS, cols, strict=True))


def census_labels(table):
    """``{"income": float32 [n], "marital": float32 [n]}`` (1 = income > 50K / never married)."""
    return {
        "income": np.array([v == INCOME_POSITIVE for v in table["income"]], np.float32),
        "marital": np.array([v == MARITAL_POSITIVE for v in table["marital stat"]], np.float32),
    }


@functools.lru_cache(maxsize=2)
def census_columns(path):
    """``(continuous, nominal)`` of the file, computed once per file: ``continuous`` the float64
    ``[n]`` array of each column of :data:`CONTINUOUS`; ``nominal`` ``(column, categories, codes)``
    for each column of :data:`NOMINAL` (categories: the file's values, sorted; codes: int ``[n]``)."""
    table = read_census(path)
    continuous = [np.asarray(table[c], np.float64) for c in CONTINUOUS]
    nominal = []
    for c in NOMINAL:
        cats, codes = np.unique(np.asarray(table[c]), return_inverse=True)
        nominal.append((c, cats, codes))
    return continuous, nominal


def census_features(columns, train_idx, rows=None):
    """``(x float32 [n, d], names)``: continuous columns standardised on ``train_idx``, nominal one-hot.

    ``columns`` is :func:`census_columns`; ``rows`` (default: all) selects the file rows encoded;
    ``train_idx`` indexes into them. The one-hot categories are those of the whole file either way."""
    continuous, nominal = columns
    sel = slice(None) if rows is None else np.asarray(rows)
    codes = [c[sel] for _, _, c in nominal]
    n = len(codes[0])
    x = np.zeros((n, len(continuous) + sum(len(cats) for _, cats, _ in nominal)), np.float32)
    names = list(CONTINUOUS)
    for j, column in enumerate(continuous):
        v = column[sel]
        mean, std = v[train_idx].mean(), v[train_idx].std()
        x[:, j] = (v - mean) / (std if std > 0 else 1.0)  # float64, rounded to float32 once
    offset, at = len(continuous), np.arange(n)
    for (c, cats, _), code in zip(nominal, codes, strict=True):
        x[at, offset + code] = 1.0
        names.extend(f"{c}={k}" for k in cats)
        offset += len(cats)
    return x, names


class CensusSource:
    """The ``census`` data source (see the module docstring); tasks ``income`` and ``marital``."""

    name = "census"
    TASKS = {"income": ("binary", 2), "marital": ("binary", 2)}
    schema = options.SOURCES["census"]

    @staticmethod
    def check(opts, tasks):
        check_task_kinds(tasks, CensusSource.TASKS, "census")
        names = {t.name for t in tasks}
        for key, frac in dict(opts.get("corrupt_labels") or {}).items():
            if key not in names:
                raise ConfigError(
                    f"data.corrupt_labels.{key}", f"not a configured task; choose from {', '.join(sorted(names))}"
                )
            if isinstance(frac, bool) or not isinstance(frac, (int, float)) or not 0 <= frac <= 1:
                raise ConfigError(f"data.corrupt_labels.{key}", f"must be a fraction in [0, 1], got {frac!r}")

    @staticmethod
    def load(opts, tasks, seed):
        path = census_file(opts)
        try:
            table = read_census(path)
        except ValueError as e:
            raise ConfigError("data.data_dir", str(e)) from None
        y = census_labels(table)
        n = len(table["age"])
        rows = None
        if opts.get("max_rows") and opts["max_rows"] < n:
            rows = np.sort(np.random.default_rng([seed, 0xC5]).choice(n, size=opts["max_rows"], replace=False))
            y = {k: v[rows] for k, v in y.items()}
            n = len(rows)
        parts = split_indices(n, [opts["validation_fraction"], opts["test_fraction"]], seed)
        x, names = census_features(census_columns(path), parts[0], rows)
        splits, corrupted = {}, {}
        for split, idx in zip(("train", "validation", "test"), parts, strict=True):
            if len(idx) == 0:
                continue
            labels = {t.name: y[t.name][idx][:, None] for t in tasks}
            weights = {t.name: np.ones(len(idx), np.float32) for t in tasks}
            if split == "train":
                for key, frac in sorted(dict(opts.get("corrupt_labels") or {}).items()):
                    k = list(CensusSource.TASKS).index(key)
                    corrupted[key] = corrupt_binary_labels(
                        labels[key], weights[key], frac, opts.get("corrupt_mode", "flip"), seed, k
                    )
            splits[split] = Split({"features": x[idx], "task_id": np.zeros(len(idx), np.int32)}, labels, weights)
        info = {
            "input_dim": x.shape[1],
            "feature_names": names,
            "file": path,
            "positives": {k: int(v.sum()) for k, v in y.items()},
            "rows": n,
            "corrupted": corrupted,
        }
        return TaskData(splits, info=info)
