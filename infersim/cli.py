"""The `infersim` command line. Each layer registers its own commands (see docs/architecture.md).

Errors caused by input print one line per problem on stderr and exit with code 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from infersim.errors import InfersimError


def build_parser() -> argparse.ArgumentParser:
    from hwmodels import cli as hwmodels_cli
    from infersim import __version__
    from infersim import commands as front
    from mapper import cli as mapper_cli
    from simulator import cli as simulator_cli
    from studies import cli as studies_cli
    from validation import cli as validation_cli
    from workloads import cli as workloads_cli

    p = argparse.ArgumentParser(
        prog="infersim",
        description="Simulate transformer inference on GPUs, wafer-scale, LPU and CIM hardware.",
    )
    p.add_argument("--version", action="version", version=f"infersim {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    front.register(sub)
    workloads_cli.register(sub)
    hwmodels_cli.register(sub)
    mapper_cli.register(sub)
    simulator_cli.register(sub)
    validation_cli.register(sub)
    studies_cli.register(sub)
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
