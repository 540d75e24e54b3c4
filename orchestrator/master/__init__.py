"""The master: binds plans to devices (task tables); the master daemon comes with the runtime."""

from ._bind import bind

__all__ = ["bind"]
