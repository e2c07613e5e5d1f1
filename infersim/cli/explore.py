"""`infersim explore`: the interactive explorer (a local web app on 127.0.0.1)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from infersim.cli.common import nonneg_int


def register(sub: Any) -> None:
    p = sub.add_parser("explore", help="interactive explorer in the browser (local, offline)",
                       description="Start the explorer on 127.0.0.1: turn a design's knobs and "
                       "watch the roofline, the latency/energy breakdown, the op timeline and "
                       "the serving curve move. Needs the `explore` extra (plotly).")
    p.add_argument("--port", type=nonneg_int, default=8765,
                   help="port on 127.0.0.1 (default 8765; 0 = any free port)")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser")
    p.add_argument("--store", metavar="DIR",
                   help="a sweep or study output folder (results.csv) to show and open")
    p.add_argument("--json", action="store_true",
                   help='print {"url": ...} as one JSON line once serving, for scripts')
    p.set_defaults(func=cmd_explore)


def cmd_explore(args: argparse.Namespace) -> int:
    from infersim.explore.server import make_server

    srv = make_server(args.port, args.store)
    url = f"http://127.0.0.1:{srv.server_address[1]}/"
    if args.json:
        print(json.dumps({"url": url}), flush=True)
    else:
        print(f"infersim explore: {url}  (Ctrl-C to stop)", flush=True)
    if not args.no_browser:
        import webbrowser

        webbrowser.open(url)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
    finally:
        srv.server_close()
    return 0
