"""Task data: sources by name, the shared batch shape and its tf.data pipeline.

``SOURCES.get(name)`` is a source class with a ``schema`` of options and
``load(opts, tasks, seed) -> TaskData``.
"""

from mtlzoo import options
from mtlzoo.data.base import Split, TaskData
from mtlzoo.data.census import CensusSource
from mtlzoo.data.conll import Conll2000Source
from mtlzoo.data.files_source import FilesSource
from mtlzoo.data.glue_files import GlueFilesSource
from mtlzoo.data.real import GlueSource, SentimentSource, YeastSource
from mtlzoo.data.samplers import SAMPLERS
from mtlzoo.data.sources import DigitsSource, SyntheticSource
from mtlzoo.data.streams import DatasetsSource
from mtlzoo.errors import ConfigError
from mtlzoo.registry import Registry
from mtlzoo.schema import check_fields

SOURCES = Registry("data source")
for _src in (
    DigitsSource,
    SyntheticSource,
    SentimentSource,
    Conll2000Source,
    YeastSource,
    GlueSource,
    GlueFilesSource,
    CensusSource,
    FilesSource,  # streamed sources (mtlzoo.data.streams)
    DatasetsSource,
):
    SOURCES.register(_src.name)(_src)

# the options every source shares (mtlzoo.options, one source)
COMMON_SCHEMA = options.DATA_COMMON


def resolve_data_config(cfg, tasks):
    """Validates ``data`` (source name, batch size, the source's own options)."""
    cfg = dict(cfg)
    if "source" not in cfg:
        raise ConfigError("data.source", "missing required field")
    source = SOURCES.get(cfg["source"], "data.source")
    common = check_fields({k: cfg.pop(k) for k in list(cfg) if k in COMMON_SCHEMA}, COMMON_SCHEMA, "data")
    opts = check_fields(cfg, source.schema, "data")
    source.check(opts, tasks)
    sampler = dict(common["sampler"])
    if "name" not in sampler:
        raise ConfigError("data.sampler.name", "missing required field")
    name = sampler.pop("name")
    cls = SAMPLERS.get(name, "data.sampler.name")
    common["sampler"] = {"name": name, **check_fields(sampler, cls.schema, "data.sampler")}
    return {**common, **opts}


def build_sampler(cfg):
    cfg = dict(cfg)
    return SAMPLERS.get(cfg.pop("name"), "data.sampler.name")(cfg)


def load_data(config, tasks, vocabularies=None):
    """Loads the task data a resolved config names.

    ``vocabularies``: ``{input name: [value by index]}`` an earlier run built from its files
    (``data.info["vocabularies"]``); a streamed ``files`` source reuses them instead of building
    new ones (:func:`mtlzoo.workdir.load_run_data` reads them from a workdir)."""
    opts = {k: v for k, v in config.data.items() if k not in COMMON_SCHEMA}
    source = SOURCES.get(config.data.source, "data.source")
    if vocabularies:
        return source.load(opts, tasks, config.seed, vocabularies=vocabularies)
    return source.load(opts, tasks, config.seed)


__all__ = ["SAMPLERS", "SOURCES", "Split", "TaskData", "build_sampler", "load_data", "resolve_data_config"]
