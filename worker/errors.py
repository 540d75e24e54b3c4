"""Errors that name what was wrong and where, so a command can print one line and exit."""

from __future__ import annotations


class UserError(Exception):
    """Bad input from the user: printed as one line, exit status ``exit_code``."""

    exit_code = 2


class ConfigError(UserError):
    """A YAML file (model spec, cluster, profile) that does not validate."""

    def __init__(self, file: str, key: str, expected: str) -> None:
        self.file, self.key, self.expected = file, key, expected
        where = f"{file}: {key}" if key else file
        super().__init__(f"{where}: {expected}")


class ModelFormatError(UserError):
    """A file that is not a readable .tflite model (missing, truncated, corrupt, wrong kind)."""

    def __init__(self, file: str, reason: str) -> None:
        self.file, self.reason = file, reason
        super().__init__(f"{file}: {reason}")


class UnsupportedOpError(UserError):
    """An operator a component cannot handle (named, with the operator index)."""
