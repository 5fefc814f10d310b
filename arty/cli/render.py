"""Rendering helpers for the CLI: sizes, tables, JSON and progress bars."""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Sequence

import click


def human_size(n: int | float) -> str:
    """``1536`` -> ``"1.5 KiB"``."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} PiB"  # pragma: no cover


def plural(n: int, word: str) -> str:
    """``plural(1, "file")`` -> ``"1 file"``; ``plural(2, "file")`` -> ``"2 files"``."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def echo_json(obj: Any) -> None:
    click.echo(json.dumps(obj, indent=2, sort_keys=True, default=str))


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> None:
    """Print a plain aligned table."""
    cells = [[str(h) for h in headers]] + [[("" if c is None else str(c)) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for r in cells:
        click.echo("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())


@contextmanager
def progress_bar(desc: str, total_bytes: int | None = None) -> Iterator[Callable[[int, int], None]]:
    """A ``(files, bytes)`` progress callback drawing a tqdm bar on stderr.

    The bar appears only on a terminal and only after one second, so quick
    commands stay quiet.
    """
    from tqdm import tqdm

    bar = tqdm(total=total_bytes, desc=desc, unit="B", unit_scale=True, unit_divisor=1024, delay=1.0,
               file=sys.stderr, disable=None, leave=False)
    files = [0]

    def update(n_files: int, n_bytes: int) -> None:
        files[0] += n_files
        bar.update(n_bytes)
        bar.set_postfix_str(f"{files[0]} files", refresh=False)

    try:
        yield update
    finally:
        bar.close()
