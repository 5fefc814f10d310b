"""Lineage export speed: a synthetic 10,000-node graph in every format.

    python benchmarks/bench_lineage.py [--nodes N] [--repeat K]

Builds a lineage graph shaped like the one ``arty.lineage.build_graph`` makes
(half runs, half artifact versions; each run uses one to three earlier
versions and produces one new version, so the graph is a deep, branching DAG)
straight as a networkx graph, wraps it in :class:`arty.lineage.Lineage`, and
prints, best of K (default 5): each export of the whole graph (text, json —
node-link data serialised with ``json.dumps`` —, graphml, dot, mermaid), an
upstream and a downstream query from the middle of the graph, and an impact
query from the first version.

Target (issue 4): export of a 10,000-node graph under 1 s. Not a test: run it by hand.
"""

from __future__ import annotations

import argparse
import random
import time

import networkx as nx

from arty.lineage import Lineage, artifact_node, run_node

TYPES = ("dataset", "model", "report")


def synthetic(nodes: int, seed: int = 0) -> nx.DiGraph:
    rng = random.Random(seed)
    g = nx.DiGraph()
    versions: list[str] = []
    for i in range(nodes // 2):
        name = f"art{i % 50}"
        v = artifact_node("bench", name, i // 50)
        g.add_node(v, kind="artifact", project="bench", name=name, version=i // 50, type=TYPES[i % 3],
                   digest=f"xxh128:{rng.getrandbits(128):032x}", aliases=["latest"] if i % 7 == 0 else [],
                   created_at="2026-11-27T15:40:41.000Z")
        r = run_node("bench", f"r{i:07d}")
        g.add_node(r, kind="run", project="bench", id=f"r{i:07d}", name=f"step-{i % 10}", state="finished",
                   job_type="train", created_at="2026-11-27T15:40:41.000Z")
        for src in rng.sample(versions[-200:], min(len(versions), rng.randint(1, 3))):
            g.add_edge(src, r, label="used")
        g.add_edge(r, v, label="produced", created=True)
        versions.append(v)
    return g


def best(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    t = time.perf_counter()
    g = synthetic(args.nodes)
    print(f"graph: {g.number_of_nodes():,} nodes, {g.number_of_edges():,} edges "
          f"(built in {time.perf_counter() - t:.2f} s)")
    lin = Lineage(g)
    for fmt in ("text", "json", "graphml", "dot", "mermaid"):
        s, out = best(lambda: lin.export(fmt), args.repeat)
        mark = "ok" if s < 1 else "OVER 1 s"
        print(f"export {fmt:8s} {s * 1000:8.1f} ms  {len(out) / 1e6:6.2f} MB  {mark}")
    middle = sorted(n for n in g if n.startswith("artifact:"))[len(g) // 4]
    s, up = best(lambda: lin.upstream(middle), args.repeat)
    print(f"upstream   {s * 1000:8.1f} ms  ({len(up):,} nodes)")
    s, down = best(lambda: lin.downstream(middle), args.repeat)
    print(f"downstream {s * 1000:8.1f} ms  ({len(down):,} nodes)")
    first = artifact_node("bench", "art0", 0)
    s, hit = best(lambda: lin.impact(first), args.repeat)
    print(f"impact     {s * 1000:8.1f} ms  ({len(hit):,} versions)")


if __name__ == "__main__":
    main()
