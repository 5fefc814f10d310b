"""The ``art`` command line. Thin: parse, call the library, render.

Every :class:`arty.errors.ArtyError` becomes ``error: <message>`` (plus its
hint) on stderr and the class's exit code.

Commands are loaded on first use: ``art ls`` imports the module that defines ``ls`` (and
what it needs), not the server's or the pipelines' code; ``art --version`` and ``art --help``
import no command module. ``art --help`` lists the commands from :mod:`arty.cli.commands`, a
table of names, modules and one-line helps written from the commands by
``python -m arty.cli.docs`` (a test checks it is current).
"""

from __future__ import annotations

import sys
import warnings
from gettext import gettext as _
from typing import TextIO

import click

from arty import __version__
from arty.cli.commands import COMMANDS
from arty.cli.context import Context
from arty.errors import ArtyError

#: The modules that define the commands (each has a ``COMMANDS`` list), in the order they are registered.
MODULES = ("artifacts", "registry", "workspace", "tracking", "runs", "lineage", "transfer", "pipeline", "plots",
           "server", "login", "automations", "experiments", "sweeps", "retention")


class ArtyGroup(click.Group):
    """A click group that renders Arty's errors like git does, and loads its commands lazily:
    a command's module is imported when the command is looked up (:meth:`get_command`)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.commands) | set(COMMANDS))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            _load(COMMANDS[cmd_name][0])
        return self.commands.get(cmd_name)

    def resolve_command(self, ctx: click.Context, args: list[str]) -> tuple[str | None, click.Command | None, list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError as exc:
            # click (8.4+) suggests close names from the commands loaded so far: suggest from all of them
            if type(exc).__name__ != "NoSuchCommand":
                raise
            raise type(exc)(exc.command_name, possibilities=self.list_commands(ctx), ctx=ctx) from None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The commands section of ``art --help``, as click writes it, from the table of
        one-line helps for the commands not loaded yet (so that ``--help`` loads none)."""
        rows: list[tuple[str, click.Command]] = []
        for name in self.list_commands(ctx):
            command = self.commands.get(name)
            if command is None and COMMANDS[name][1] is not None:  # None: a hidden command
                command = click.Command(name, help=COMMANDS[name][1])  # stands in, shortened as click does
            if command is not None and not command.hidden:
                rows.append((name, command))
        if not rows:
            return
        limit = formatter.width - 6 - max(len(name) for name, _ in rows)
        lines = [(name, command.get_short_help_str(limit)) for name, command in rows]
        with formatter.section(_("Commands")):  # click's words, translated as click's are
            formatter.write_dl(lines)

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except ArtyError as exc:
            click.echo(f"error: {exc.message}", err=True)
            if exc.hint:
                click.echo(f"hint: {exc.hint}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)


@click.group(cls=ArtyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--store", envvar="ARTY_STORE", metavar="URL",
              help="Store URL: a folder, memory://, s3://bucket/path, gs://bucket/path, http(s)://server. "
                   "Default: ARTY_STORE, else the nearest .arty folder, else the server of 'art login', "
                   "else ./.arty.")
@click.option("--project", envvar="ARTY_PROJECT", metavar="NAME",
              help="Project inside the store. Default: ARTY_PROJECT, the store's default, else 'default'.")
@click.version_option(__version__, prog_name="art")
@click.pass_context
def cli(ctx: click.Context, store: str | None, project: str | None) -> None:
    """Arty: version datasets and models as content-addressed artifacts."""
    ctx.obj = Context(store, project)


#: Commands that take no project (or one of their own): no ``--project`` after their name.
_NO_PROJECT = {"init", "server", "login", "logout"}
#: Commands that take no store (their URL is an argument): no ``--store`` after their name.
_NO_STORE = {"login", "logout"}


def _set_project(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value:
        ctx.find_object(Context).project_name = value


def _set_store(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value:
        context = ctx.find_object(Context)
        context.store_url = value


def _has_option(command: click.Command, flag: str) -> bool:
    return any(isinstance(p, click.Option) and flag in p.opts for p in command.params)


def _globals_after(command: click.Command, top: str) -> None:
    """Let ``art COMMAND --project NAME --store URL`` mean ``art --project NAME --store URL COMMAND``
    (as W&B's and DVC's users type them), on ``COMMAND`` and each of its subcommands. A command
    with a ``--project`` or ``--store`` of its own keeps it; ``_NO_PROJECT``/``_NO_STORE`` (by the
    top command's name) get none. Hidden: docs/cli.md documents them once, with the global options."""
    if top not in _NO_PROJECT and not _has_option(command, "--project"):
        command.params.append(click.Option(["--project", "global_project"], metavar="NAME", expose_value=False,
                                           hidden=True, callback=_set_project,
                                           help="Project inside the store (as the global option)."))
    if top not in _NO_STORE and not _has_option(command, "--store"):
        command.params.append(click.Option(["--store", "global_store"], metavar="URL", expose_value=False,
                                           hidden=True, callback=_set_store,
                                           help="Store URL (as the global option)."))
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _globals_after(sub, top)


def _load(name: str) -> None:
    """Import command module ``arty.cli.NAME`` and register its commands (once)."""
    import importlib

    module = importlib.import_module(f"arty.cli.{name}")
    for command in module.COMMANDS:
        if command.name not in cli.commands:
            _globals_after(command, command.name or "")
            cli.add_command(command)


def load_all() -> click.Group:
    """Every command registered (what a tool that walks ``cli.commands`` needs); returns :data:`cli`."""
    for name in MODULES:
        _load(name)
    return cli


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: TextIO | None = None, line: str | None = None) -> None:
    """Arty's own warnings (``arty: ...``) as ``warning: ...`` lines, like git; others as Python shows them."""
    text = str(message)
    if text.startswith("arty: "):
        click.echo(f"warning: {text[len('arty: '):]}", err=True)
    else:
        _python_show_warning(message, category, filename, lineno, file, line)


_python_show_warning = warnings.showwarning


def main() -> None:
    """Console entry point for ``art``."""
    warnings.showwarning = _show_warning
    cli.main(prog_name="art", standalone_mode=True)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
