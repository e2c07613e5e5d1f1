"""The `infersim` command line. Each layer registers its own commands (see docs/architecture.md).

Errors caused by input print one line per problem on stderr and exit with code 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from infersim.errors import InfersimError


def build_parser() -> argparse.ArgumentParser:
    from infersim import __version__
    from infersim import commands as front
    from workloads import cli as workloads_cli

    p = argparse.ArgumentParser(
        prog="infersim",
        description="Simulate transformer inference on GPUs, wafer-scale, LPU and CIM hardware.",
    )
    p.add_argument("--version", action="version", version=f"infersim {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    front.register(sub)
    workloads_cli.register(sub)
    for mod in _layer_clis():
        mod.register(sub)
    return p


def _layer_clis() -> list:
    import importlib

    mods = []
    for name in ("hwmodels.cli", "mapper.cli", "simulator.cli", "validation.cli", "studies.cli"):
        try:
            mods.append(importlib.import_module(name))
        except ModuleNotFoundError as e:  # a layer without commands yet
            if e.name != name:
                raise
    return mods



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
    except KeyboardInterrupt:
        print("infersim: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    return int(rc or 0)


if __name__ == "__main__":
    sys.exit(main())
