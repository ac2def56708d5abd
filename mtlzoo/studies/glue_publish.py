"""Publishing a run of the GLUE study (:mod:`mtlzoo.studies.glue`) as a zoo entry.

:func:`publish_entry` takes the best multi-task arm of a seed (:func:`best_multitask_arm`, by
GLUE average), stores its weights as float16 (:func:`float16_storage`: halves the file, the
model still computes in float32) and writes the entry with a card that gives the float32 and
float16 GLUE scores side by side.
"""

import os

import numpy as np

from mtlzoo.data import build_sampler
from mtlzoo.errors import ConfigError
from mtlzoo.fileio import write_json, write_text
from mtlzoo.metrics.glue import GLUE_METRICS
from mtlzoo.studies.common import read_json
from mtlzoo.studies.glue import ALIGNMENT, ARM_FIELDS, LABELS, collect, test_scores


def float16_storage(src, dst):
    """Copies the Keras file ``src`` to ``dst`` with every float32 weight stored as float16.

    Only the storage changes: the model's config still declares float32 variables, so Keras
    casts each stored float16 array back to float32 on load (``Variable.assign``) and the model
    computes in float32 with weights rounded to float16 (relative error <= 2^-11). Halves the
    file. Returns ``(bytes before, bytes after)``.
    """
    import io
    import shutil
    import zipfile

    import h5py

    def copy(g_src, g_dst):
        for k, v in g_src.attrs.items():
            g_dst.attrs[k] = v
        for name, item in g_src.items():
            if isinstance(item, h5py.Dataset):
                data = item[()]
                if isinstance(data, np.ndarray) and data.dtype == np.float32:
                    data = data.astype(np.float16)
                d = g_dst.create_dataset(name, data=data)
                for k, v in item.attrs.items():
                    d.attrs[k] = v
            else:
                copy(item, g_dst.create_group(name))

    tmp = dst + ".tmp"
    with zipfile.ZipFile(src) as z, zipfile.ZipFile(tmp, "w") as out:
        for entry in z.infolist():
            raw = z.read(entry.filename)
            if entry.filename.endswith(".weights.h5"):
                buf = io.BytesIO()
                with h5py.File(io.BytesIO(raw), "r") as h_src, h5py.File(buf, "w") as h_dst:
                    copy(h_src, h_dst)
                raw = buf.getvalue()
            out.writestr(entry, raw)
    shutil.move(tmp, dst)
    return os.path.getsize(src), os.path.getsize(dst)


CARD = """# {name}

A multi-task transformer for five GLUE tasks (CoLA, SST-2, MRPC, STS-B, RTE): the pretrained
MiniLM-L6 encoder (`sentence-transformers/all-MiniLM-L6-v2`, 6 layers, hidden 384) fine-tuned
on all five at once, {arm_text}, with one linear head per task. It is arm {arm_label} of the
GLUE study in docs/reproductions.md (seed {seed}): the best by GLUE average of the multi-task
arms of that seed finished when it was published ({finished}).

## Data
GLUE's own files (`$MTLZOO_DATA_DIR/glue/<Task>/{{train,dev}}.tsv`, as `download_glue_data.py`
writes them). GLUE's test labels are hidden, so GLUE's **dev** file is the `test` split here;
`validation` is a seeded 10% of the (capped) training rows. CPU-sized: each task's training
file is capped at a seeded {cap} rows (SST-2's 67,349, CoLA's 8,551, ... all subsampled),
{epochs} epoch(s){align_epochs}, sequences at most {max_length} WordPiece tokens, pairs packed
`[CLS] a [SEP] b [SEP]`.

## Model
The checkpoint's own uncased WordPiece vocabulary (copied into the entry as `vocab.txt`, with
`tokenizer.json`) and BERT encoder (its architecture in `config.json`, its fine-tuned weights in
`model.keras`), mean pooling,
{arm_model}one linear head per task (sigmoid; STS-B a linear regression on 0-5). {recipe}.
Weights stored as float16 (`model.keras`; loaded back as float32): every GLUE
metric of the float16 copy is within {f16_max:.2f} points of the float32 model's (measured, table below).

## GLUE scores (dev files, x100; measured with GLUE's metric per task)
| task | metric | float32 (trained) | float16 (this entry) |
| --- | --- | ---: | ---: |
{glue_rows}

## Intended use
Serving raw sentences and sentence pairs for these five tasks
(`mtlzoo export --workdir=$MTLZOO_HOME/{name} ...`: signatures `cola_text`, `sst2_text`,
`mrpc_text_pair`, `stsb_text_pair`, `rte_text_pair`, with tokenisation in the graph and label
names beside probabilities), and a starting point for fine-tuning on other English sentence or
pair tasks. Feed `task_id` with each example (cola 0, mrpc 1, rte 2, sst2 3, stsb 4 — the
sorted task list) when calling the Keras model directly; the serving signatures set it.

## Limitations and caveats
- MiniLM-L6-v2 is a distilled MiniLM **further trained as a sentence embedder on about a billion
  sentence pairs** (SNLI/MultiNLI, QQP, ... among them; see its model card), not a plain masked-LM
  checkpoint like BERT-base: scores on pair tasks (MRPC, STS-B, RTE) profit from that
  pre-training and are not comparable to BERT-base/large numbers.
- Trained on a CPU on at most {cap} examples per task for {epochs} epoch(s): far below full-data
  fine-tuning (for scale, BERT-base on GLUE's test server, Devlin et al. 2019, Table 1: CoLA 52.1,
  SST-2 93.5, MRPC 88.9 F1, STS-B 85.8 Spearman, RTE 66.4).
- The entry is self-contained: loading, evaluating (GLUE's files under `$MTLZOO_DATA_DIR/glue`),
  exporting and fine-tuning it read no file of the MiniLM checkpoint directory.
- English only; GLUE's label conventions; not for decisions about people.

## Scores of `mtlzoo publish` (test split = GLUE dev; the generic metrics of each task kind)
<!-- scores -->

## How it was trained
<!-- command -->
"""


OPTIMIZERS = {"adam": "Adam", "adamw": "AdamW", "sgd": "SGD", "rmsprop": "RMSprop"}


def _number(v):
    return f"{v:g}".replace("e-0", "e-")  # 5e-5, not 5e-05


def recipe_text(config):
    """The card's training recipe, read from the run's config: optimizer (and weight decay),
    peak rate, schedule, gradient clipping, batch size, task sampling."""
    tc, dc = config.train, config.data
    out = OPTIMIZERS.get(tc.optimizer, tc.optimizer)
    if tc.optimizer == "adamw" and tc.weight_decay:
        out += f" (weight decay {_number(tc.weight_decay)})"
    out += f", {'peak ' if tc.warmup_fraction or tc.lr_schedule == 'linear' else ''}rate {_number(tc.learning_rate)}"
    warm = f"linear warm-up ({100 * tc.warmup_fraction:g}%)" if tc.warmup_fraction else ""
    decay = "linear decay to 0" if tc.lr_schedule == "linear" else ""
    schedule = " then ".join(p for p in (warm, decay) if p)
    if schedule:
        out += f", {schedule}"
    if tc.clipnorm:
        out += f", gradient norm clipped at {_number(tc.clipnorm)}"
    out += f", batch {dc.batch_size}"
    if dc.mixing != "interleaved":
        return out + f", batches mixed `{dc.mixing}`"
    p = getattr(build_sampler(dc.sampler), "exponent", None)  # p_i ∝ n_i^p (proportional, temperature)
    if p is not None:
        size = {1.0: "size", 0.5: "sqrt(size)"}.get(p, f"size^{_number(p)}")
        return out + f", tasks sampled in proportion to {size}"
    return out + f", tasks sampled by the `{dc.sampler['name']}` sampler"


def best_multitask_arm(workdir, seed):
    """The multi-task arm (``mtl``, ``mtl_joint``, ``mtl_fixed_encoder``) of ``seed`` with the best GLUE average."""
    settings = read_json(os.path.join(workdir, "study.json"))
    if settings is None:
        raise ConfigError("workdir", f"{workdir} holds no GLUE study (no study.json)")
    results = collect(workdir, [seed], tuple(settings["tasks"]), tuple(ALIGNMENT))
    done = {arm: by[seed]["average"] for arm, by in results.items() if seed in by}
    if not done:
        raise ConfigError("seed", f"{workdir}: no multi-task run of seed {seed} is finished")
    return max(done, key=done.get), done


def publish_entry(workdir, name, seed=0, arm=None, root=None, command=None, log=print):
    """Publishes the best multi-task run of ``seed`` (or ``arm``) as zoo entry ``name``, weights stored as float16.

    Writes a staging workdir ``WORKDIR/publish_<arm>_seed<seed>`` (the run's config and a float16
    copy of its model, :func:`float16_storage`), scores that copy on the dev files with GLUE's
    metrics, renders the card (:data:`CARD`: data, per-task float32 and float16 scores, caveats) and
    publishes through :func:`mtlzoo.zoo.publish`. Returns ``{"arm", "averages", "float16": {...},
    "info"}``; ``float16.max_diff_points`` is the largest change of any GLUE metric x 100.
    """
    import shutil

    from mtlzoo.config import read_config
    from mtlzoo.workdir import load_workdir
    from mtlzoo.zoo import publish

    log = log or (lambda *a: None)
    settings = read_json(os.path.join(workdir, "study.json"))
    best, averages = best_multitask_arm(workdir, seed)
    arm = arm or best
    run_dir = os.path.join(workdir, f"seed{seed}", arm)
    result = read_json(os.path.join(run_dir, "result.json"))
    if result is None:
        raise ConfigError("arm", f"{run_dir} is not finished")
    stage = os.path.join(workdir, f"publish_{arm}_seed{seed}")
    os.makedirs(stage, exist_ok=True)
    shutil.copy(os.path.join(run_dir, "config.json"), os.path.join(stage, "config.json"))
    before, after = float16_storage(os.path.join(run_dir, "model.keras"), os.path.join(stage, "model.keras"))
    log(f"{arm} seed {seed}: model.keras {before / 1e6:.1f} MB -> {after / 1e6:.1f} MB with float16 storage")
    config = read_config(stage)
    model = load_workdir(stage)[0]
    from mtlzoo.data import load_data
    from mtlzoo.tasks import tasks_from_config

    tasks = tasks_from_config(config.tasks)
    glue16, _ = test_scores(model, config, tasks, load_data(config, tasks))
    diffs = {
        f"{t}_{m}": 100 * (glue16["tasks"][t][m] - result["tasks"][t][m])
        for t in result["tasks"]
        for m in GLUE_METRICS[t]
    }
    check = {
        "float32": result["tasks"],
        "float16": glue16["tasks"],
        "diff_points": diffs,
        "max_diff_points": float(max(abs(v) for v in diffs.values())),
        "glue_average": {"float32": result["glue_average"], "float16": glue16["average"]},
        "bytes": {"float32": before, "float16": after},
    }
    write_json(check, os.path.join(stage, "float16_check.json"))
    log(f"float16 storage: largest change of a GLUE metric {check['max_diff_points']:.3f} points")
    rows = [
        f"| {t} | {m} | {100 * result['tasks'][t][m]:.2f} | {100 * glue16['tasks'][t][m]:.2f} |"
        for t in result["tasks"]
        for m in GLUE_METRICS[t]
    ]
    rows.append(f"| GLUE average | | {100 * result['glue_average']:.2f} | {100 * glue16['average']:.2f} |")
    ov = settings.get("overrides") or {}
    arm_text = {
        "mtl": "with no alignment",
        "mtl_joint": "with a per-task covariance alignment R_i (384 x 384) between BERT's embedding block "
        "and its transformer layers, trained jointly with everything (Wu, Zhang & Ré 2020)",
        "mtl_fixed_encoder": "with a per-task covariance alignment R_i (384 x 384) between BERT's embedding "
        "block and its transformer layers, trained by Algorithm 1 of Wu, Zhang & Ré (2020): the whole "
        "model first (R_i = I), then only R_i and the heads with the encoder frozen",
        "mtl_fixed_heads": "with the two phases of Algorithm 1 of Wu, Zhang & Ré (2020) but no alignment: the "
        "whole model first, then only the heads with the encoder frozen (the study's control arm)",
    }[arm]
    fields = ARM_FIELDS[arm]
    two_phase = fields["model.alignment"] == "fixed_encoder"  # Algorithm 1's two phases
    trains_r = fields["model.alignment"] != "none" and fields.get("train.alignment_phase2") != "heads"
    card_text = CARD.format(
        name=name,
        arm_text=arm_text,
        arm_label=LABELS[arm],
        seed=seed,
        cap=ov.get("data.max_train_examples", "the config's"),
        epochs=ov.get("train.epochs", config.train.epochs),
        align_epochs=(
            f" (+ {ov.get('train.alignment_epochs', config.train.epochs)} epoch(s) of alignment)" if two_phase else ""
        ),
        max_length=config.data.max_length,
        recipe=recipe_text(config),
        arm_model="the per-task alignment R_i (routed by `task_id`) after the embedding block, " if trains_r else "",
        f16_max=check["max_diff_points"],
        finished=", ".join(f"{LABELS[a]} {100 * v:.2f}" for a, v in averages.items()),
        glue_rows="\n".join(rows),
    )
    card = os.path.join(stage, "card_template.md")
    write_text(card_text, card)
    info = publish(stage, name, card, command=command, root=root, overwrite=True, log=log)
    return {"arm": arm, "averages": averages, "float16": check, "info": info}
