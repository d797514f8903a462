"""One error family for everything replab reports to a user, and notices said once."""


class ReplabError(Exception):
    """A user-facing error: the message names the file, line or field at fault."""


class ConfigError(ReplabError):
    """A preset, a config key or a value that does not fit."""


class DataError(ReplabError):
    """A data file that is missing, unreadable or malformed."""


class CheckpointError(ReplabError):
    """A checkpoint that does not match the model or the run it is loaded into."""


_said: set[str] = set()


def notice(message: str, level: str = "notice") -> None:
    """Tell the user something worth knowing that is not an error — in words, on stderr, once per process
    (a data file loaded by several steps of one command is reported once)."""
    import sys

    if message not in _said:
        _said.add(message)
        print(f"replab: {level}: {message}", file=sys.stderr)


def warn(message: str) -> None:
    """A fallback the user should know about (what replab does instead, and why): one line, once per process."""
    notice(message, "warning")
