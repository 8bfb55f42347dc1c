"""The registered JEPA family members: ``@METHODS.register(name)`` on a :class:`~openjepa.core.protocols.Method`
subclass whose ``config_class`` has a ``name: Literal[name]`` field."""

from openjepa.core.registry import Registry

METHODS = Registry("method", home="openjepa.methods")
