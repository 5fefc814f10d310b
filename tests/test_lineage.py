"""Lineage (``arty.lineage``, ``Api.lineage``, ``art lineage``) over real runs in a real store.

The store holds two chains made by real runs::

    data:v0 -> (prep) -> model:v0 -> (evaluate) -> report:v0
    data:v1 -> (retrain) -> model:v1
"""

from __future__ import annotations

import json
import re

import networkx as nx
import pytest
from click.testing import CliRunner

import arty
from arty.api import Api
from arty.artifacts import Artifact
from arty.cli import cli
from arty.errors import NotFound, UsageError
from arty.lineage import Lineage, artifact_node, build_graph, run_node
from conftest import make_tree

P = "lin"
QUIET = dict(console=False, system_metrics=False, code=False)


def _art(path, name: str, type: str) -> Artifact:
    return Artifact(name, type=type).add_dir(str(path))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The store, and ``{run label: run id}``."""
    root = tmp_path_factory.mktemp("lineage")
    store, _ = arty.init_store(str(root / "store"))
    url = store.url

    def start(name: str, job_type: str) -> arty.Run:
        return arty.init(project=P, store=url, name=name, job_type=job_type, dir=str(root / "runs"), **QUIET)

    ids = {}
    run = start("ingest", "upload")
    run.log_artifact(_art(make_tree(root / "d0", {"a.csv": "1"}), "data", "dataset"))
    run.log_artifact(_art(make_tree(root / "d1", {"a.csv": "2"}), "data", "dataset"))
    ids["ingest"] = run.id
    run.finish()

    run = start("prep", "train")  # run A
    run.use_artifact("data:v0")
    run.log_artifact(_art(make_tree(root / "m0", {"w": "0"}), "model", "model"), aliases=["prod"])
    ids["A"] = run.id
    run.finish()

    run = start("evaluate", "eval")  # run B
    run.use_artifact("model:v0")
    run.log_artifact(_art(make_tree(root / "r0", {"r.txt": "ok"}), "report", "report"))
    ids["B"] = run.id
    run.finish()

    run = start("retrain", "train")  # run C
    run.use_artifact("data:v1")
    run.log_artifact(_art(make_tree(root / "m1", {"w": "1"}), "model", "model"))
    ids["C"] = run.id
    run.finish()
    arty._registries.clear()
    return store, ids


@pytest.fixture
def api(world):
    store, _ = world
    with Api(store, P) as a:
        yield a


def A(name: str, n: int) -> str:
    return artifact_node(P, name, n)


def R(ids, label: str) -> str:
    return run_node(P, ids[label])


# -- the graph --------------------------------------------------------------------------------------

def test_graph_nodes_and_edges(api, world):
    _, ids = world
    g = build_graph(api.index)
    m0 = g.nodes[A("model", 0)]
    assert {k: m0[k] for k in ("kind", "type", "version", "aliases")} == {
        "kind": "artifact", "type": "model", "version": "v0", "aliases": ["prod"]}
    assert g.nodes[A("model", 1)]["aliases"] == ["latest"]
    assert g.nodes[A("data", 0)]["digest"].startswith("xxh128:")
    run = g.nodes[R(ids, "A")]
    assert (run["kind"], run["name"], run["state"], run["job_type"]) == ("run", "prep", "finished", "train")
    assert run["created_at"]
    assert g.edges[A("data", 0), R(ids, "A")]["label"] == "used"
    assert g.edges[R(ids, "A"), A("model", 0)] == {"label": "produced", "created": True}
    assert g.number_of_nodes() == 4 + 5  # four runs; data v0 v1, model v0 v1, report v0
    assert g.number_of_edges() == 2 + 3 + 3  # ingest made 2; A, B, C each used 1 and made 1


def test_logging_existing_content_is_a_produced_edge_not_created(world, tmp_path):
    store, _ = world
    run = arty.init(project="other", store=store.url, name="again", dir=str(tmp_path), **QUIET)
    v = run.log_artifact(_art(make_tree(tmp_path / "d", {"a.csv": "x"}), "thing", "dataset"))
    run.finish()
    run2 = arty.init(project="other", store=store.url, name="again2", dir=str(tmp_path), **QUIET)
    again = run2.log_artifact(_art(make_tree(tmp_path / "d", {"a.csv": "x"}), "thing", "dataset"))
    run2.finish()
    assert again == v
    with Api(store, "other") as api:
        lin = api.lineage("thing:v0", direction="upstream")
    node = artifact_node("other", "thing", 0)
    assert lin.graph.edges[run_node("other", run.id), node] == {"label": "produced", "created": True}
    assert lin.graph.edges[run_node("other", run2.id), node] == {"label": "produced", "created": False}


# -- queries ----------------------------------------------------------------------------------------

def test_upstream_of_the_report_reaches_data_v0_only(api, world):
    _, ids = world
    lin = api.lineage("report:v0", direction="upstream")
    assert lin.root == A("report", 0) and lin.direction == "upstream"
    assert set(lin.nodes()) == {A("report", 0), R(ids, "B"), A("model", 0), R(ids, "A"), A("data", 0),
                                R(ids, "ingest")}
    assert A("data", 1) not in lin and A("model", 1) not in lin
    assert lin.edges() == sorted([
        (A("data", 0), R(ids, "A"), "used"), (R(ids, "A"), A("model", 0), "produced"),
        (A("model", 0), R(ids, "B"), "used"), (R(ids, "B"), A("report", 0), "produced"),
        (R(ids, "ingest"), A("data", 0), "produced")])


def test_downstream_and_impact_of_data_v0(api, world):
    _, ids = world
    lin = api.lineage("data:v0", direction="downstream")
    assert set(lin.nodes()) == {A("data", 0), R(ids, "A"), A("model", 0), R(ids, "B"), A("report", 0)}
    assert lin.impact() == [A("model", 0), A("report", 0)]
    assert lin.impact(type="model") == [A("model", 0)]
    full = api.lineage("data:v1", direction="downstream")
    assert full.impact() == [A("model", 1)]


def test_depth_limits(api, world):
    _, ids = world
    assert set(api.lineage("report:v0", "upstream", depth=0).nodes()) == {A("report", 0)}
    assert set(api.lineage("report:v0", "upstream", depth=1).nodes()) == {A("report", 0), R(ids, "B")}
    assert set(api.lineage("report:v0", "upstream", depth=2).nodes()) == {A("report", 0), R(ids, "B"),
                                                                          A("model", 0)}
    both = api.lineage("model:prod", "both", depth=1)
    assert set(both.nodes()) == {A("model", 0), R(ids, "A"), R(ids, "B")}
    with pytest.raises(UsageError):
        api.lineage("model:v0", depth=-1)


def test_refs_runs_aliases_and_projects(api, world):
    _, ids = world
    assert api.lineage("model:prod").root == A("model", 0)
    assert api.lineage("model").root == A("model", 1)  # latest
    assert api.lineage(f"{P}/model:latest").root == A("model", 1)
    by_run = api.lineage(ids["B"], direction="upstream")
    assert by_run.root == R(ids, "B") and A("data", 0) in by_run and A("report", 0) not in by_run
    assert api.lineage(f"{P}/{ids['C']}", "downstream").nodes() == sorted([R(ids, "C"), A("model", 1)])
    assert api.lineage("retrain").root == R(ids, "C")  # a name only one run has
    with pytest.raises(UsageError):
        api.lineage("model:v0", direction="sideways")


def test_unknown_refs_are_not_found(api):
    with pytest.raises(NotFound, match=r"artifact 'nope' not found in project 'lin'"):
        api.lineage("nope:v0")
    with pytest.raises(NotFound, match=r"artifact 'nope' not found in project 'lin'"):
        api.lineage("nope")
    with pytest.raises(NotFound, match=r"artifact 'model:v9' not found \(versions: v0, v1\)"):
        api.lineage("model:v9")


def test_cycles_and_long_chains_do_not_break_walks_or_text():
    g = nx.DiGraph()
    prev = None
    for i in range(3000):  # longer than the recursion limit
        a, r = artifact_node("p", "x", i), run_node("p", f"r{i}")
        g.add_node(a, kind="artifact", project="p", name="x", version=i, type="t", digest=None, aliases=[],
                   created_at=None)
        g.add_node(r, kind="run", project="p", id=f"r{i}", name=f"r{i}", state="finished", job_type=None,
                   created_at=None)
        if prev:
            g.add_edge(prev, a, label="produced")
        g.add_edge(a, r, label="used")
        prev = r
    g.add_edge(run_node("p", "r5"), artifact_node("p", "x", 2), label="produced")  # a cycle
    lin = Lineage(g, artifact_node("p", "x", 0), "downstream").downstream()
    assert len(lin.impact()) == 2999
    text = lin.to_text()
    assert "(see above)" in text and text.count("\n") == 6000 + 1  # every node, and the cycle once
    assert len(Lineage(g).to_text().splitlines()) >= 6000


# -- exports ----------------------------------------------------------------------------------------

@pytest.fixture
def lin(api):
    return api.lineage("model:v0")  # both directions: data:v0 ... report:v0


def test_json_round_trips_through_networkx(lin):
    data = json.loads(json.dumps(lin.to_json()))
    g = nx.node_link_graph(data, edges="edges")
    assert set(g.nodes) == set(lin.graph.nodes) and set(g.edges) == set(lin.graph.edges)
    assert g.graph == {"root": A("model", 0), "direction": "both"}
    assert g.nodes[A("model", 0)]["aliases"] == ["prod"]


def test_graphml_parses(lin):
    g = nx.parse_graphml(lin.to_graphml())
    assert set(g.nodes) == set(lin.graph.nodes) and set(g.edges) == set(lin.graph.edges)
    assert g.nodes[A("model", 0)]["aliases"] == "prod"
    assert g.nodes[A("model", 0)]["version"] == "v0"
    assert {d["label"] for _, _, d in g.edges(data=True)} == {"used", "produced"}


def test_dot_is_balanced_and_names_every_node_and_edge(lin):
    dot = lin.to_dot()
    assert dot.startswith("digraph lineage {") and dot.rstrip().endswith("}")
    body = re.sub(r'"(?:[^"\\]|\\.)*"', '""', dot)  # braces inside quoted strings do not count
    assert body.count("{") == body.count("}") == 1
    for n in lin.graph.nodes:
        assert f'"{n}" [label=' in dot
    for a, b, label in lin.edges():
        assert f'"{a}" -> "{b}" [label="{label}"];' in dot


def test_dot_quotes_odd_characters():
    g = nx.DiGraph()
    g.add_node('run:p/a"b', kind="run", project="p", id='a"b', name='x "quoted" \\ {name}', state=None)
    dot = Lineage(g).to_dot()
    assert '"run:p/a\\"b"' in dot and '\\\\' in dot


def test_mermaid_has_every_node_and_edge(lin):
    text = lin.to_mermaid()
    assert text.startswith("flowchart LR\n")
    ids = lin.mermaid_ids()
    assert all(re.fullmatch(r"n\d+", i) for i in ids.values())
    for n, i in ids.items():
        assert re.search(rf'^  {i}[\[(]"{re.escape(lin.label(n))}', text, re.M)
    for a, b, label in lin.edges():
        assert f"  {ids[a]} -->|{label}| {ids[b]}\n" in text


def test_mermaid_escapes_quotes():
    g = nx.DiGraph()
    g.add_node("run:p/x", kind="run", project="p", id="x", name='say "hi" <b>', state=None)
    text = Lineage(g).to_mermaid()
    assert 'n0("run say #quot;hi#quot; #lt;b#gt; (x)")' in text


def test_text_tree(lin, world):
    _, ids = world
    text = lin.to_text()
    lines = text.splitlines()
    assert lines[0] == "model:v0  [model; prod]"
    assert lines[1] == "upstream:"
    assert lines[2] == f"└── produced by run prep ({ids['A']})  [finished, train]"
    assert lines[3] == "    └── used data:v0  [dataset]"
    assert "downstream:" in lines
    assert f"└── used by run evaluate ({ids['B']})  [finished, eval]" in lines
    assert "    └── produced report:v0  [report; latest]" in lines


# -- the CLI ----------------------------------------------------------------------------------------

def art(store, *args: str):
    return CliRunner().invoke(cli, ["--store", store.url, "--project", P, "lineage", *args])


@pytest.mark.parametrize("fmt", ["text", "json", "graphml", "dot", "mermaid"])
def test_cli_formats(world, fmt):
    store, ids = world
    r = art(store, "report:v0", "--up", "--format", fmt)
    assert r.exit_code == 0, r.output
    out = r.stdout
    if fmt == "text":
        assert out.startswith("report:v0  [report; latest]\n") and "data:v0" in out and "data:v1" not in out
    elif fmt == "json":
        g = nx.node_link_graph(json.loads(out), edges="edges")
        assert A("data", 0) in g and A("data", 1) not in g and g.graph["direction"] == "upstream"
    elif fmt == "graphml":
        assert A("data", 0) in nx.parse_graphml(out)
    elif fmt == "dot":
        assert out.startswith("digraph") and f'"{A("data", 0)}"' in out
    else:
        assert out.startswith("flowchart LR") and '"data:v0' in out and "data:v1" not in out


def test_cli_directions_depth_and_runs(world):
    store, ids = world
    down = json.loads(art(store, "data:v0", "--down", "--json").stdout)
    assert {n["id"] for n in down["nodes"]} == {A("data", 0), R(ids, "A"), A("model", 0), R(ids, "B"),
                                                A("report", 0)}
    both = json.loads(art(store, ids["A"], "--depth", "1", "--format", "json").stdout)
    assert {n["id"] for n in both["nodes"]} == {R(ids, "A"), A("data", 0), A("model", 0)}
    r = art(store, "data:v0", "--up", "--down")
    assert r.exit_code == 2 and "exclude each other" in r.stderr


def test_cli_unknown_name_is_not_found(world):
    store, _ = world
    r = art(store, "nope:latest")
    assert r.exit_code == 3
    assert "error: artifact 'nope' not found in project 'lin' (artifacts: data, model, report)" in r.stderr
    assert art(store, "data:v7").exit_code == 3


def test_api_artifact_logged_by_and_used_by(api, world):
    _, ids = world
    model = api.artifact("model:prod")
    assert model.name == "model:v0" and model.qualified_name == "lin/model:v0" and model.digest == model.version_object.digest
    assert model.logged_by().id == ids["A"]
    assert [r.id for r in model.used_by()] == [ids["B"]]
    assert [r.id for r in model.loggers()] == [ids["A"]]
    data_v1 = api.artifact("data:v1")
    assert data_v1.logged_by().id == ids["ingest"]
    assert [r.id for r in data_v1.used_by()] == [ids["C"]]
    assert api.artifact("report:latest").used_by() == []
