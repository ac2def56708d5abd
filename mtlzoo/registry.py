"""Registries: the front door of each room (name -> builder).

A config names a component by its registry key; an unknown key raises a
:class:`~mtlzoo.errors.ConfigError` that lists the valid choices.
"""

from mtlzoo.errors import ConfigError


class Registry:
    """A name -> object mapping filled with the :meth:`register` decorator.

    Example:
        >>> SOURCES = Registry("data source")
        >>> @SOURCES.register("toy")
        ... def toy(): ...
        >>> SOURCES.names()
        ['toy']
    """

    def __init__(self, kind):
        self.kind = kind
        self._items = {}

    def register(self, name):
        def decorator(obj):
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._items[name] = obj
            return obj

        return decorator

    def names(self):
        return sorted(self._items)

    def items(self):
        """``(name, entry)`` pairs, sorted by name."""
        return sorted(self._items.items())

    def __contains__(self, name):
        return name in self._items

    def get(self, name, field=None):
        """Returns the entry ``name``; ConfigError naming ``field`` if unknown or not a string."""
        if not isinstance(name, str):
            raise ConfigError(field, f"must be a string naming a {self.kind}, got {name!r}")
        if name not in self._items:
            raise ConfigError(
                field,
                f"unknown {self.kind} {name!r}; choose one of {', '.join(self.names())}",
            )
        return self._items[name]
