"""The options of ``devmem-tui serve`` (the parser; cli.py runs it). Plain argparse, so the
command line can offer ``serve`` without loading textual-serve."""

from __future__ import annotations

import argparse
from typing import Any


def add_serve_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    serve = sub.add_parser(
        "serve",
        parents=[common],
        help="serve the TUI to web browsers (a classroom)",
        description="Serve the TUI over HTTP: every browser tab gets its own fresh session "
        "(its own process and machine), started from the options. Needs the 'web' extra: "
        "pip install 'devmem-tui[web]'. Ctrl+C stops it.",
    )
    serve.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1: this "
        "computer only; 0.0.0.0 for every network)",
    )
    serve.add_argument(
        "--port", type=_port, default=8000, help="TCP port (default 8000; 0: any free port)"
    )
    serve.add_argument(
        "--max-sessions",
        type=_positive,
        default=32,
        metavar="N",
        help="tabs served at once; the next one gets a page saying all are in use (default 32)",
    )
    serve.add_argument(
        "--public-url",
        type=_http_url,
        metavar="URL",
        help="the address browsers use, when it is not the one listened on (a reverse "
        "proxy, https)",
    )
    serve.add_argument(
        "--lesson",
        metavar="N",
        help="every tab steps through lesson N (a number or a name; 'devmem-tui lessons')",
    )
    serve.add_argument(
        "--quiz",
        action="store_true",
        help="with --lesson: predict, then see (each tab asks for the outcome before a "
        "command an 'expect' checks)",
    )


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0-65535)")
    return int(text)


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of 1 or more")
    return int(text)


def _http_url(text: str) -> str:
    scheme, _, rest = text.partition("://")
    if scheme not in ("http", "https") or not rest.strip("/"):
        raise argparse.ArgumentTypeError(f"{text!r} is not an http:// or https:// URL")
    return text
