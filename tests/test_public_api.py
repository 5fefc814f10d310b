"""The tested public surface: ``arty.__all__``, the error tree, and the CLI reference."""

from __future__ import annotations

import inspect
import os
import re

import click
import pytest

import arty
import arty.errors
from arty.cli import cli

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLI_DOC = os.path.join(REPO, "docs", "cli.md")

EXPECTED_ALL = {
    # the W&B-shaped API
    "Artifact", "ArtifactVersion", "log_artifact", "use_artifact", "registry",
    # values it returns
    "Diff", "Digest", "Entry", "LogResult", "Registry",
    # stores
    "Store", "init_store", "open_store",
    # runs
    "init", "log", "define_metric", "finish", "Run", "Config", "Summary", "Api",
    "Histogram", "Image", "Table", "watch", "unwatch",
    "Audio", "Video", "Html", "Object3D", "Molecule", "Plotly",
    # the rest of W&B's top-level calls
    "AlertLevel", "Settings", "alert", "link_model", "log_model", "login", "mark_preempting", "restore", "save",
    "setup", "teardown", "termerror", "termlog", "termwarn", "use_model",
    "sweep", "agent",  # W&B's wandb.sweep / wandb.agent
    # errors
    "ArtyError", "BadRecord", "ConflictError", "IntegrityError", "InvalidName", "InvalidPath", "MissingExtra",
    "NotFound", "PendingApproval", "PermissionDenied", "ReferenceChanged", "StoreError", "StoreFull", "StorePermissionDenied", "StoreUnreachable",
    "UnsupportedStore", "UsageError",
    "__version__",
}


def test_all_is_exactly_the_public_list():
    assert len(arty.__all__) == len(set(arty.__all__)), "duplicates in __all__"
    assert set(arty.__all__) == EXPECTED_ALL


@pytest.mark.parametrize("name", sorted(EXPECTED_ALL))
def test_every_public_name_resolves_and_is_documented(name):
    value = getattr(arty, name)
    if name == "__version__":
        assert re.fullmatch(r"\d+\.\d+\.\d+\S*", value)
        return
    assert inspect.getdoc(value), f"arty.{name} has no docstring"


def test_star_import_gives_exactly_all():
    namespace: dict = {}
    exec("from arty import *", namespace)
    assert set(namespace) - {"__builtins__"} == EXPECTED_ALL


def test_subpackages_all_resolve():
    import arty.artifacts
    import arty.store

    for module in (arty.artifacts, arty.store):
        for name in module.__all__:
            assert hasattr(module, name), f"{module.__name__}.{name}"


# -- errors -------------------------------------------------------------------------------------


def error_classes() -> list[type]:
    return [obj for _, obj in inspect.getmembers(arty.errors, inspect.isclass)
            if issubclass(obj, BaseException) and obj.__module__ == "arty.errors"]


def test_the_error_module_defines_the_tree():
    names = {c.__name__ for c in error_classes()}
    assert {"ArtyError", "UsageError", "InvalidName", "InvalidPath", "NotFound", "StoreError", "IntegrityError",
            "ReferenceChanged", "ConflictError"} <= names


@pytest.mark.parametrize("cls", error_classes(), ids=lambda c: c.__name__)
def test_every_error_derives_from_arty_error_and_is_documented(cls):
    assert issubclass(cls, arty.ArtyError)
    assert cls.__dict__.get("__doc__"), f"{cls.__name__} has no docstring of its own"
    assert isinstance(cls.exit_code, int) and cls.exit_code > 0
    assert cls.__name__ in arty.errors.__doc__, f"{cls.__name__} missing from the tree in the module docstring"
    assert getattr(arty, cls.__name__) is cls, f"{cls.__name__} is not exported from arty"


def test_errors_carry_message_and_hint():
    exc = arty.NotFound("artifact 'mnist:v7' not found (versions: v0..v5)", hint="'art ls mnist' lists them")
    assert (exc.message, exc.hint) == ("artifact 'mnist:v7' not found (versions: v0..v5)", "'art ls mnist' lists them")
    assert str(exc) == "artifact 'mnist:v7' not found (versions: v0..v5)\nhint: 'art ls mnist' lists them"
    assert str(arty.UsageError("bad")) == "bad"
    store_exc = arty.StoreUnreachable("store unreachable", url="s3://b")
    assert store_exc.url == "s3://b" and isinstance(store_exc, arty.StoreError)
    assert arty.IntegrityError.exit_code != arty.NotFound.exit_code != arty.UsageError.exit_code


# -- every CLI command and option is in docs/cli.md ------------------------------------------------


def commands() -> dict[str, click.Command]:
    """Every top-level command, loaded (the group loads a command's module when it is looked up)."""
    ctx = click.Context(cli)
    return {name: cli.get_command(ctx, name) for name in cli.list_commands(ctx)}


def long_options(command: click.Command) -> list[str]:
    out = []
    for p in command.params:
        if isinstance(p, click.Option) and not p.hidden:  # hidden: documented once (global options)
            flags = [o for o in p.opts + p.secondary_opts if o.startswith("--")]
            out.extend(flags or p.opts)
    return [o for o in out if o != "--help"]


def read_doc() -> str:
    assert os.path.isfile(CLI_DOC), "docs/cli.md (the CLI reference) is missing"
    with open(CLI_DOC, encoding="utf-8") as f:
        return f.read()


def section(doc: str, command: str) -> str:
    """The part of the doc about ``art COMMAND``: from its heading to the next heading of that level,
    or the whole doc when it has no heading naming the command."""
    lines = doc.splitlines()
    heading = re.compile(rf"^(#+)\s.*\bart {re.escape(command)}\b")
    for i, line in enumerate(lines):
        m = heading.match(line)
        if m:
            level = len(m.group(1))
            end = next((j for j in range(i + 1, len(lines))
                        if re.match(rf"^#{{1,{level}}}\s", lines[j])), len(lines))
            return "\n".join(lines[i:end])
    return doc


def test_the_cli_has_the_commands_of_the_issue():
    assert {"init", "add", "ls", "show", "get", "alias", "diff", "verify"} <= set(commands())


@pytest.mark.parametrize("name", sorted(commands()))
def test_every_command_and_option_is_documented(name):
    doc = read_doc()
    assert re.search(rf"\bart {re.escape(name)}\b", doc), f"'art {name}' is not in docs/cli.md"
    text = section(doc, name)
    missing = [o for o in long_options(commands()[name]) if not re.search(rf"{re.escape(o)}\b", text)]
    assert not missing, f"options of 'art {name}' missing from docs/cli.md: {missing}"


def test_global_options_are_documented():
    doc = read_doc()
    for option in long_options(cli):
        assert re.search(rf"{re.escape(option)}\b", doc), f"global option {option} is not in docs/cli.md"
    for var in ("ARTY_STORE", "ARTY_PROJECT"):
        assert var in doc


def subcommands() -> dict[str, click.Command]:
    """``{"server users add": command, ...}``: every subcommand of a command group, at any depth."""
    out: dict[str, click.Command] = {}

    def walk(prefix: str, group: click.Group) -> None:
        for name, command in group.commands.items():
            out[f"{prefix} {name}"] = command
            if isinstance(command, click.Group):
                walk(f"{prefix} {name}", command)
    for name, command in commands().items():
        if isinstance(command, click.Group):
            walk(name, command)
    return out


@pytest.mark.parametrize("name", sorted(subcommands()))
def test_every_subcommand_and_option_is_documented(name):
    doc = read_doc()
    assert re.search(rf"\bart {re.escape(name)}\b", doc), f"'art {name}' is not in docs/cli.md"
    text = section(doc, name)
    missing = [o for o in long_options(subcommands()[name]) if not re.search(rf"{re.escape(o)}\b", text)]
    assert not missing, f"options of 'art {name}' missing from docs/cli.md: {missing}"
