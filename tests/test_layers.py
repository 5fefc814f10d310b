"""Layers point down only (DESIGN.md): checked by parsing every module's imports.

::

    cli/  server/                         thin: parse, call, render
    api                                   the query API (Api, ApiRun) over the index
    lineage · index · automations         derived views, events
    tracking/                             runs
    artifacts/                            manifests, versions, aliases, ...
    store                                 blobs + records + logs over fsspec
    hashing                               digests, stat cache
    errors                                the exception tree (imported by all)
"""

from __future__ import annotations

import ast
import os

import pytest

import arty

PACKAGE_DIR = os.path.dirname(arty.__file__)

#: Rank of each layer; a module may import only modules of its own rank or lower.
#: Modules not listed (the package root, settings, pipeline, ...) are not ranked.
RANKS = {
    "arty.errors": 0,
    "arty.hashing": 1,
    "arty.store": 2,
    "arty.artifacts": 3,
    "arty.runs": 3,
    "arty.tracking": 4,
    "arty.index": 5,
    "arty.lineage": 5,
    "arty.pipeline": 5,
    # events, automation records and webhooks: read the store, the artifacts' rules and the index
    "arty.automations": 5,
    "arty.api": 6,
    "arty.plotsdiff": 6,
    "arty.integrations": 6,
    "arty.integration": 6,
    "arty.keras": 6,
    "arty.sklearn": 6,
    "arty.plot": 4,
    "arty.cli": 7,
    "arty.server": 7,
    # sweeps: the agents sit with the pipelines (they start runs); the records that agents claim
    # trials with, and what they read of a trial's run, are store-level (they import only the store)
    "arty.sweeps": 5,
    "arty.sweeps.records": 2,
    "arty.sweeps.results": 2,
    "arty.sweeps.spec": 2,
}


def module_name(path: str) -> str:
    rel = os.path.relpath(path, os.path.dirname(PACKAGE_DIR))[:-3].replace(os.sep, ".")
    return rel[: -len(".__init__")] if rel.endswith(".__init__") else rel


def all_modules() -> dict[str, str]:
    """``{dotted module name: file path}`` for every module of the package."""
    out = {}
    for here, dirs, files in os.walk(PACKAGE_DIR):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for f in files:
            if f.endswith(".py"):
                path = os.path.join(here, f)
                out[module_name(path)] = path
    return out


MODULES = all_modules()


def imports_of(source: str, module: str, is_package: bool, known: set[str]) -> set[str]:
    """Every ``arty`` module that ``source`` imports, anywhere in it (also inside functions).

    Relative imports are resolved; ``from arty import cli`` counts as importing
    ``arty.cli`` when that is a module, else as importing ``arty``.
    """
    found: set[str] = set()
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            names = []
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                names.append(sub if sub in known else base)
        else:
            continue
        found.update(n for n in names if n == "arty" or n.startswith("arty."))
    return found


def graph() -> dict[str, set[str]]:
    known = set(MODULES)
    out = {}
    for name, path in MODULES.items():
        with open(path, encoding="utf-8") as f:
            out[name] = imports_of(f.read(), name, path.endswith("__init__.py"), known)
    return out


GRAPH = graph()


def layer(module: str) -> str | None:
    for prefix in sorted(RANKS, key=len, reverse=True):
        if module == prefix or module.startswith(prefix + "."):
            return prefix
    return None


def in_package(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


# -- the checker itself ---------------------------------------------------------------------


def test_import_parser_sees_every_form():
    known = {"arty", "arty.cli", "arty.errors", "arty.store", "arty.store.layout", "arty.artifacts",
             "arty.artifacts.names"}
    src = (
        "import os\n"
        "import arty.errors\n"
        "from arty import cli\n"
        "from arty import Artifact\n"
        "from . import layout\n"
        "from .. import artifacts\n"
        "from ..artifacts.names import check_name\n"
        "def f():\n"
        "    import arty.index as ix\n"
    )
    assert imports_of(src, "arty.store.store", False, known) == {
        "arty.errors", "arty.cli", "arty", "arty.store.layout", "arty.artifacts", "arty.artifacts.names",
        "arty.index"}
    assert imports_of("from . import layout", "arty.store", True, known) == {"arty.store.layout"}


def test_every_layer_that_exists_is_found():
    assert {"arty.errors", "arty.hashing", "arty.store", "arty.artifacts", "arty.cli"} <= set(MODULES)
    assert len(GRAPH) == len(MODULES) > 10


# -- the rules ----------------------------------------------------------------------------------


def test_errors_imports_nothing_from_arty():
    assert GRAPH["arty.errors"] == set()


def test_hashing_imports_only_errors():
    assert GRAPH["arty.hashing"] <= {"arty.errors"}


@pytest.mark.parametrize("module", sorted(m for m in MODULES if in_package(m, "arty.store")))
def test_store_imports_only_hashing_and_errors(module):
    bad = {i for i in GRAPH[module]
           if not (i in ("arty.hashing", "arty.errors") or in_package(i, "arty.store"))}
    assert not bad, f"{module} imports {sorted(bad)}"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if in_package(m, "arty.artifacts")))
def test_artifacts_never_imports_the_layers_above(module):
    above = ("arty.tracking", "arty.index", "arty.lineage", "arty.cli", "arty.server", "arty.pipeline")
    bad = {i for i in GRAPH[module] if i == "arty" or any(in_package(i, a) for a in above)}
    assert not bad, f"{module} imports {sorted(bad)}"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if in_package(m, "arty.index")))
def test_index_reads_records_without_the_run_writer(module):
    # The index is rebuilt from the records alone: it reads the store's format, never the writer's code.
    above = ("arty.tracking", "arty.lineage", "arty.api", "arty.cli", "arty.server", "arty.pipeline")
    bad = {i for i in GRAPH[module] if i == "arty" or any(in_package(i, a) for a in above)}
    assert not bad, f"{module} imports {sorted(bad)}"


def test_nothing_outside_cli_imports_cli():
    # ``python -m arty`` is the one entry point allowed to start the CLI.
    bad = {m: sorted(i for i in imports if in_package(i, "arty.cli"))
           for m, imports in GRAPH.items()
           if not in_package(m, "arty.cli") and m != "arty.__main__"}
    assert not {m: i for m, i in bad.items() if i}


def test_every_import_points_down():
    bad = []
    for module, imports in GRAPH.items():
        own = layer(module)
        if own is None:
            continue
        for i in imports:
            theirs = layer(i)
            if theirs is not None and RANKS[theirs] > RANKS[own]:
                bad.append(f"{module} ({own}) imports {i} ({theirs})")
    assert not bad, "\n".join(bad)


def test_only_the_backends_module_touches_fsspec():
    # One exception: arty.artifacts.fs *is* an fsspec filesystem (arty://), so it subclasses
    # fsspec's two base classes; it reads the store through arty.store like every other module.
    users = set()
    for name, path in MODULES.items():
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import) and any(a.name.split(".")[0] == "fsspec" for a in node.names):
                users.add(name)
            elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "fsspec":
                if name == "arty.artifacts.fs" and node.module == "fsspec.spec" and \
                        {a.name for a in node.names} <= {"AbstractBufferedFile", "AbstractFileSystem"}:
                    continue
                users.add(name)
    assert users <= {"arty.store.backends"}, sorted(users)


@pytest.mark.parametrize("module", sorted(m for m in MODULES if in_package(m, "arty.automations")))
def test_automations_import_only_store_artifacts_and_index(module):
    allowed = ("arty.errors", "arty.hashing", "arty.store", "arty.artifacts", "arty.index", "arty.automations")
    bad = {i for i in GRAPH[module] if not any(in_package(i, a) for a in allowed)}
    assert not bad, f"{module} imports {sorted(bad)}"
