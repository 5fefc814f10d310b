"""``art login URL`` and ``art logout [URL]``: the API key for an ``art server``."""

from __future__ import annotations

import os
import sys

import click

from arty.errors import UsageError
from arty.settings import find_dot_dir
from arty.store import credentials
from arty.store.credentials import check_key


@click.command("login")
@click.argument("url", metavar="URL")
@click.option("--key-stdin", is_flag=True, help="Read the API key from standard input (for scripts).")
@click.option("--no-default", is_flag=True, help="Do not make URL the default store.")
def login_cmd(url: str, key_stdin: bool, no_default: bool) -> None:
    """Save an API key for the art server at URL (checked against it first).

    The key comes from ARTY_API_KEY, else standard input with --key-stdin, else a hidden
    prompt. It is saved, mode 0600, in the credentials file (ARTY_CREDENTIALS, else
    $XDG_CONFIG_HOME/arty/credentials.json); URL becomes the default store unless
    ARTY_STORE is set or a .arty folder is found here (or --no-default).
    """
    url = credentials.normalise_url(url)
    key = os.environ.get(credentials.ENV_KEY, "").strip()
    if not key:
        if key_stdin:
            key = sys.stdin.readline().strip()
        else:
            key = click.prompt(f"API key for {url}", hide_input=True, err=True).strip()
    if not key:
        raise UsageError("no API key given", hint="paste the key at the prompt, or use ARTY_API_KEY or --key-stdin")
    user = check_key(url, key)
    make_default = not no_default and not os.environ.get("ARTY_STORE") and find_dot_dir() is None
    path = credentials.remember(url, key, make_default)
    who = f" as '{user}'" if user != "?" else ""
    click.echo(f"logged in to {url}{who}; key saved in {path}", err=True)
    if make_default:
        click.echo(f"{url} is now the default store", err=True)


@click.command("logout")
@click.argument("url", metavar="[URL]", required=False)
def logout_cmd(url: str | None) -> None:
    """Forget the API key saved for URL (every saved key without URL)."""
    gone = credentials.forget(url)
    if not gone:
        click.echo(f"no key saved for {url}" if url else "no keys saved", err=True)
        return
    for u in gone:
        click.echo(f"logged out of {u}", err=True)


COMMANDS = [login_cmd, logout_cmd]
