"""The library's own exceptions.

Every error about the user's input or files derives from :class:`HourglassError`, and also from
the built-in exception that fits (``ValueError`` for bad values, ``OSError`` for files), so that
code catching the built-in keeps working.
"""


class HourglassError(Exception):
    """Base class of every error hourglass raises about the user's input or files."""


class InvalidInputError(HourglassError, ValueError):
    """An array or argument is unusable: wrong shape, dtype, NaN / inf, empty, out of range."""


class DataFileError(HourglassError, OSError):
    """A data file is missing, truncated or corrupt."""


class ChecksumError(DataFileError):
    """A downloaded file does not match its pinned checksum."""


class DatasetNotFoundError(DataFileError, FileNotFoundError):
    """A data set's files are neither on disk nor downloadable."""


class ModelFileError(HourglassError, OSError):
    """A saved model folder is missing, incomplete or corrupt."""


class SaveError(ModelFileError):
    """A model folder could not be written (a full disk, no permission); the earlier save at the
    same path, if any, is left intact."""


class NotFittedError(HourglassError, ValueError, AttributeError):
    """A method that needs fitted state was called before ``fit``."""


class MissingDependencyError(HourglassError, ImportError):
    """An optional feature needs a package that is not installed; the message says what to install."""
