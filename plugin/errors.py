"""Errors that reach the user as one clear line (the CLI prints them without a traceback)."""


class PhotoplugError(Exception):
    """Base class: the message is the sentence the user sees."""


class WeightsMissing(PhotoplugError):
    """The model's weights are not on this machine and cannot be downloaded."""


class IndexFileError(PhotoplugError):
    """The index file is corrupt, locked or of an unknown version."""
