"""The ``art`` commands without their code: ``{name: (module under arty.cli, one-line help)}``
(``None``: a hidden command), so that ``art --help`` lists them and ``art COMMAND`` loads
only the module of COMMAND.

Written by ``python -m arty.cli.docs`` from the commands: do not edit; a test checks it is current.
"""

from __future__ import annotations

COMMANDS: dict[str, tuple[str, str | None]] = {
    'add': ('artifacts', 'Log PATHs as a new version of an artifact (or find the version that has them).'),
    'agent': ('sweeps', "Run trials of a sweep: claim one in the store, run the sweep's program with its params, record the result; repeat."),
    'alias': ('registry', 'Point ALIAS at NAME:VERSION; --delete NAME ALIAS removes it.'),
    'automation': ('automations', 'Automations: a webhook or a command on an event (version, alias, run, alert).'),
    'cat': ('artifacts', 'Write the bytes of one file of a version (NAME:VERSION/PATH) to stdout, verified first: nothing is written unless the whole file matches its digest.'),
    'checkout': ('workspace', 'Make folders hold exactly a version: fetch missing and modified files, remove the others.'),
    'diff': ('artifacts', 'Files added, removed and changed from version A to version B, or to a folder.'),
    'du': ('retention', "Storage used per project, artifact and version: logical bytes (the files' sizes), unique bytes (what deleting it would free, dedup counted) and shared bytes (also used elsewhere)."),
    'exp': ('experiments', "Experiments: each 'art repro' is one, with its params and every step's metrics."),
    'gc': ('artifacts', 'Delete the versions retention policies and TTLs select, then remove blobs that no version or run references, that no writer at work may own, and that are older than the grace period.'),
    'get': ('artifacts', 'Download a version (or part of it) into a new or empty folder, verifying every file.'),
    'index': ('runs', 'The SQLite index of the store (a cache: rebuildable from the store at any time).'),
    'init': ('artifacts', 'Create a store: at URL (or --store / ARTY_STORE), else ./.arty.'),
    'lineage': ('lineage', 'The runs and artifact versions upstream and downstream of an artifact version or a run.'),
    'link': ('registry', "Link a version into a registry's collection (default registry: 'registry'); copies no bytes."),
    'login': ('login', 'Save an API key for the art server at URL (checked against it first).'),
    'logout': ('login', 'Forget the API key saved for URL (every saved key without URL).'),
    'ls': ('artifacts', 'List artifacts, or the versions of NAME with aliases, size, files and date.'),
    'metrics': ('experiments', 'Metrics (summaries) of experiments and runs.'),
    'params': ('experiments', 'Params of experiments and runs.'),
    'plots': ('plots', 'Compare the plots of runs and experiments (history series and chart tables).'),
    'pull': ('transfer', 'Copy NAME (every version) or NAME:VERSION from the store at URL into the current store.'),
    'push': ('transfer', 'Copy NAME (every version) or NAME:VERSION from the current store to the store at URL.'),
    'registry': ('registry', 'Registries: collections of versions linked from any project, with their own aliases.'),
    'repro': ('pipeline', "Run the pipeline's STEPS (default: all) and the steps they depend on, skipping unchanged ones."),
    'retention': ('retention', "Retention policies: which versions 'art gc' deletes (keep the last N, keep younger than D days)."),
    'rm': ('artifacts', "Delete version REF (NAME:VERSION): recorded, hidden from latest and ls; 'art gc' frees its blobs."),
    'run': ('runs', 'Run a command as a tracked run (art run [OPTIONS] -- CMD ARGS...), or show runs (art run show|logs).'),
    'runs': ('runs', "List the runs of PROJECT (default: the current project), filtered and sorted; 'art runs diff A B' compares two."),
    'server': ('server', 'Serve the web UI and its JSON API (/api, spec at /openapi.json, docs at /docs).'),
    'show': ('artifacts', 'Show one version: digest, metadata, aliases and its files (paged).'),
    'status': ('workspace', 'Which folders recorded in arty.lock differ from their version: files added, removed, modified.'),
    'sweep': ('sweeps', "Create a sweep from a W&B-style sweep configuration (YAML) and print its id; 'art sweep show ID' shows its trials."),
    'sweeps': ('sweeps', 'List the sweeps of a project: method, metric, trials by state, best value.'),
    'sync': ('tracking', 'Upload local run records that are not in the store yet (offline runs, outages).'),
    'ttl': ('retention', "Give a version a TTL (30d, 12h, 2w), counted from when it was logged: 'art gc' deletes it once passed. none (or inherit): no TTL of its own, the retention policy decides."),
    'verify': ('artifacts', 'Re-hash objects and check records: of REF (NAME or NAME:VERSION), else of the whole store.'),
    'watch': ('automations', 'Run COMMAND (after --) each time EVENT happens in the project, with the event as JSON in ARTY_EVENT; without a command, print each event as a JSON line.'),
}
