"""Error types: one clear sentence naming what is wrong."""


class ConfigError(ValueError):
    """A config (or a spec built from one) is invalid.

    The message names the offending field, e.g.
    ``config field model.encoder.name: unknown encoder 'mpl'; choose one of ...``.
    """

    def __init__(self, field, message):
        self.field = field
        super().__init__(f"config field {field}: {message}" if field else message)
