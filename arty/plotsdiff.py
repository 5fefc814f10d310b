"""``art plots diff A B``: the plots of two runs, or of two experiments, on one static HTML page.

A side is a run (an id, ``project/id``, or a name only one run has) or an experiment: the runs
whose record carries ``"experiment": ID``. What a side plots is what the run page draws: every
numeric history key (a line over the step) and every table logged with a chart spec (the plots
files of pipeline steps, :mod:`arty.plot` charts), the last one logged under its key. Plots are
matched by key (by ``STEP/KEY``, the run's name first, when a side has several runs): one figure
per plot, one trace per side (and per line of a chart), so A and B are drawn over each other;
confusion matrices side by side.

The page is self-contained: plotly.js is read from the installed ``plotly`` package and inlined,
so it opens without a network (a CI artifact). Layer: above the query API (:mod:`arty.api`).
"""

from __future__ import annotations

import fnmatch
import html
import json
import math
from dataclasses import dataclass, field
from typing import Any, Iterable

from arty.api import Api, ApiRun
from arty.errors import MissingExtra, NotFound

#: Trace colours of side A and side B (plotly's first two), and of the lines within a side's chart.
SIDE_COLORS = ("#1f77b4", "#ff7f0e")
DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")


@dataclass
class Side:
    """One side of the comparison: its label and its runs."""

    label: str
    runs: list[ApiRun]
    experiment: str | None = None


@dataclass
class Figure:
    """One plot to compare: a title, its plotly traces and layout, and which sides have it."""

    key: str
    traces: list[dict[str, Any]] = field(default_factory=list)
    layout: dict[str, Any] = field(default_factory=dict)
    sides: list[str] = field(default_factory=list)


def experiment_of(api: Api, run: ApiRun) -> str | None:
    """The experiment id in ``run``'s record (None when it has none)."""
    if "experiment" in run._row:
        value = run._row.get("experiment")
    else:
        rec = api.store.try_record(f"projects/{run.project}/runs/{run.id}/run.json") or {}
        value = rec.get("experiment")
    return str(value) if value not in (None, "") else None


def resolve(api: Api, ref: str) -> Side:
    """``ref`` as a run, else as an experiment of the Api's project; :class:`NotFound` naming it."""
    try:
        run = api.run(ref)
    except NotFound:
        pass
    else:
        return Side(f"{run.name} ({run.id})" if run.name and run.name != run.id else run.id, [run])
    runs = [r for r in api.runs() if experiment_of(api, r) == ref]
    if not runs:
        raise NotFound(f"no run or experiment '{ref}' in project '{api.default_project}'",
                       hint="'art runs' lists runs; an experiment is the id its runs carry in 'experiment'")
    runs.sort(key=lambda r: (r.created_at or "", r.id))
    return Side(ref, runs, experiment=ref)


def _numeric(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _plots_of(run: ApiRun) -> tuple[dict[str, tuple[list[int], list[float]]], dict[str, dict[str, Any]]]:
    """``(series, charts)`` of a run: history key -> (steps, values); chart key -> its last table value."""
    series: dict[str, tuple[list[int], list[float]]] = {}
    charts: dict[str, dict[str, Any]] = {}
    for row in run.scan_history():
        step = row.get("_step")
        for k, v in row.items():
            if k.startswith("_"):
                continue
            if _numeric(v):
                xs, ys = series.setdefault(k, ([], []))
                xs.append(step)
                ys.append(v)
            elif isinstance(v, dict) and v.get("_type") == "table" and isinstance(v.get("chart"), dict):
                charts[k] = v
    return series, charts


def _match(key: str, patterns: list[str]) -> bool:
    return not patterns or any(fnmatch.fnmatchcase(key, p) for p in patterns)


def _chart_traces(spec: dict[str, Any], columns: list[str], rows: list[list[Any]], side: str, color: str,
                  pos: int) -> list[dict[str, Any]]:
    """Plotly traces of one side's chart table (the same kinds the UI draws)."""
    col = {c: i for i, c in enumerate(columns)}
    kind = spec.get("kind")
    get = (lambda name: [r[col[name]] for r in rows]) if rows else (lambda name: [])
    if kind in ("line", "scatter", "pr_curve", "roc_curve"):
        mode = "markers" if kind == "scatter" else "lines"
        x = spec.get("x")
        stroke = spec.get("stroke")
        if stroke in col:
            groups: dict[str, list[list[Any]]] = {}
            for r in rows:
                groups.setdefault(str(r[col[stroke]]), []).append(r)
            return [{"type": "scatter", "mode": mode, "name": f"{side}: {g}", "legendgroup": side,
                     "x": [r[col[x]] for r in grows], "y": [r[col[spec['y']]] for r in grows],
                     "line": {"color": color, "dash": DASHES[i % len(DASHES)]}, "marker": {"color": color}}
                    for i, (g, grows) in enumerate(groups.items())]
        ys = spec.get("ys") or [spec.get("y")]
        return [{"type": "scatter", "mode": mode, "name": f"{side}: {y}" if len(ys) > 1 else side, "legendgroup": side,
                 "x": get(x), "y": get(y), "line": {"color": color, "dash": DASHES[i % len(DASHES)]},
                 "marker": {"color": color, "symbol": i}} for i, y in enumerate(ys) if y in col]
    if kind == "bar":
        return [{"type": "bar", "name": side, "x": [str(v) for v in get(spec["label"])], "y": get(spec["value"]),
                 "marker": {"color": color}}]
    if kind == "histogram":
        return [{"type": "histogram", "name": side, "x": get(spec["value"]), "opacity": 0.6,
                 "marker": {"color": color}}]
    if kind == "confusion_matrix":
        classes = [str(c) for c in spec.get("classes") or sorted({str(v) for v in get(spec["y"])})]
        at = {c: i for i, c in enumerate(classes)}
        z = [[0.0] * len(classes) for _ in classes]
        for r in rows:
            i, j = at.get(str(r[col[spec["y"]]])), at.get(str(r[col[spec["x"]]]))
            if i is not None and j is not None:
                z[i][j] += float(r[col[spec["value"]]] or 0)
        suffix = "" if pos == 0 else str(pos + 1)
        return [{"type": "heatmap", "name": side, "x": classes, "y": classes, "z": z, "colorscale": "Blues",
                 "reversescale": True,
                 "texttemplate": "%{z}", "showscale": False, "xaxis": "x" + suffix, "yaxis": "y" + suffix,
                 "hovertemplate": f"{html.escape(side)}<br>actual %{{y}}<br>predicted %{{x}}<br>%{{z}}<extra></extra>"}]
    return []


def build(api: Api, a: Side, b: Side, keys: Iterable[str] = ()) -> list[Figure]:
    """The figures comparing ``a`` and ``b`` (only the plot keys matching a glob of ``keys``, if any)."""
    patterns = list(keys)
    prefixed = len(a.runs) > 1 or len(b.runs) > 1
    figures: dict[str, Figure] = {}
    for pos, side in enumerate((a, b)):
        color = SIDE_COLORS[pos]
        for run in side.runs:
            series, charts = _plots_of(run)
            name = (lambda k: f"{run.name}/{k}") if prefixed else (lambda k: k)
            for k, (xs, ys) in sorted(series.items()):
                fk = name(k)
                if not _match(fk, patterns):
                    continue
                fig = figures.setdefault(fk, Figure(fk, layout={"xaxis": {"title": {"text": "step"}},
                                                                "yaxis": {"title": {"text": k}}}))
                fig.traces.append({"type": "scatter", "mode": "lines+markers" if len(xs) < 30 else "lines",
                                   "name": side.label, "x": xs, "y": ys, "line": {"color": color}})
                fig.sides.append(side.label)
            for k, value in sorted(charts.items()):
                fk = name(k)
                if not _match(fk, patterns):
                    continue
                spec = value["chart"]
                table = run.table(value)
                fig = figures.setdefault(fk, Figure(fk))
                fig.traces += _chart_traces(spec, list(table.columns), [list(r) for r in table.data], side.label,
                                            color, pos)
                fig.sides.append(side.label)
                if spec.get("kind") == "confusion_matrix":
                    fig.layout.update({
                        "xaxis": {"domain": [0, 0.46], "title": {"text": f"{a.label}: predicted"}},
                        "yaxis": {"autorange": "reversed", "title": {"text": "actual"}},
                        "xaxis2": {"domain": [0.54, 1], "anchor": "y2", "title": {"text": f"{b.label}: predicted"}},
                        "yaxis2": {"anchor": "x2", "autorange": "reversed"}})
                else:
                    fig.layout.setdefault("xaxis", {"title": {"text": spec.get("xname") or spec.get("x")
                                                              or spec.get("label") or ""}})
                    fig.layout.setdefault("yaxis", {"title": {"text": spec.get("y") or spec.get("value") or ""}})
                    if spec.get("title"):
                        fig.layout["title"] = {"text": spec["title"]}
    return [figures[k] for k in sorted(figures)]


def plotly_js() -> str:
    """plotly.js from the installed ``plotly`` package (never a CDN)."""
    try:
        from plotly.offline import get_plotlyjs
    except ImportError:
        raise MissingExtra("plotly is not installed", hint="pip install 'arty[server]' installs it") from None
    return get_plotlyjs()


def _finite(obj: Any) -> Any:
    """``obj`` with NaN and infinite floats as None (JSON has no token for them)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def _script_json(obj: Any) -> str:
    """JSON that ``JSON.parse`` reads and that is safe inside a <script> element."""
    text = json.dumps(_finite(obj), separators=(",", ":"), default=str, allow_nan=False)
    return text.replace("<", "\\u003c")  # no "</script>" or "<!--" can end or change the element


def render(a: Side, b: Side, figures: list[Figure], project: str) -> str:
    """The HTML page: a header naming the sides and their runs, then one chart per figure."""
    def side_html(side: Side, color: str) -> str:
        runs = ", ".join(f"{html.escape(r.name or r.id)} <code>{html.escape(r.id)}</code>" for r in side.runs)
        kind = "experiment" if side.experiment else "run"
        return (f'<li><span class="sw" style="background:{color}"></span><b>{html.escape(side.label)}</b> '
                f'({kind}; {len(side.runs)} run{"s" if len(side.runs) != 1 else ""}: {runs})</li>')

    both = sum(1 for f in figures if len(set(f.sides)) > 1)
    divs = []
    for i, f in enumerate(figures):
        only = sorted(set(f.sides))
        note = "" if len(only) > 1 else f' <span class="muted">(only in {html.escape(only[0])})</span>'
        divs.append(f'<section><h2>{html.escape(f.key)}{note}</h2><div class="fig" id="fig-{i}" '
                    f'data-key="{html.escape(f.key, quote=True)}"></div></section>')
    data = [{"id": f"fig-{i}", "traces": f.traces, "layout": f.layout} for i, f in enumerate(figures)]
    title = f"plots: {a.label} vs {b.label}"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>
body {{ font: 14px system-ui, sans-serif; margin: 24px; color: #1d2330; }}
h1 {{ font-size: 20px; }} h2 {{ font-size: 15px; margin: 18px 0 4px; }}
.muted {{ color: #6b7280; font-weight: normal; }} .sw {{ display: inline-block; width: 10px; height: 10px;
 border-radius: 2px; margin-right: 6px; }} .fig {{ height: 340px; }} code {{ font-size: 12px; }}
</style>
<script>{plotly_js()}</script>
</head><body>
<h1>{html.escape(title)}</h1>
<p class="muted">project {html.escape(project)}: {len(figures)} plots, {both} in both.</p>
<ul>{side_html(a, SIDE_COLORS[0])}{side_html(b, SIDE_COLORS[1])}</ul>
{''.join(divs) or '<p>Neither side has plots.</p>'}
<script id="figures" type="application/json">{_script_json(data)}</script>
<script>
for (const f of JSON.parse(document.getElementById("figures").textContent)) {{
  Plotly.newPlot(f.id, f.traces, Object.assign({{margin: {{l: 60, r: 20, t: 30, b: 50}}, legend: {{orientation: "h"}}}},
    f.layout), {{responsive: true, displaylogo: false}});
}}
</script>
</body></html>
"""


def plots_diff(api: Api, ref_a: str, ref_b: str, keys: Iterable[str] = ()) -> tuple[str, Side, Side, list[Figure]]:
    """Resolve both sides, build the figures and render the page: ``(html, a, b, figures)``."""
    a, b = resolve(api, ref_a), resolve(api, ref_b)
    figures = build(api, a, b, keys)
    return render(a, b, figures, api.default_project), a, b, figures
