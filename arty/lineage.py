"""Lineage: the graph of runs and the artifact versions they used and produced.

The graph is a :class:`networkx.DiGraph` built from the index (:mod:`arty.index`),
which holds every run's ``inputs/`` and ``outputs/`` records and every version's
``created_by``. It has two kinds of node:

* ``run:<project>/<run_id>``, attributes ``kind="run"``, ``project``, ``id``, ``name``,
  ``state``, ``job_type``, ``created_at``;
* ``artifact:<project>/<name>:v<N>``, attributes ``kind="artifact"``, ``project``,
  ``name``, ``version`` (``"v3"``), ``type``, ``digest``, ``aliases`` (a list,
  ``latest`` included for the highest version), ``created_at``;

and three kinds of edge, each with a ``label`` attribute:

* version -> run, ``label="used"``: the run used the version (its ``inputs/`` record);
* run -> version, ``label="produced"``: the run logged the version. That is the
  version's ``created_by`` *and* every ``outputs/`` record, so a run that logged
  content that already existed (it got the existing version back) also has a
  ``produced`` edge to it; ``created=True`` on the edge says the run made the
  version, ``False`` that it logged an existing one;
* version -> version, ``label="linked"``: the second is a link in a registry to the first
  (``art link``); a linked version's node has ``link`` (``"project/name:v<N>"``), so the run
  that made a registry's version is found upstream through its source.

A node that an edge names but the index does not hold (a version deleted
since, a run whose records are gone) is kept with ``missing=True``.

:class:`Lineage` wraps a graph, optionally around one ``root`` node, and
answers upstream, downstream and impact queries and exports the graph as
node-link JSON, GraphML, DOT, Mermaid or a text tree.
"""

from __future__ import annotations

import json
from collections import deque
from typing import Any, Iterable

import networkx as nx

from arty.errors import UsageError
from arty.index import Index

__all__ = ["Lineage", "build_graph", "run_node", "artifact_node", "DIRECTIONS", "FORMATS"]

#: Directions of :meth:`Lineage.around` (and of ``Api.lineage``).
DIRECTIONS = ("upstream", "downstream", "both")
#: Export formats (:meth:`Lineage.export`).
FORMATS = ("text", "json", "graphml", "dot", "mermaid")

USED = "used"
PRODUCED = "produced"
LINKED = "linked"


def run_node(project: str, run_id: str) -> str:
    """The node id of a run: ``run:<project>/<run_id>``."""
    return f"run:{project}/{run_id}"


def artifact_node(project: str, name: str, version: int) -> str:
    """The node id of an artifact version: ``artifact:<project>/<name>:v<N>``."""
    return f"artifact:{project}/{name}:v{int(version)}"


def _missing_run(graph: nx.DiGraph, project: str, run_id: str) -> str:
    node = run_node(project, run_id)
    if node not in graph:
        graph.add_node(node, kind="run", project=project, id=run_id, name=run_id, state=None, job_type=None,
                       created_at=None, missing=True)
    return node


def _missing_version(graph: nx.DiGraph, project: str, name: str, version: int, digest: str | None = None) -> str:
    node = artifact_node(project, name, version)
    if node not in graph:
        graph.add_node(node, kind="artifact", project=project, name=name, version=f"v{int(version)}", type=None,
                       digest=digest, aliases=[], created_at=None, missing=True)
    return node


def build_graph(index: Index, sync: bool = True) -> nx.DiGraph:
    """The lineage graph of every project of the index's store.

    With ``sync`` (default), the index catches up with the store first. The whole
    store is read because lineage crosses projects (a run may use another
    project's versions); queries then look at the part around one node.
    """
    if sync:
        index.sync(None)
    graph = nx.DiGraph()
    aliases: dict[tuple[str, str, int], list[str]] = {}
    for a in index.aliases(None):
        aliases.setdefault((a["project"], a["name"], a["version"]), []).append(a["alias"])
    versions = index.versions(None)
    highest: dict[tuple[str, str], int] = {}
    for v in versions:
        key = (v["project"], v["name"])
        highest[key] = max(highest.get(key, -1), v["version"])
    for v in versions:
        names = sorted(aliases.get((v["project"], v["name"], v["version"]), []))
        if highest[(v["project"], v["name"])] == v["version"]:
            names.insert(0, "latest")
        graph.add_node(artifact_node(v["project"], v["name"], v["version"]), kind="artifact",
                       project=v["project"], name=v["name"], version=f"v{int(v['version'])}", type=v["type"],
                       digest=v["digest"], aliases=names, created_at=v["created_at"], created_by=v["created_by"])
        if v.get("link_project") and v.get("link_name") and v.get("link_version") is not None:
            graph.nodes[artifact_node(v["project"], v["name"], v["version"])]["link"] = \
                f"{v['link_project']}/{v['link_name']}:v{int(v['link_version'])}"
    runs = index.runs(None, order="created_at")
    for r in runs:
        graph.add_node(run_node(r["project"], r["id"]), kind="run", project=r["project"], id=r["id"],
                       name=r["name"], state=r["state"], job_type=r["job_type"], created_at=r["created_at"])
    for r in runs:
        rn = run_node(r["project"], r["id"])
        for e in index.inputs(r["project"], r["id"]):
            vn = _missing_version(graph, e["artifact_project"], e["artifact"], e["version"], e.get("digest"))
            graph.add_edge(vn, rn, label=USED)
        for o in index.outputs(r["project"], r["id"]):
            vn = _missing_version(graph, o["project"], o["name"], o["version"])
            graph.add_edge(rn, vn, label=PRODUCED)
    for v in versions:
        if v.get("link_project") and v.get("link_name") and v.get("link_version") is not None:
            src = _missing_version(graph, v["link_project"], v["link_name"], v["link_version"])
            graph.add_edge(src, artifact_node(v["project"], v["name"], v["version"]), label=LINKED)
    # created_by naming a run the index does not hold; then mark which run made each version
    for v in versions:
        if v["created_by"]:
            rn = _missing_run(graph, v["project"], v["created_by"])
            graph.add_edge(rn, artifact_node(v["project"], v["name"], v["version"]), label=PRODUCED)
    for a, b, data in graph.edges(data=True):
        if data["label"] == PRODUCED:
            run = graph.nodes[a]
            data["created"] = graph.nodes[b].get("created_by") == run["id"] and graph.nodes[b]["project"] == run[
                "project"]
    for _, data in graph.nodes(data=True):
        data.pop("created_by", None)
    return graph


# -- walking ------------------------------------------------------------------------------------------

def _walk(graph: nx.DiGraph, start: str, depth: int | None, up: bool) -> dict[str, int]:
    """``{node: hops}`` of the nodes reachable from ``start`` against (up) or along the edges."""
    adj = graph.pred if up else graph.succ
    seen = {start: 0}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        hops = seen[node]
        if depth is not None and hops >= depth:
            continue
        for nxt in adj[node]:
            if nxt not in seen:
                seen[nxt] = hops + 1
                queue.append(nxt)
    return seen


def _check_depth(depth: int | None) -> int | None:
    if depth is None:
        return None
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 0:
        raise UsageError(f"invalid depth {depth!r}", hint="a number of edges (0 or more), or None for no limit")
    return depth


class Lineage:
    """A lineage graph (``.graph``, a :class:`networkx.DiGraph`), optionally around one ``root`` node.

    Queries return new :class:`Lineage` objects (subgraphs); ``depth`` counts
    edges from the start node (``depth=1`` upstream of a version: the runs that
    produced it; ``depth=2``: also the versions those runs used), None means no
    limit.
    """

    def __init__(self, graph: nx.DiGraph, root: str | None = None, direction: str = "both",
                 project: str | None = None) -> None:
        if root is not None and root not in graph:
            raise UsageError(f"node '{root}' is not in the lineage graph")
        if direction not in DIRECTIONS:
            raise UsageError(f"invalid direction '{direction}'", hint="use one of: " + ", ".join(DIRECTIONS))
        self.graph = graph
        self.root = root
        self.direction = direction
        #: The project whose names are shown without a ``project/`` prefix.
        if project is None and root is not None:
            project = graph.nodes[root].get("project")
        elif project is None:
            projects = {d.get("project") for _, d in graph.nodes(data=True)}
            project = projects.pop() if len(projects) == 1 else None
        self.project = project

    def __repr__(self) -> str:
        return (f"<Lineage {self.direction} of {self.root or 'everything'}: "
                f"{self.graph.number_of_nodes()} nodes, {self.graph.number_of_edges()} edges>")

    def __len__(self) -> int:
        return self.graph.number_of_nodes()

    def __contains__(self, node: object) -> bool:
        return node in self.graph

    def nodes(self, kind: str | None = None) -> list[str]:
        """Node ids, sorted; only runs (``kind="run"``) or versions (``"artifact"``) when given."""
        return sorted(n for n, d in self.graph.nodes(data=True) if kind is None or d.get("kind") == kind)

    def edges(self) -> list[tuple[str, str, str]]:
        """``(from, to, label)`` for every edge, sorted."""
        return sorted((a, b, d.get("label", "")) for a, b, d in self.graph.edges(data=True))

    # -- queries ------------------------------------------------------------------------------------

    def _start(self, node: str | None) -> str:
        node = node if node is not None else self.root
        if node is None:
            raise UsageError("no node given, and this lineage has no root")
        if node not in self.graph:
            raise UsageError(f"node '{node}' is not in the lineage graph")
        return node

    def _sub(self, nodes: Iterable[str], root: str, direction: str) -> "Lineage":
        return Lineage(self.graph.subgraph(nodes).copy(), root, direction, self.project)

    def upstream(self, node: str | None = None, depth: int | None = None) -> "Lineage":
        """What ``node`` (default: the root) came from: the runs and versions before it."""
        start = self._start(node)
        return self._sub(_walk(self.graph, start, _check_depth(depth), up=True), start, "upstream")

    def downstream(self, node: str | None = None, depth: int | None = None) -> "Lineage":
        """What came from ``node`` (default: the root): the runs and versions after it."""
        start = self._start(node)
        return self._sub(_walk(self.graph, start, _check_depth(depth), up=False), start, "downstream")

    def both(self, node: str | None = None, depth: int | None = None) -> "Lineage":
        """Upstream and downstream of ``node`` together (not siblings: a version's other consumers'
        outputs are in only when they are downstream of it)."""
        start = self._start(node)
        depth = _check_depth(depth)
        nodes = set(_walk(self.graph, start, depth, up=True)) | set(_walk(self.graph, start, depth, up=False))
        return self._sub(nodes, start, "both")

    def around(self, node: str | None = None, direction: str = "both", depth: int | None = None) -> "Lineage":
        """:meth:`upstream`, :meth:`downstream` or :meth:`both` by name."""
        if direction not in DIRECTIONS:
            raise UsageError(f"invalid direction '{direction}'", hint="use one of: " + ", ".join(DIRECTIONS))
        return getattr(self, direction)(node, depth)

    def impact(self, node: str | None = None, type: str | None = None) -> list[str]:
        """The artifact versions made, directly or not, from ``node`` (default: the root), itself left
        out; only those of ``type`` (e.g. ``"model"``) when given. Sorted node ids."""
        start = self._start(node)
        out = []
        for n in _walk(self.graph, start, None, up=False):
            d = self.graph.nodes[n]
            if n != start and d.get("kind") == "artifact" and (type is None or d.get("type") == type):
                out.append(n)
        return sorted(out)

    # -- labels -------------------------------------------------------------------------------------

    def label(self, node: str) -> str:
        """A short name for people: ``data:v0`` (``proj/data:v0`` from another project),
        ``run train (k3j2h1g0)``."""
        d = self.graph.nodes[node]
        prefix = "" if d.get("project") == self.project else f"{d.get('project')}/"
        if d.get("kind") == "artifact":
            return f"{prefix}{d['name']}:{d['version']}"
        name, rid = d.get("name"), d.get("id")
        return f"run {prefix}{name} ({rid})" if name and name != rid else f"run {prefix}{rid}"

    def _detail(self, node: str) -> str:
        d = self.graph.nodes[node]
        if d.get("missing"):
            return "not in the index"
        if d.get("kind") == "artifact":
            parts = [d.get("type") or ""]
            aliases = d.get("aliases") or []
            if aliases:
                parts.append(", ".join(aliases))
            return "; ".join(p for p in parts if p)
        return ", ".join(p for p in (d.get("state"), d.get("job_type")) if p)

    # -- exports ------------------------------------------------------------------------------------

    def export(self, fmt: str) -> str:
        """The graph as text in ``fmt``: one of :data:`FORMATS`."""
        if fmt == "json":
            return json.dumps(self.to_json(), indent=2, sort_keys=True)
        if fmt not in FORMATS:
            raise UsageError(f"unknown format '{fmt}'", hint="use one of: " + ", ".join(FORMATS))
        return getattr(self, f"to_{fmt}")()

    def to_json(self) -> dict[str, Any]:
        """networkx node-link data (``nodes``, ``edges``, ``graph`` with ``root`` and
        ``direction``); ``networkx.node_link_graph(data, edges="edges")`` reads it back."""
        data = nx.node_link_data(self.graph, edges="edges")
        data["graph"] = {**data.get("graph", {}), "direction": self.direction}
        if self.root is not None:
            data["graph"]["root"] = self.root
        return data

    def to_graphml(self) -> str:
        """GraphML (``aliases`` joined with commas; attributes that are None left out).
        ``networkx.read_graphml`` reads it back. Written directly (networkx's writer takes
        about a second for 10,000 nodes)."""
        nodes = [(n, _graphml_attrs(d)) for n, d in self.graph.nodes(data=True)]
        edges = [(a, b, _graphml_attrs(d)) for a, b, d in self.graph.edges(data=True)]
        graph_attrs = {"direction": self.direction, **({"root": self.root} if self.root is not None else {})}
        keys: dict[tuple[str, str], str] = {}
        for domain, rows in (("graph", [graph_attrs]), ("node", [d for _, d in nodes]),
                             ("edge", [d for _, _, d in edges])):
            for d in rows:
                for k, v in d.items():
                    t = _graphml_type(v)
                    known = keys.get((domain, k))
                    keys[(domain, k)] = t if known in (None, t) else "string"
        ids = {key: f"d{i}" for i, key in enumerate(sorted(keys))}
        out = ['<?xml version="1.0" encoding="utf-8"?>',
               '<graphml xmlns="http://graphml.graphdrawing.org/xmlns" '
               'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
               'xsi:schemaLocation="http://graphml.graphdrawing.org/xmlns '
               'http://graphml.graphdrawing.org/xmlns/1.0/graphml.xsd">']
        for (domain, k), kid in ids.items():
            out.append(f'  <key id="{kid}" for="{domain}" attr.name={_xml_attr(k)} attr.type="{keys[(domain, k)]}" />')
        out.append('  <graph edgedefault="directed">')

        def data(domain: str, d: dict[str, Any], indent: str) -> None:
            for k, v in d.items():
                out.append(f'{indent}<data key="{ids[(domain, k)]}">{_xml_text(_graphml_value(v))}</data>')

        data("graph", graph_attrs, "    ")
        for n, d in nodes:
            if d:
                out.append(f"    <node id={_xml_attr(n)}>")
                data("node", d, "      ")
                out.append("    </node>")
            else:
                out.append(f"    <node id={_xml_attr(n)} />")
        for a, b, d in edges:
            out.append(f"    <edge source={_xml_attr(a)} target={_xml_attr(b)}>")
            data("edge", d, "      ")
            out.append("    </edge>")
        out.append("  </graph>")
        out.append("</graphml>")
        return "\n".join(out) + "\n"

    def to_dot(self) -> str:
        """Graphviz DOT: ``dot -Tsvg`` draws it. Runs are ellipses, versions boxes."""
        lines = ["digraph lineage {", "  rankdir=LR;", '  node [fontname="Helvetica"];',
                 '  edge [fontname="Helvetica", fontsize=10];']
        for n in self.nodes():
            d = self.graph.nodes[n]
            detail = self._detail(n)
            label = self.label(n) + (f"\n{detail}" if detail else "")
            shape = "box" if d.get("kind") == "artifact" else "ellipse"
            extra = ', style="dashed"' if d.get("missing") else (', style="bold"' if n == self.root else "")
            lines.append(f"  {_dot_id(n)} [label={_dot_id(label)}, shape={shape}{extra}];")
        for a, b, label in self.edges():
            lines.append(f"  {_dot_id(a)} -> {_dot_id(b)} [label={_dot_id(label)}];")
        lines.append("}")
        return "\n".join(lines) + "\n"

    def mermaid_ids(self) -> dict[str, str]:
        """``{node id: mermaid id}``: ``n0``, ``n1``... in sorted node order (always safe in mermaid)."""
        return {n: f"n{i}" for i, n in enumerate(self.nodes())}

    def to_mermaid(self) -> str:
        """A ``flowchart LR`` block for GitHub markdown (put it in a ```` ```mermaid ```` fence).
        Versions are rectangles, runs rounded; labels are quoted."""
        ids = self.mermaid_ids()
        lines = ["flowchart LR"]
        runs, missing = [], []
        for n, mid in ids.items():
            d = self.graph.nodes[n]
            detail = self._detail(n)
            label = _mermaid_text(self.label(n)) + (f"<br/>{_mermaid_text(detail)}" if detail else "")
            if d.get("kind") == "run":
                lines.append(f'  {mid}("{label}")')
                runs.append(mid)
            else:
                lines.append(f'  {mid}["{label}"]')
            if d.get("missing"):
                missing.append(mid)
        for a, b, label in self.edges():
            lines.append(f"  {ids[a]} -->|{label}| {ids[b]}")
        lines.append("  classDef run fill:#e8f0fe,stroke:#4a6fa5")
        lines.append("  classDef missing stroke-dasharray:4 3")
        if runs:
            lines.append(f"  class {','.join(runs)} run")
        if missing:
            lines.append(f"  class {','.join(missing)} missing")
        if self.root is not None:
            lines.append(f"  style {ids[self.root]} stroke-width:3px")
        return "\n".join(lines) + "\n"

    def to_text(self) -> str:
        """A tree for the terminal: the root, then what it came from (upstream) and what came
        from it (downstream). A node reached twice is shown again as ``(see above)``; a graph
        without a root shows a tree downstream of each node that has no inputs."""
        out: list[str] = []
        if self.root is None:
            starts = [n for n in self.nodes() if self.graph.in_degree(n) == 0] or self.nodes()[:1]
            seen: set[str] = set()
            for s in starts:
                self._tree(out, s, up=False, seen=seen)
            return "\n".join(out) + ("\n" if out else "")
        out.append(self._line(self.root))
        if self.direction in ("upstream", "both"):
            if self.direction == "both":
                out.append("upstream:" if self.graph.pred[self.root] else "upstream: nothing")
            self._children(out, self.root, up=True)
        if self.direction in ("downstream", "both"):
            if self.direction == "both":
                out.append("downstream:" if self.graph.succ[self.root] else "downstream: nothing")
            self._children(out, self.root, up=False)
        return "\n".join(out) + "\n"

    def _line(self, node: str) -> str:
        detail = self._detail(node)
        return self.label(node) + (f"  [{detail}]" if detail else "")

    def _verb(self, parent: str, child: str, up: bool) -> str:
        if up:  # child -> parent
            label = self.graph.edges[child, parent].get("label")
            return "produced by" if label == PRODUCED else "linked from" if label == LINKED else "used"
        label = self.graph.edges[parent, child].get("label")
        return "used by" if label == USED else "linked as" if label == LINKED else "produced"

    def _tree(self, out: list[str], start: str, up: bool, seen: set[str]) -> None:
        out.append(self._line(start))
        seen.add(start)
        self._children(out, start, up, seen)

    def _children(self, out: list[str], start: str, up: bool, seen: set[str] | None = None) -> None:
        seen = {start} if seen is None else seen
        adj = self.graph.pred if up else self.graph.succ
        # an explicit stack (chains may be longer than Python's recursion limit)
        stack: list[tuple[str, str, str]] = [(start, c, "") for c in reversed(sorted(adj[start]))]
        last: dict[tuple[str, str], bool] = {}
        kids = sorted(adj[start])
        if kids:
            last[(start, kids[-1])] = True
        while stack:
            parent, node, indent = stack.pop()
            is_last = last.get((parent, node), False)
            branch = "└── " if is_last else "├── "
            verb = self._verb(parent, node, up)
            if node in seen:
                out.append(f"{indent}{branch}{verb} {self.label(node)}  (see above)")
                continue
            seen.add(node)
            out.append(f"{indent}{branch}{verb} {self._line(node)}")
            sub = sorted(adj[node])
            if sub:
                last[(node, sub[-1])] = True
            child_indent = indent + ("    " if is_last else "│   ")
            stack.extend((node, c, child_indent) for c in reversed(sub))


def _graphml_attrs(d: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in d.items():
        if v is None:
            continue
        if isinstance(v, (list, tuple)):
            v = ",".join(str(x) for x in v)
        out[k] = v
    return out


def _graphml_type(v: Any) -> str:
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "long"
    if isinstance(v, float):
        return "double"
    return "string"


def _graphml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


_XML_TEXT = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
_XML_ATTR = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\n": "&#10;", "\r": "&#13;",
                           "\t": "&#9;"})


def _xml_text(text: str) -> str:
    return text.translate(_XML_TEXT)


def _xml_attr(text: str) -> str:
    return '"' + text.translate(_XML_ATTR) + '"'


def _dot_id(text: str) -> str:
    """A DOT quoted string: backslashes and quotes escaped, newlines as ``\\n``."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\r", "").replace("\n", "\\n") + '"'


def _mermaid_text(text: str) -> str:
    """Text safe inside a quoted mermaid label: quotes and markup characters as entity codes."""
    return (text.replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")
            .replace("\n", " "))
