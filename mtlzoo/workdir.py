"""A run's folder: the files a training workdir (or a zoo entry, which has the same layout) holds,
and loading its model back.

    <workdir>/
        config.json                       the resolved config (:func:`mtlzoo.config.write_config`)
        model.keras                       the final model
        checkpoints/epoch_NNN.weights.h5  per-epoch weights

Example:
    >>> from mtlzoo.workdir import load_workdir
    >>> model, config, source = load_workdir("/tmp/mtlzoo_quickstart", checkpoint=2)
    >>> source
    '/tmp/mtlzoo_quickstart/checkpoints/epoch_002.weights.h5'
"""

import os
import re

from mtlzoo.errors import ConfigError
from mtlzoo.fileio import exists, glob, isdir, isfile, local_copy

CONFIG_FILE = "config.json"
MODEL_FILE = "model.keras"
CHECKPOINTS_DIR = "checkpoints"


def checkpoint_file(workdir, epoch):
    """The path of epoch ``epoch``'s weights: ``<workdir>/checkpoints/epoch_NNN.weights.h5``."""
    return os.path.join(workdir, CHECKPOINTS_DIR, f"epoch_{int(epoch):03d}.weights.h5")


def checkpoint_path(workdir, checkpoint):
    """The file that ``checkpoint`` names in ``workdir``: an epoch number (``3`` or ``"3"`` ->
    ``checkpoints/epoch_003.weights.h5``), or a path (as is, else relative to ``checkpoints/``,
    else to the workdir).

    Raises:
        ConfigError: no such file; the message lists the workdir's checkpoints.
    """
    ckpt = str(checkpoint)
    if re.fullmatch(r"\d+", ckpt):
        candidate = checkpoint_file(workdir, ckpt)
    elif exists(ckpt):
        candidate = ckpt
    elif exists(os.path.join(workdir, CHECKPOINTS_DIR, ckpt)):
        candidate = os.path.join(workdir, CHECKPOINTS_DIR, ckpt)
    else:
        candidate = os.path.join(workdir, ckpt)
    if not isfile(candidate):
        found = sorted(os.path.basename(p) for p in glob(os.path.join(workdir, CHECKPOINTS_DIR, "*.weights.h5")))
        raise ConfigError(
            None,
            f"--checkpoint: {candidate} does not exist; {workdir}/{CHECKPOINTS_DIR} has "
            f"{', '.join(found) if found else 'no checkpoints'}",
        )
    return candidate


def model_source(workdir, checkpoint=None):
    """The model file :func:`load_workdir` reads: ``checkpoint`` (see :func:`checkpoint_path`),
    else ``model.keras``, else the last ``checkpoints/epoch_*.weights.h5``."""
    if checkpoint is not None:
        return checkpoint_path(workdir, checkpoint)
    source = os.path.join(workdir, MODEL_FILE)
    if isfile(source):
        return source
    found = sorted(glob(os.path.join(workdir, CHECKPOINTS_DIR, "epoch_*.weights.h5")))
    if not found:
        raise ConfigError(
            None, f"--workdir: {workdir} has no {MODEL_FILE} and no {CHECKPOINTS_DIR}/: did training run?"
        )
    return found[-1]


def load_workdir(workdir, checkpoint=None):
    """Loads the model of a training workdir or zoo entry; returns ``(model, config, source path)``.

    Args:
        workdir: directory with ``config.json`` and ``model.keras`` and/or
            ``checkpoints/epoch_NNN.weights.h5``.
        checkpoint: None (``model.keras``, else the last checkpoint), an epoch number
            (``3`` -> ``checkpoints/epoch_003.weights.h5``), or a path to a
            ``.weights.h5`` / ``.keras`` file (absolute, or relative to the workdir or
            its ``checkpoints/``). Weights files are loaded into ``build_model(config)``.

    Raises:
        ConfigError: missing workdir / config / model, or a file that does not load.
    """
    from mtlzoo.config import read_config

    if not isdir(workdir):
        raise ConfigError(None, f"--workdir: {workdir} does not exist")
    config = read_config(workdir)
    source = model_source(workdir, checkpoint)
    if source.endswith(".keras"):
        from mtlzoo.models import load_model  # Keras is imported only once the paths are known to be good

        return load_model(source), config, source
    if not source.endswith(".weights.h5"):
        raise ConfigError(None, f"--checkpoint: {source} is neither a .keras nor a .weights.h5 file")
    from mtlzoo.models import build_model

    model = build_model(config)
    try:
        with local_copy(source) as local:  # h5py reads local files
            model.load_weights(local)
    except Exception as e:
        raise ConfigError(
            None, f"--checkpoint: {source} could not be loaded into the workdir's model ({type(e).__name__}: {e})"
        ) from e
    return model, config, source
