"""One error family for everything replab reports to a user."""


class ReplabError(Exception):
    """A user-facing error: the message names the file, line or field at fault."""


class ConfigError(ReplabError):
    """A preset, a config key or a value that does not fit."""


class DataError(ReplabError):
    """A data file that is missing, unreadable or malformed."""


class CheckpointError(ReplabError):
    """A checkpoint that does not match the model or the run it is loaded into."""
