"""The command index of the CLI reference (docs/cli.md), written from the click commands.

``python -m arty.cli.docs`` rewrites the block between :data:`BEGIN` and :data:`END` in
docs/cli.md: every command and subcommand (hidden ones left out), its usage line and the first
line of its help, linked to its section when the page has one. ``--check`` writes nothing and
exits 1 when the block is not what the commands say (a test runs it). The sections themselves
(their prose, examples and option tables) are written by hand.

It also writes :mod:`arty.cli.commands` (:data:`TABLE`), the table of top-level commands that lets
``art --help`` list them without importing their modules; ``--check`` checks it too.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from typing import Iterator

import click

BEGIN = "<!-- BEGIN generated: commands -->"
END = "<!-- END generated -->"
#: The generated table of commands (``arty/cli/commands.py``) of the package this module is in.
TABLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "commands.py")
#: docs/cli.md of the source tree this module is in.
DEFAULT_DOC = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                           "docs", "cli.md")


def iter_commands(group: click.Group, ctx: click.Context) -> Iterator[tuple[click.Context, click.Command]]:
    """``(context, command)`` for every visible command under ``group``, depth first, by name;
    each context's ``command_path`` is the command's full name (``art run show``)."""
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if command is None or command.hidden:
            continue
        sub = click.Context(command, info_name=name, parent=ctx)
        yield sub, command
        if isinstance(command, click.Group):
            yield from iter_commands(command, sub)


def anchor(title: str) -> str:
    """GitHub's anchor of a heading: ``art run show`` -> ``art-run-show``."""
    text = re.sub(r"[^\w\- ]", "", title.strip().lower())
    return text.replace(" ", "-")


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render_index(root: click.Group, doc: str) -> str:
    """The generated block (markers included) for ``root``'s commands; ``doc`` is the page, for
    the links to the sections it has."""
    headings = {anchor(m.group(1)) for m in re.finditer(r"^#+\s+(.*)$", doc, re.M)}
    lines = [BEGIN, "<!-- written by 'python -m arty.cli.docs' from the commands: edit the commands' help "
             "instead, then run it -->", "", "| command | usage | what it does |", "|---|---|---|"]
    top = click.Context(root, info_name="art")
    for ctx, command in iter_commands(root, top):
        path = ctx.command_path
        label = f"`{path}`"
        if anchor(path) in headings:
            label = f"[{label}](#{anchor(path)})"
        usage = " ".join([path, *command.collect_usage_pieces(ctx)])
        lines.append(f"| {label} | `{_cell(usage)}` | {_cell(command.get_short_help_str(limit=300))} |")
    lines.append(END)
    return "\n".join(lines)


def update(doc: str, root: click.Group) -> str:
    """``doc`` with its generated block rewritten (a :class:`ValueError` without the markers)."""
    start, end = doc.find(BEGIN), doc.find(END)
    if start < 0 or end < start:
        raise ValueError(f"no '{BEGIN}' ... '{END}' block")
    return doc[:start] + render_index(root, doc) + doc[end + len(END):]


def render_table() -> str:
    """The source of :mod:`arty.cli.commands`: every top-level command, the module that defines it
    and its one-line help (``None`` for a hidden command), read from the command modules."""
    import importlib

    from arty.cli import MODULES

    rows = []
    for module_name in MODULES:
        for command in importlib.import_module(f"arty.cli.{module_name}").COMMANDS:
            text = None if command.hidden else command.get_short_help_str(limit=10**6)
            rows.append((command.name, module_name, text))
    lines = ['"""The ``art`` commands without their code: ``{name: (module under arty.cli, one-line help)}``',
             "(``None``: a hidden command), so that ``art --help`` lists them and ``art COMMAND`` loads",
             "only the module of COMMAND.", "",
             "Written by ``python -m arty.cli.docs`` from the commands: do not edit; a test checks it is current.",
             '"""', "", "from __future__ import annotations", "",
             "COMMANDS: dict[str, tuple[str, str | None]] = {"]
    lines += [f"    {name!r}: ({module!r}, {text!r})," for name, module, text in sorted(rows)]
    lines += ["}", ""]
    return "\n".join(lines)


def _sync(path: str, new: str, check: bool, what: str) -> int:
    """Check (``check``) or rewrite the generated file ``path``; 1 when a check finds it stale."""
    try:
        with open(path, encoding="utf-8") as f:
            old = f.read()
    except FileNotFoundError:
        old = None
    if old == new:
        return 0
    if check:
        print(f"{path}: the {what} is not current; run 'python -m arty.cli.docs'", file=sys.stderr)
        return 1
    with open(path, "w", encoding="utf-8") as f:
        f.write(new)
    print(f"rewrote the {what} of {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m arty.cli.docs", description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", default=DEFAULT_DOC, help="the CLI reference (default: docs/cli.md)")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 when the file is not current")
    args = parser.parse_args(argv)
    from arty.cli import load_all

    table = _sync(TABLE, render_table(), args.check, "command table")
    with open(args.path, encoding="utf-8") as f:
        doc = f.read()
    return _sync(args.path, update(doc, load_all()), args.check, "command index") or table


if __name__ == "__main__":
    sys.exit(main())
