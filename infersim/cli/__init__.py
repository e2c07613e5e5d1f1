"""The `infersim` command line: one module per command group, each with `register(sub)`.

Errors caused by input print one line per problem on stderr and exit with code 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from infersim.foundation.errors import InfersimError


def build_parser() -> argparse.ArgumentParser:
    from infersim import __version__
    from infersim.cli import (
        explore,
        hw,
        mapping,
        measure,
        models,
        plan,
        runtimes,
        serve,
        simulate,
        study,
    )

    p = argparse.ArgumentParser(
        prog="infersim",
        description="Simulate transformer inference on GPUs, wafer-scale, LPU and CIM hardware.",
    )
    p.add_argument("--version", action="version", version=f"infersim {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for command_module in (simulate, models, hw, runtimes, mapping, serve, measure, study, plan,
                           explore):
        command_module.register(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse already printed a one-line usage error
        return int(e.code or 0)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        rc = args.func(args)
    except InfersimError as e:
        print(f"infersim: error: {e}", file=sys.stderr)
        return e.exit_code
    except OSError as e:
        if isinstance(e, BrokenPipeError):
            return 0
        # A file or folder the user named could not be read or written (the commands check
        # their paths up front; this catches what only shows at run time, e.g. a full disk).
        where = f"{e.filename}: " if e.filename else ""
        print(f"infersim: error: {where}{e.strerror or e}; check the path and its permissions",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("infersim: interrupted", file=sys.stderr)
        return 130
    return int(rc or 0)


if __name__ == "__main__":
    sys.exit(main())
