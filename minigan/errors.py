"""The errors minigan reports to a user (as a one-line message, not a traceback).

Every error that bad input can cause (a missing GPU, an empty image folder, a checkpoint of
another model, a diverged training run) is a :class:`MiniganError`; the command line prints its
message and exits with status 2. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import re

__all__ = ["MiniganError", "SettingsError", "DeviceError", "DatasetError", "CheckpointError", "TrainingDiverged", "DiskFullError"]


class MiniganError(Exception):
    """Base class of the errors caused by input or environment rather than by a bug.

    ``argument`` names the function argument (``"data"``, ``"lr_g"``) that the message is about,
    when it starts with that name; ``arguments``, more that it names anywhere as whole words
    (``lr_g``, or ``n`` written as "a larger n"). The library speaks of arguments; the
    command line shows the same message with the options that set them (``--data``, ``--lr-g``),
    see :meth:`for_command_line`.
    """

    def __init__(self, message: str = "", argument: str | None = None, arguments=()):
        super().__init__(message)
        self.argument = argument
        self.arguments = tuple(arguments)

    def for_command_line(self) -> str:
        """The message with argument names written as options: ``data 'x': ...`` ->
        ``--data 'x': ...``; ``try a lower lr_g`` -> ``try a lower --lr-g``."""
        message = str(self)
        if self.argument and message.startswith(self.argument):
            message = "--" + self.argument.replace("_", "-") + message[len(self.argument):]
        for name in self.arguments:
            message = re.sub(rf"(?<![\w-]){re.escape(name)}(?![\w-])", "--" + name.replace("_", "-"), message)
        return message


class DeviceError(MiniganError, RuntimeError, ValueError):
    """A device was asked for that this machine cannot provide (no CuPy, no GPU), or one that
    does not exist."""


class DatasetError(MiniganError, ValueError):
    """An image folder or dataset cannot be used (missing, empty, no readable images)."""


class CheckpointError(MiniganError, ValueError):
    """A checkpoint file is damaged, of another format version, or of another model."""


class TrainingDiverged(MiniganError, FloatingPointError):
    """A loss, a weight or an optimizer state became NaN or infinite; nothing non-finite is
    saved, and the message names the last good checkpoint."""


class DiskFullError(MiniganError, OSError):
    """A file could not be written because the disk (or the user's quota) is full; the message
    names the file, and the previous version of it is unchanged."""


class SettingsError(MiniganError, ValueError):
    """Several settings out of range at once: ``problems`` is a list of ``(argument, what is
    wrong)``. The library's message names the arguments (``lr_g must be ...``), the command
    line's the options (``--lr-g must be ...``)."""

    def __init__(self, what: str, problems):
        self.what, self.problems = what, [(str(a), str(t)) for a, t in problems]
        super().__init__(f"{what}: " + "; ".join(f"{a} {t}" for a, t in self.problems))

    def for_command_line(self) -> str:
        return f"{self.what}: " + "; ".join(f"--{a.replace('_', '-')} {t}" for a, t in self.problems)
