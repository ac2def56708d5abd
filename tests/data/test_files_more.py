"""The ``files`` source: TFDS by name, given vocabularies (word list, WordPiece), and the
``datasets`` source of the Python API ``mtlzoo.train(config, workdir, datasets=...)``."""

import numpy as np
import pytest

from mtlzoo.errors import ConfigError
from tests.data.files_helpers import load, read_split

_TINY_TFDS = """
import sys
import numpy as np
import tensorflow_datasets as tfds


class TinyMtlFiles(tfds.core.GeneratorBasedBuilder):
    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            features=tfds.features.FeaturesDict(
                {
                    "x": tfds.features.Tensor(shape=(3,), dtype=np.float32),
                    "text": tfds.features.Text(),
                    "label": tfds.features.ClassLabel(num_classes=2),
                }
            ),
        )

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples(5), "test": self._generate_examples(3)}

    def _generate_examples(self, n):
        for i in range(n):
            yield i, {"x": np.full(3, i, np.float32), "text": f"w{i} x", "label": i % 2}


TinyMtlFiles(data_dir=sys.argv[1]).download_and_prepare()
"""


def _prepare_tiny_tfds(data_dir):
    """A tiny TFDS data set prepared in another process (a fork-server child, as a user would
    with ``tfds build``); this process opens it by name from ``data_dir`` without its builder class."""
    from tests.helpers import run_python

    script = data_dir / "tiny_mtl_files.py"
    script.write_text(_TINY_TFDS, encoding="utf-8")
    r = run_python([str(script), str(data_dir)], timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]


def test_tfds_by_name(tmp_path):
    import tensorflow_datasets as tfds

    _prepare_tiny_tfds(tmp_path)
    data = load(
        {"flag": {"kind": "binary"}},
        {
            "files": [
                {"format": "tfds", "name": "tiny_mtl_files", "data_dir": str(tmp_path), "tasks": {"flag": "label"}}
            ],
            "features": {"features": {"kind": "numeric", "columns": ["x"]}},
        },
    )
    assert sorted(data.splits) == ["test", "train"]
    for split in ("train", "test"):
        ref = list(tfds.as_numpy(tfds.builder("tiny_mtl_files", data_dir=str(tmp_path)).as_dataset(split=split)))
        feats, labels, weights = read_split(data, split)
        assert len(feats) == len(ref) == len(data.split(split))
        for f, y, w, r in zip(feats, labels, weights, ref, strict=True):
            np.testing.assert_array_equal(f["features"], r["x"])
            assert y["flag"].tolist() == [float(r["label"])] and w["flag"] == 1.0


def test_tfds_unknown_name():
    with pytest.raises(ConfigError, match=r"data.files\[0\].name: cannot open TFDS data set 'no_such_set_xyz'"):
        load(
            {"flag": {"kind": "binary"}},
            {
                "files": [{"format": "tfds", "name": "no_such_set_xyz"}],
                "features": {"f": {"kind": "numeric", "columns": ["x"]}},
            },
        )


def _csv(path, rows, header):
    import csv

    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return str(path)


def test_given_word_vocabulary(tmp_path):
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("[PAD]\n[UNK]\nfilm\ngood\n", encoding="utf-8")
    path = _csv(tmp_path / "a.csv", [("Good film", "1"), ("bad FILM film", "0")], ("text", "y"))
    data = load(
        {"y": {"kind": "binary"}},
        {
            "files": [{"path": path, "format": "csv", "split": "train"}],
            "features": {
                "tokens": {"kind": "text", "column": "text", "max_length": 4, "tokenizer": {"vocab_file": str(vocab)}}
            },
        },
    )
    words = vocab.read_text(encoding="utf-8").splitlines()
    feats = read_split(data, "train")[0]
    for f, text in zip(feats, ["Good film", "bad FILM film"], strict=True):
        ids = [words.index(w) if w in words else 1 for w in text.lower().split()]
        assert f["tokens"].tolist() == ids + [0] * (4 - len(ids))


def test_wordpiece_vocabulary(tmp_path):
    vocab = tmp_path / "wp.txt"
    vocab.write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\nthe\ncat\n##s\nsat\n", encoding="utf-8")
    path = _csv(tmp_path / "a.csv", [("The cats sat", "1"), ("dogs", "0")], ("text", "y"))
    data = load(
        {"y": {"kind": "binary"}},
        {
            "files": [{"path": path, "format": "csv", "split": "train"}],
            "features": {
                "token_ids": {
                    "kind": "text",
                    "column": "text",
                    "max_length": 7,
                    "tokenizer": {"name": "wordpiece", "vocab_file": str(vocab), "lowercase": True},
                }
            },
        },
    )
    read_split(data, "train", epoch=0)  # a second pipeline over the same tokenizer
    feats = read_split(data, "train")[0]
    # [CLS] the cat ##s sat [SEP], padded; "dogs" has no pieces in the vocabulary: [UNK]
    assert feats[0]["token_ids"].tolist() == [2, 4, 5, 6, 7, 3, 0]
    assert feats[0]["padding_mask"].tolist() == [1, 1, 1, 1, 1, 1, 0]
    assert feats[1]["token_ids"].tolist() == [2, 1, 3, 0, 0, 0, 0]
    assert feats[0]["segment_ids"].tolist() == [0] * 7


def _user_datasets():
    import tensorflow as tf

    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 12)).astype(np.float32)
    y = (x[:, :1] > 0).astype(np.float32)
    w = np.tile([1.0, 0.0], 20).astype(np.float32)  # every other example unlabelled

    def ds(lo, hi):
        return tf.data.Dataset.from_tensor_slices(
            ({"features": x[lo:hi]}, {"flag": y[lo:hi]}, {"flag": w[lo:hi]})
        ).batch(7)

    return {"train": ds(0, 32), "validation": ds(32, 40)}


def _api_config():
    return {
        "tasks": {"flag": {"kind": "binary"}},
        "data": {"source": "datasets", "batch_size": 8},
        "model": {"encoder": {"name": "mlp", "input_dim": 12, "units": [8]}, "tower": {"units": [4]}},
        "train": {"epochs": 2, "verbose": 0},
    }


def test_train_on_user_datasets(tmp_path):
    import mtlzoo

    result = mtlzoo.train(_api_config(), str(tmp_path / "run"), datasets=_user_datasets())
    assert result.metrics["split"] == "validation"
    assert np.isfinite(result.metrics["flag"]["loss"])
    assert len(result.history["flag_loss"]) == 2  # 32 examples / batch 8 = 4 steps per epoch, 2 epochs
    assert (tmp_path / "run" / "model.keras").exists()


def test_datasets_source_without_datasets(tmp_path):
    import mtlzoo

    with pytest.raises(ConfigError, match="data.source: the 'datasets' source reads tf.data.Datasets"):
        mtlzoo.train(_api_config(), str(tmp_path / "run"))
    assert not (tmp_path / "run").exists()


def test_user_datasets_must_be_batched_triples(tmp_path):
    import tensorflow as tf

    import mtlzoo

    bad = {"train": tf.data.Dataset.from_tensor_slices({"features": np.zeros((4, 12), np.float32)})}
    with pytest.raises(ConfigError, match=r"datasets\['train'\]: must yield \(features, labels, sample_weights\)"):
        mtlzoo.train(_api_config(), str(tmp_path / "run"), datasets=bad)
    assert not (tmp_path / "run").exists()
