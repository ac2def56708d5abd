"""Fine-tuning rate on one GLUE task: ``mtlzoo train`` vs keras-hub's own ``BertTextClassifier.fit``.

    nice python bench/glue_finetune.py [--task=rte] [--examples=128] [--batch=16] [--repeats=3]

Both fine-tune the same pretrained encoder (``$MTLZOO_DATA_DIR/bert/all-MiniLM-L6-v2``, or
``--checkpoint``) on the same training examples (the first ``--examples`` of the seeded
shuffle that the ``glue_files`` source draws, so both see identical pairs), batch
``--batch``, for ``1 + --repeats`` epochs of ``examples / batch`` steps:

* mtlzoo: ``mtlzoo.train`` with ``configs/glue_minilm.py:<task>`` (length-bucketed batches
  padded to their longest example, AdamW, linear warm-up/decay, clipping), checkpoints
  saved each epoch as usual;
* keras-hub: ``BertTextClassifier.from_preset(DIR, num_classes=2)`` with its
  ``BertTextClassifierPreprocessor`` (every pair packed to ``--hub_sequence_length``, 128;
  note that ``from_preset`` of a transformers-format directory alone would pack to 256),
  ``.fit`` with its default compile (Adam 5e-5).

The first epoch (graph tracing, one per bucket width for mtlzoo) is not timed; each later
epoch is one timed repeat (epoch end to epoch end). Reports examples/s (median over the
repeats) and the ratio mtlzoo / keras-hub. Training rate only: dev scores of such short
runs say nothing, see docs/reproductions.md for those.
"""

import argparse
import json
import os
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


class EpochClock:
    """Epoch-end timestamps (works as a Keras callback and as an mtlzoo.train callback)."""

    def __init__(self):
        self.ends = []

    def set_model(self, model):
        pass

    def set_params(self, params):
        pass

    def __getattr__(self, name):  # the other Keras callback hooks: no-ops
        if name.startswith("on_"):
            return lambda *a, **k: None
        raise AttributeError(name)

    def on_epoch_end(self, epoch, logs=None):
        self.ends.append(time.perf_counter())

    def rates(self, examples):
        return [examples / (b - a) for a, b in zip(self.ends, self.ends[1:], strict=False)]


def examples_of(args):
    """The glue_files source's training examples of the task (seeded draw, first ``examples``)."""
    from mtlzoo.data.glue_files import GlueFilesSource

    opts = {"data_dir": args.data_dir, "max_train_examples": args.examples, "validation_fraction": 0.0}
    a, b, y = GlueFilesSource.read_task(opts, args.task, 0)["train"]
    return a, b, y


def run_mtlzoo(args, workdir):
    import mtlzoo
    from mtlzoo.config import load_config_module
    from mtlzoo.configs import config_path

    cfg = load_config_module(config_path("glue_minilm")).get_config(args.task)
    cfg.data.checkpoint = args.checkpoint
    cfg.model.encoder.preset = args.checkpoint
    cfg.data.data_dir = args.data_dir
    cfg.data.max_train_examples[args.task] = args.examples
    cfg.data.validation_fraction = 0.0
    cfg.data.batch_size = args.batch
    cfg.train.eval_split = "train"
    cfg.train.epochs = 1 + args.repeats
    cfg.train.steps_per_epoch = args.examples // args.batch
    cfg.train.verbose = 0
    clock = EpochClock()
    mtlzoo.train(cfg, workdir, callbacks=[clock])
    return clock.rates(cfg.train.steps_per_epoch * args.batch)


def run_keras_hub(args):
    import keras_hub
    import numpy as np

    a, b, y = examples_of(args)
    steps = args.examples // args.batch
    n = steps * args.batch
    # A transformers-format directory's preset preprocessor packs to 256; pin the 128 of the
    # keras-hub BERT presets (and of the benchmark row) unless --hub_sequence_length says otherwise.
    preprocessor = keras_hub.models.BertTextClassifierPreprocessor.from_preset(
        args.checkpoint, sequence_length=args.hub_sequence_length
    )
    classifier = keras_hub.models.BertTextClassifier.from_preset(
        args.checkpoint, num_classes=2, preprocessor=preprocessor
    )
    clock = EpochClock()
    classifier.fit(
        x=(np.array(a[:n]), np.array(b[:n])),
        y=np.array(y[:n]),
        batch_size=args.batch,
        epochs=1 + args.repeats,
        shuffle=True,
        verbose=0,
        callbacks=[clock],
    )
    return clock.rates(n), classifier.preprocessor.sequence_length


def main():
    data = os.environ.get("MTLZOO_DATA_DIR", ".")
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--task", default="rte", choices=["rte", "mrpc", "cola", "sst2"])
    p.add_argument("--examples", type=int, default=128)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--checkpoint", default=os.path.join(data, "bert", "all-MiniLM-L6-v2"))
    p.add_argument("--data_dir", default=os.path.join(data, "glue"))
    p.add_argument("--hub_sequence_length", type=int, default=128, help="keras-hub's packed length")
    p.add_argument("--out", default=None, help="also write the row as JSON here")
    args = p.parse_args()

    from bench.common import device, versions

    with tempfile.TemporaryDirectory() as tmp:
        mtl = run_mtlzoo(args, os.path.join(tmp, "run"))
    hub, seq_len = run_keras_hub(args)
    row = {
        "task": args.task,
        "examples": args.examples,
        "batch": args.batch,
        "steps_per_repeat": args.examples // args.batch,
        "mtlzoo_examples_per_s": statistics.median(mtl),
        "keras_hub_examples_per_s": statistics.median(hub),
        "mtlzoo_repeats": mtl,
        "keras_hub_repeats": hub,
        "keras_hub_sequence_length": seq_len,
        "device": device(),
        **versions(),
    }
    row["ratio"] = row["mtlzoo_examples_per_s"] / row["keras_hub_examples_per_s"]
    print(json.dumps(row, indent=1))
    print(
        f"{args.task}: mtlzoo train {row['mtlzoo_examples_per_s']:.1f} examples/s, keras-hub BertTextClassifier.fit "
        f"{row['keras_hub_examples_per_s']:.1f} examples/s (sequence length {seq_len}): ratio {row['ratio']:.2f}x"
    )
    if args.out:
        from mtlzoo.fileio import write_json

        write_json(row, args.out)


if __name__ == "__main__":
    main()
