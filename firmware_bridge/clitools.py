"""The one subcommand dispatcher behind every ``helio-*`` command.

Each subcommand is a module exposing ``add_arguments(parser)`` and
``run(args) -> int``. The table of subcommands is data in each package's
``cli.py``; this module builds the parser, sets up logging on stderr and
runs the chosen module.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Mapping, Sequence


def build_parser(
    prog: str, description: str, commands: Mapping[str, tuple[str, str]]
) -> argparse.ArgumentParser:
    """An argument parser with one subparser per entry of ``commands``.

    Parameters
    ----------
    prog : str
        Program name shown in usage.
    description : str
        One line shown in ``--help``.
    commands : mapping
        Subcommand name -> (module path, one-line help).
    """
    parser = argparse.ArgumentParser(prog=prog, description=description.replace("``", ""))
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (module, help_text) in commands.items():
        try:
            command = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            # a part of the project this install leaves out (the device wheel
            # carries neither edge.deploy nor edge.simulation): no such command
            if exc.name and exc.name.split(".")[0] == module.split(".")[0]:
                continue
            raise
        sp = sub.add_parser(name, help=help_text, description=help_text)
        command.add_arguments(sp)
        sp.set_defaults(_module=module)
    return parser


def dispatch(
    prog: str,
    description: str,
    commands: Mapping[str, tuple[str, str]],
    argv: Sequence[str] | None = None,
) -> int:
    """Parse ``argv``, configure logging and run the chosen subcommand.

    Returns the subcommand's exit status (130 on Ctrl-C).
    """
    args = build_parser(prog, description, commands).parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING - 10 * min(args.verbose, 2),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return int(importlib.import_module(args._module).run(args))
    except KeyboardInterrupt:
        return 130
