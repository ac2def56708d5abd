"""The encoder interface: inputs, the embedding layer E, the shared module B.

Every encoder splits into two stages so that a per-task alignment (Wu, Zhang &
Ré 2020, Algorithm 1) can sit between them::

    inputs --embed--> E(x) [batch, time, d] or [batch, d] --encode--> representation

``encode`` returns a dict with ``"pooled"`` ([batch, h], for example-level tasks)
and/or ``"sequence"`` ([batch, time, h], for tagging); ``provides`` says which.
"""

import abc

from mtlzoo.schema import check_fields


class Encoder(abc.ABC):
    """Base class; subclasses set ``name``, ``schema``, ``provides`` and the three stages."""

    name = None
    schema = {}
    provides = ("pooled",)
    # the run's token vocabulary (list, id = position) when the data source built one, set by
    # build_model(config, vocab=...); text encoders use it for ``embedding_pretrained``
    # without an ``embedding_vocab_file``
    vocab = None

    def __init__(self, opts):
        self.opts = dict(opts)

    @classmethod
    def resolve(cls, cfg, field):
        """Returns the options with defaults filled; ConfigError naming a bad field."""
        opts = check_fields(cfg, cls.schema, field)
        cls.check(opts, field)
        return opts

    @classmethod
    def check(cls, opts, field):
        """Cross-field checks; raise ConfigError (optional: most encoders need none)."""
        return None

    @classmethod
    def self_contained(cls, opts, field="model.encoder"):
        """The options of a config that builds this encoder's model from no file outside a zoo
        entry (its weights are the entry's ``model.keras``): e.g. a pretrained checkpoint
        replaced by the architecture it gave. Default: unchanged."""
        return dict(opts)

    @abc.abstractmethod
    def inputs(self):
        """Returns ``{name: keras.Input}``: the model's feature inputs."""

    @abc.abstractmethod
    def embed(self, inputs):
        """The embedding layer E: returns the tensor an alignment would act on."""

    @abc.abstractmethod
    def encode(self, x, inputs):
        """The shared module B: returns ``{"pooled": ..., "sequence": ...}``."""
