"""``python tools/train.py`` on a user's own files: two CSV files with different tasks and one
JSON-lines file with sparse labels train as one multi-task set; bad input exits 2 and writes nothing."""

import csv
import json
import random

from tests.helpers import run_tool

CONFIG = """
import ml_collections

from mtlzoo.config import with_defaults


def get_config():
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.tasks = {{"sentiment": {{"kind": "binary"}}, "topic": {{"kind": "multiclass", "num_classes": 3}}}}
    c.data = {{
        "source": "files",
        "batch_size": 8,
        "files": [
            {{"path": "{d}/reviews.csv", "format": "csv", "tasks": {{"sentiment": "label"}}}},
            {{"path": "{d}/news.csv", "format": "csv", "tasks": {{"topic": "category"}}}},
            {{"path": "{d}/extra.jsonl", "format": "jsonl", "tasks": {{"sentiment": "sentiment", "topic": "topic"}}}},
        ],
        "features": {{"tokens": {{"kind": "text", "column": "text", "max_length": 8}}}},
        "labels": {{
            "sentiment": {{"classes": ["negative", "positive"]}},
            "topic": {{"classes": ["sport", "politics", "science"]}},
        }},
        "validation_fraction": 0.2,
    }}
    c.model = {{
        "architecture": "shared_bottom",
        "encoder": {{"name": "text_cnn", "vocab_size": 64, "embedding_dim": 8, "num_filters": 4, "max_length": 8}},
        "tower": {{"units": (8,)}},
    }}
    c.train = {{"epochs": 1, "verbose": 2}}
    return with_defaults(c)
"""

WORDS = {
    "positive": ["great", "fun", "loved"],
    "negative": ["dull", "boring", "awful"],
    "sport": ["match", "goal"],
    "politics": ["vote", "law"],
    "science": ["cell", "atom"],
}


def write_data(d, rng):
    with open(d / "reviews.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        for _ in range(40):
            y = rng.choice(["positive", "negative"])
            w.writerow([f"the film was {rng.choice(WORDS[y])}", y])
    with open(d / "news.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["category", "text"])
        for _ in range(40):
            y = rng.choice(["sport", "politics", "science"])
            w.writerow([y, f"today a {rng.choice(WORDS[y])} story"])
    with open(d / "extra.jsonl", "w", encoding="utf-8") as f:
        for i in range(20):
            obj = {"text": "a fun match"}
            if i % 2:
                obj["sentiment"] = "positive"
            if i % 3 == 0:
                obj["topic"] = "sport"
            f.write(json.dumps(obj) + "\n")


def test_train_on_csv_and_jsonl_files(tmp_path):
    write_data(tmp_path, random.Random(0))
    config = tmp_path / "own_data.py"
    config.write_text(CONFIG.format(d=tmp_path), encoding="utf-8")
    r = run_tool("train", f"--config={config}", f"--workdir={tmp_path / 'run'}")
    assert r.returncode == 0, r.stderr[-3000:]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["split"] == "validation" and {"sentiment", "topic"} <= set(metrics)
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["data"]["source"] == "files"


def test_bad_cell_exits_2_and_writes_nothing(tmp_path):
    write_data(tmp_path, random.Random(0))
    with open(tmp_path / "news.csv", "a", encoding="utf-8") as f:
        f.write("cooking,a new recipe\n")  # line 42: a label outside the classes
    config = tmp_path / "own_data.py"
    config.write_text(CONFIG.format(d=tmp_path), encoding="utf-8")
    r = run_tool("train", f"--config={config}", f"--workdir={tmp_path / 'run'}")
    assert r.returncode == 2, r.stderr[-2000:]
    lines = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert lines == [
        f"error: config field data.files[1]: {tmp_path}/news.csv line 42: column 'category': unknown topic label "
        "'cooking'; the classes are sport, politics, science"
    ]
    assert not (tmp_path / "run").exists()
