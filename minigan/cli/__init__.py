"""The command line: ``python -m minigan <command> [options]`` (or ``minigan <command>``).

Each command is a module of this package with a ``main(argv)`` that parses its arguments and
calls the library, which knows nothing of option parsing; :mod:`minigan.cli.args` holds what
several commands share. This file lists the commands, imports only the one that is asked for
(so ``--help`` stays fast: the training command need not load the classifier), and turns the
errors a user can cause (:class:`minigan.errors.MiniganError`) into a one-line message and exit
status 2.
"""

from __future__ import annotations

import importlib
import sys
import warnings

from ..errors import MiniganError

#: command -> ("module:function", one-line help). The function takes argv (the arguments after
#: the command name) and returns an exit status.
COMMANDS = {
    "dataset": ("minigan.cli.dataset:main", "look at the built-in idol set or your own images (preview, info)"),
    "train": ("minigan.cli.train:main", "train the DCGAN (writes runs/<name>/: samples, GIF, losses, checkpoints)"),
    "sample": ("minigan.cli.sample:main", "draw idols from a trained generator (grid, PNG folder or .npz)"),
    "fooled": ("minigan.cli.fooled:main", "the samples the discriminator rates most real"),
    "interpolate": ("minigan.cli.interpolate:main", "walk the noise space between idols (linear or spherical)"),
    "vector": ("minigan.cli.vector:main", "build an attribute vector (from exemplars or from labels)"),
    "edit": ("minigan.cli.edit:main", "add and subtract an attribute vector to idols"),
    "classifier": ("minigan.cli.classifier:main", "train the attribute classifier used by vectors and metrics"),
    "evaluate": ("minigan.cli.evaluate:main", "measure a generator: Frechet distance, attributes, memorisation"),
    "studio": ("minigan.cli.studio:main", "produce an idol by hand in your browser (the model that ships, or yours)"),
    "gradcheck": ("minigan.cli.gradcheck:main", "check every layer's backward pass against finite differences"),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: python -m minigan <command> [options]", "",
             "minigan trains a DCGAN on anime idol icons, from scratch. Commands:", ""]
    lines += [f"  {name:<{width}}  {help_}" for name, (_, help_) in COMMANDS.items()]
    lines += ["", "Run  python -m minigan <command> --help  for a command's options."]
    return "\n".join(lines)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"minigan: error: unknown command {command!r}\n\n{usage()}", file=sys.stderr)
        return 2
    target, _ = COMMANDS[command]
    module_name, function_name = target.split(":")
    return run_command(command, getattr(importlib.import_module(module_name), function_name), rest)


def run_command(command: str, function, argv) -> int:
    """Run ``function(argv)``; a :class:`MiniganError` becomes one line on stderr and status 2,
    and a warning (a skipped file, a cache that could not be written) one line too."""

    def show_warning(message, category, filename, lineno, file=None, line=None):
        print(f"minigan {command}: warning: {message}", file=file or sys.stderr)

    previous, warnings.showwarning = warnings.showwarning, show_warning
    try:
        return int(function(argv) or 0)
    except MiniganError as exc:
        print(f"minigan {command}: error: {exc.for_command_line()}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"minigan {command}: interrupted", file=sys.stderr)
        return 130
    finally:
        warnings.showwarning = previous


if __name__ == "__main__":
    raise SystemExit(main())
