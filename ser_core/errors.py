"""The one family of errors a user can cause.

Every exception here carries a sentence a person understands; the CLI prints it after
``error:`` and the app shows it in the page. Programming errors are *not* SerError and keep
their tracebacks.
"""

from __future__ import annotations


class SerError(Exception):
    """Base class for errors caused by user input (audio, folders, parameters)."""


class AudioError(SerError):
    """The audio could not be used: unreadable, empty, too short/long, silent, non-finite."""


class DatasetError(SerError):
    """A corpus folder or label file is unusable."""


class ConfigError(SerError):
    """A parameter or option has a value that cannot work."""


class CheckpointError(SerError):
    """A checkpoint directory is missing, incomplete or inconsistent."""
