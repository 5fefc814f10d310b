"""``art init/add/ls/show/get/cat/diff/verify/rm/gc``: the artifact commands (``art alias`` is in
:mod:`arty.cli.registry`)."""

from __future__ import annotations

import json
import os
import time
from typing import Any

import click

from arty.artifacts import Artifact, ArtifactRef, ArtifactVersion, Registry
from arty.cli.context import Context, json_option, pass_ctx
from arty.artifacts.lockfile import LOCK_NAME
from arty.artifacts.workspace import FolderHasher, compare, resolve_locked
from arty.cli.render import echo_json, human_size, plural, progress_bar, table
from arty.cli.workspace import find_lock, locked_entry, record_folder
from arty.errors import BadRecord, IntegrityError, NotFound, UsageError
from arty.settings import DOT_DIR, POINTER, check_project
from arty.store import init_store, layout, now_iso
from arty.store.layout import ADD_JOB_TYPE
from arty.store.records import warn_skipped



@click.command("init")
@click.argument("url", required=False)
@click.option("--project", "default_project", metavar="NAME", help="Default project recorded in the store.")
@click.option("--hash", "algorithm", default="xxh128", show_default=True,
              type=click.Choice(["xxh128", "sha256", "blake3"]), help="Digest algorithm of a new store.")
@json_option
@pass_ctx
def init_cmd(ctx: Context, url: str | None, default_project: str | None, algorithm: str, as_json: bool) -> None:
    """Create a store: at URL (or --store / ARTY_STORE), else ./.arty.

    A store elsewhere than ./.arty is recorded in ./.arty/config.json, so that
    commands run under this folder use it.
    """
    from arty.artifacts.names import check_name
    from arty.hashing import new_hasher

    if default_project:
        check_name(default_project, "project")
    new_hasher(algorithm)  # a missing optional package fails here, before anything is created
    here = os.path.join(os.getcwd(), DOT_DIR)
    target = url or ctx.store_url or here
    elsewhere = "://" in target or os.path.abspath(target) != here
    if elsewhere and os.path.exists(os.path.join(here, layout.STORE_JSON)):
        raise UsageError(f"'{here}' is already a local store",
                         hint="use --store URL (or ARTY_STORE) to work with another store")
    store, created = init_store(target, algorithm=algorithm, default_project=default_project)
    pointer = None
    if elsewhere:
        os.makedirs(here, exist_ok=True)
        pointer = os.path.join(here, POINTER)
        with open(pointer, "w", encoding="utf-8") as f:
            json.dump({"store": store.url}, f)
    if as_json:
        echo_json({"store": store.url, "created": created, "hash": store.algorithm, "pointer": pointer})
        return
    click.echo(f"{'created' if created else 'found existing'} store at {store.url} (hash {store.algorithm})")
    if pointer:
        click.echo(f"commands run under {os.getcwd()} now use it ({pointer})")


def _parse_metadata(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"invalid --metadata '{text}': {exc}", hint='pass a JSON object, e.g. \'{"source": "x"}\'') \
            from None
    if not isinstance(value, dict):
        raise UsageError(f"invalid --metadata '{text}': not a JSON object", hint='e.g. \'{"source": "x"}\'')
    return value


def _parse_ttl(ttl: str | None, aliases: tuple[str, ...]) -> int | None:
    """``--ttl`` in seconds, checked before anything is logged (None: not given)."""
    if ttl is None or ttl.lower() in ("none", "inherit"):
        return None
    from arty.artifacts.retention import parse_duration

    seconds = parse_duration(ttl)
    if seconds <= 0:
        raise UsageError(f"invalid --ttl '{ttl}': it would be past as soon as the version is logged",
                         hint="give a duration above 0, e.g. --ttl 30d")
    if aliases:
        raise UsageError("--ttl cannot go with --alias: a version an alias points at is never deleted",
                         hint="give one or the other")
    return seconds


@click.command("add")
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--type", "type_", help="Artifact type, e.g. dataset or model (required unless --base).")
@click.option("--name", help="Artifact name. Default: the base name of the first path (with --base: the base's).")
@click.option("--alias", "aliases", multiple=True, help="Alias to point at the version (repeatable).")
@click.option("--description", help="Free-text description.")
@click.option("--metadata", help="JSON object stored with the version.")
@click.option("--ref", "refs", multiple=True, metavar="URI",
              help="Add an object or prefix by reference (recorded, not copied). Repeatable.")
@click.option("--base", "base_ref", metavar="REF",
              help="Start from version REF without downloading it: PATHs go on top of its files.")
@click.option("--remove", "removals", multiple=True, metavar="PATH",
              help="With --base: drop this file or folder of the base (repeatable).")
@click.option("--prefix", metavar="DIR", help="Put the PATHs under DIR inside the version.")
@click.option("--ttl", "ttl", metavar="DURATION",
              help="Delete the version this long after it is logged (30d, 12h, 2w; applied by 'art gc').")
@json_option
@pass_ctx
def add_cmd(ctx: Context, paths: tuple[str, ...], type_: str | None, name: str | None, aliases: tuple[str, ...],
            description: str | None, metadata: str | None, refs: tuple[str, ...], base_ref: str | None,
            removals: tuple[str, ...], prefix: str | None, ttl: str | None, as_json: bool) -> None:
    """Log PATHs as a new version of an artifact (or find the version that has them).

    One folder: its contents at the root. Several paths: each under its base name.
    With --base REF, each PATH (file or folder) is added under its base name on top
    of REF's files, --remove drops files or folders of REF, and the result is a new
    version of REF's artifact (or of --name): only the changed paths are read and
    written, whatever the size of REF.
    """
    from arty.artifacts.names import check_name, check_path

    if removals and base_ref is None:
        raise UsageError("--remove needs --base", hint="e.g. art add --base data:v3 --remove old/x.csv")
    if not paths and not refs and not removals:
        raise UsageError("nothing to add", hint="give one or more paths, or --ref URI" +
                         (", or --remove PATH" if base_ref else ""))
    if base_ref is None and type_ is None:
        raise UsageError("missing option '--type'", hint="e.g. --type dataset (or --base REF to start from a version)")
    ttl_seconds = _parse_ttl(ttl, aliases)
    under = check_path(prefix.strip("/")) if prefix is not None and prefix.strip("/") else None
    for p in paths:
        if not os.path.exists(p):
            raise NotFound(f"path '{p}' not found", hint="check the path")
    base: ArtifactVersion | None = None
    if base_ref is not None:
        base = ctx.writable_registry.resolve(base_ref)
        draft = base.new_draft()
        if name is not None:
            draft.name = check_name(name)
        if type_ is not None:
            draft.type = type_
        if description is not None:
            draft.description = description
        if metadata is not None:
            draft.metadata = _parse_metadata(metadata)
        for path in removals:
            draft.remove(path)
    else:
        if type_ is None:
            raise UsageError("missing option '--type'", hint="e.g. --type dataset (or --base REF to start from a version)")
        if name is None:
            if not paths:
                raise UsageError("--name is required with --ref", hint="e.g. art add --ref s3://b/raw --type dataset "
                                                                       "--name raw")
            name = os.path.basename(os.path.abspath(paths[0])) or "root"
        draft = Artifact(name, type=type_, description=description, metadata=_parse_metadata(metadata))
    name = draft.name
    for p in paths:
        whole = len(paths) == 1 and base is None and os.path.isdir(p)  # one folder: its contents
        leaf = None if whole else os.path.basename(os.path.abspath(p))
        at = "/".join(part for part in (under, leaf) if part) or None
        if os.path.isdir(p):
            draft.add_dir(p, at)
        else:
            draft.add_file(p, at)
    for uri in refs:
        draft.add_reference(uri, under)
    lock, folder = None, None
    # one folder, whole (not on top of a --base version): the lock file records it
    if base is None and under is None and len(paths) == 1 and not refs and os.path.isdir(paths[0]):
        lock = find_lock()  # read first: a broken arty.lock stops the add before anything is logged
        folder = os.path.abspath(paths[0])
    draft.ttl = ttl_seconds
    reg = ctx.writable_registry
    from arty.tracking.run import new_run_id, record_finished_run  # here: 'art ls' needs no run code

    run_id = new_run_id()
    started, t0 = now_iso(), time.monotonic()
    with progress_bar(f"adding {name}") as bar:
        result = reg.log(draft, aliases=aliases, progress=bar, created_by=run_id)
    v = result.version
    if result.created:  # the new version's producer in the lineage: a small finished run
        record_finished_run(reg.store, reg.project, run_id, name=f"art add {name}", job_type=ADD_JOB_TYPE,
                            config={"paths": [os.path.abspath(p) for p in paths], "refs": list(refs),
                                    "type": v.type, "aliases": list(aliases),
                                    **({"base": base.qualified_name, "remove": list(removals), "prefix": under}
                                       if base is not None else {})},
                            outputs=[v], inputs=[base] if base is not None else [], started_at=started, runtime=time.monotonic() - t0,
                            summary={"files": v.file_count, "size": v.size})
    recorded = None
    if folder is not None:
        try:
            recorded = record_folder(lock, folder, v)
        except UsageError as exc:  # a folder name the lock file cannot hold: the version stays logged
            click.echo(f"warning: {exc.message}", err=True)
    if as_json:
        out = v.to_json() | {"created": result.created, "store": reg.store.url, "lock": recorded}
        if result.diff is not None:
            out["changes"] = result.diff.to_json()
        echo_json(out)
        return
    state = "created" if result.created else "unchanged"
    click.echo(f"{v.name}  {state}  {v.digest}  {plural(v.file_count, 'file')}  {human_size(v.size)}")
    if result.diff is not None:
        click.echo(f"  changes from v{v.number - 1 if v.number else 0}: {result.diff.summary()}")
        for e in result.diff.added[:10]:
            click.echo(f"    + {e.path}")
        for e in result.diff.removed[:10]:
            click.echo(f"    - {e.path}")
        for a, _ in result.diff.changed[:10]:
            click.echo(f"    ~ {a.path}")
        more = len(result.diff.added) + len(result.diff.removed) + len(result.diff.changed) - 30
        if more > 0:
            click.echo(f"    ... and more: 'art diff {v.base_name}:v{v.number - 1} {v.name}'")
    aliases_now = [a for a in v.aliases if a != "latest"]
    if aliases_now:
        click.echo(f"  aliases: {', '.join(aliases_now)}")
    if recorded:
        click.echo(f"  recorded in {os.path.relpath(recorded)}: {lock.relative(folder)} -> {v.qualified_name}")


@click.command("ls")
@click.argument("name", required=False)
@json_option
@pass_ctx
def ls_cmd(ctx: Context, name: str | None, as_json: bool) -> None:
    """List artifacts, or the versions of NAME with aliases, size, files and date."""
    reg = ctx.registry
    if name is None:
        rows = []
        for n in reg.names():
            latest = reg.latest(n)
            if latest is None:
                continue
            rows.append({"name": n, "type": latest.type, "latest": latest.version, "versions": len(reg.versions(n)),
                         "size": latest.size, "files": latest.file_count, "updated": latest.created_at})
        if not rows:  # a mistyped --project is not an empty project
            check_project(reg.store, reg.project)
        if as_json:
            echo_json(rows)
            return
        if not rows:
            click.echo(f"no artifacts in project '{reg.project}' of store {reg.store.url}")
            return
        table([[r["name"], r["type"], r["latest"], r["versions"], human_size(r["size"]), r["files"], r["updated"]]
               for r in rows], ["NAME", "TYPE", "LATEST", "VERSIONS", "SIZE", "FILES", "UPDATED"])
        return
    ref = ArtifactRef.parse(name)
    sub = reg.in_project(ref.project)
    numbers = sub.versions(ref.name)
    if not numbers:
        raise sub.not_found(ref.name, None)
    aliases = sub.aliases(ref.name)
    by_version: dict[int, list[str]] = {}
    for a, n in aliases.items():
        by_version.setdefault(n, []).append(a)
    versions = [v for v in map(lambda n: _listed_version(sub, ref.name, n), numbers) if v is not None]
    rows = []
    for v in versions:
        al = (["latest"] if v is versions[-1] else []) + sorted(by_version.get(v.number, []))
        rows.append({"version": v.version, "qualified_name": v.name, "aliases": al, "size": v.size, "files": v.file_count,
                     "created": v.created_at, "digest": str(v.digest), "created_by": v.created_by})
    if as_json:
        echo_json(rows)
        return
    table([[r["version"], ",".join(r["aliases"]), human_size(r["size"]), r["files"], r["created"],
            r["digest"].split(":")[1][:12]] for r in rows],
          ["VERSION", "ALIASES", "SIZE", "FILES", "CREATED", "DIGEST"])


def _listed_version(reg: Registry, name: str, number: int) -> ArtifactVersion | None:
    """A version to list, or None when its record is bad (skipped with a warning naming it)."""
    try:
        return reg.version(name, number)
    except BadRecord as exc:
        warn_skipped(exc)
        return None


@click.command("show")
@click.argument("ref")
@click.option("--limit", default=50, show_default=True, help="Files to list per page (0: all).")
@click.option("--offset", default=0, show_default=True, help="Files to skip before the page.")
@json_option
@pass_ctx
def show_cmd(ctx: Context, ref: str, limit: int, offset: int, as_json: bool) -> None:
    """Show one version: digest, metadata, aliases and its files (paged). REF may name a file
    or folder inside it (NAME:VERSION/PATH): a file's entry, or the files under the folder."""
    v, path = ctx.registry.resolve_path(ref)
    if path is not None and not v.is_folder(path):
        e = v.get_entry(path).entry
        if as_json:
            echo_json({"artifact": v.name, "project": v.project, "path": e.path} | e.to_json())
            return
        click.echo(f"{v.project}/{v.name}/{e.path}")
        click.echo(f"  size:        {human_size(e.size)} ({e.size} bytes)")
        if e.is_ref:
            click.echo(f"  reference:   {e.uri}")
        if e.digest is not None:
            click.echo(f"  digest:      {e.digest}")
        return
    files = []
    total = size = 0
    for e in (v.iter_files() if path is None else v.select([path])):
        if total >= offset and (limit <= 0 or len(files) < limit):
            files.append(e)
        total += 1
        size += e.size
    if as_json:
        extra = {} if path is None else {"path": path, "path_size": size}
        echo_json(v.to_json() | extra | {"files_total": total, "offset": offset,
                                         "file_list": [e.to_json() | {"path": e.path} for e in files]})
        return
    click.echo(f"{v.project}/{v.name}")
    click.echo(f"  digest:      {v.digest}")
    click.echo(f"  type:        {v.type}")
    click.echo(f"  size:        {human_size(v.size)} in {plural(v.file_count, 'file')}")
    if path is not None:
        click.echo(f"  folder:      {path}/  {human_size(size)} in {plural(total, 'file')}")
    click.echo(f"  aliases:     {', '.join(v.aliases) or '-'}")
    click.echo(f"  created:     {v.created_at} by {v.record.get('by', '?')}"
               + (f" (run {v.created_by})" if v.created_by else ""))
    if v.description:
        click.echo(f"  description: {v.description}")
    if v.metadata:
        click.echo(f"  metadata:    {json.dumps(v.metadata, sort_keys=True)}")
    click.echo("  files:" if path is None else f"  files under {path}/:")
    for e in files:
        where = e.uri if e.is_ref else (str(e.digest.short()) if e.digest else "")
        click.echo(f"    {e.path}  {human_size(e.size)}  {where}")
    shown_to = offset + len(files)
    if shown_to < total:
        click.echo(f"    ... {total - shown_to} more (--offset {shown_to} for the next page, --limit 0 for all)")


@click.command("get")
@click.argument("ref")
@click.option("-o", "--output", "out", type=click.Path(),
              help="Target folder (default ./artifacts/NAME:vN); for one file (REF is NAME:VERSION/FILE), "
                   "the file or a folder to put it in (default ./FILE's name).")
@click.option("--path", "paths", multiple=True, metavar="PATH",
              help="Fetch only this file or folder of the version (repeatable); files keep their paths.")
@click.option("--include", "include", multiple=True, metavar="GLOB",
              help="Fetch only files whose path matches GLOB ('*' within a folder, '**' across folders; "
                   "repeatable).")
@click.option("--allow-local-refs", is_flag=True,
              help="Also fetch files added by reference to local files (file://); refused without it.")
@json_option
@pass_ctx
def get_cmd(ctx: Context, ref: str, out: str | None, paths: tuple[str, ...], include: tuple[str, ...],
            allow_local_refs: bool, as_json: bool) -> None:
    """Download a version (or part of it) into a new or empty folder, verifying every file. REF
    may name a file (NAME:VERSION/PATH: fetched to -o) or a folder inside the version. Only the
    blobs of the files chosen are read.

    A folder that is not empty is refused: 'art checkout REF DIR' makes it match a version.
    """
    from arty.artifacts.download import download_file

    v, path = ctx.registry.resolve_path(ref)
    if path is not None and (paths or include):
        raise UsageError(f"'{ref}' names a path inside the version and --path/--include choose others",
                         hint=f"give either 'art get {v.name} --path {path}' or the path in REF alone")
    if path is not None and not v.is_folder(path):
        entry = v.get_entry(path).entry
        dest = out if out is not None else os.path.basename(path)
        with progress_bar(f"downloading {v.name}/{path}", entry.size):
            action = download_file(ctx.registry.store, entry, dest, stat_cache=ctx.registry.stat_cache,
                                   allow_local_refs=allow_local_refs)
        if as_json:
            echo_json({"artifact": v.name, "digest": str(v.digest), "path": os.path.abspath(action.target),
                       "files": 1, "size": entry.size, "file": path})
            return
        click.echo(f"{v.name}/{path}  {human_size(entry.size)}  -> {action.target}")
        return
    chosen = [path] if path is not None else list(paths)
    partial = bool(chosen or include)
    size = v.size
    count = v.file_count
    if partial:  # what the selection holds, for the progress bar and the summary (reads only its nodes)
        selected = v.select(chosen, include)
        size, count = sum(e.size for e in selected), len(selected)
    target = out if out is not None else v.default_root()
    if os.path.isdir(target) and os.listdir(target):
        raise UsageError(f"cannot download into '{target}': it is not empty",
                         hint=f"'art checkout {v.name} {target}' makes it hold exactly {v.name} (removing "
                              "what the version does not have); or choose a new folder with -o DIR")
    with progress_bar(f"downloading {v.name}", size) as bar:
        root = v.download(out, progress=bar, allow_local_refs=allow_local_refs, paths=chosen, include=include)
    if as_json:
        echo_json({"artifact": v.name, "digest": str(v.digest), "path": os.path.abspath(root),
                   "files": count, "size": size} | ({"partial": True} if partial else {}))
        return
    of = f" (of {plural(v.file_count, 'file')})" if partial else ""
    click.echo(f"{v.name}  {plural(count, 'file')}{of}  {human_size(size)}  -> {root}")


@click.command("cat")
@click.argument("ref")
@click.option("--allow-local-refs", is_flag=True,
              help="Also read a file added by reference to a local file (file://); refused without it.")
@pass_ctx
def cat_cmd(ctx: Context, ref: str, allow_local_refs: bool) -> None:
    """Write the bytes of one file of a version (NAME:VERSION/PATH) to stdout, verified first:
    nothing is written unless the whole file matches its digest."""
    import shutil
    import tempfile

    from arty.artifacts.download import download_file
    from arty.store.store import SMALL_FILE

    v, path = ctx.registry.resolve_path(ref)
    if path is None:
        raise UsageError(f"'{ref}' names a version, not a file", hint=f"give a file: 'art cat {v.name}/PATH' "
                                                                      f"('art show {v.name}' lists them)")
    if v.is_folder(path):
        raise UsageError(f"'{path}' is a folder in '{v.name}', not a file",
                         hint=f"'art show {v.name}/{path}' lists its files; 'art get {v.name} --path {path}' "
                              "fetches them")
    entry = v.get_entry(path).entry
    out = click.get_binary_stream("stdout")
    if not entry.is_ref and entry.size <= 16 * SMALL_FILE:
        out.write(v.read_bytes(path))
        out.flush()
        return
    with tempfile.TemporaryDirectory(prefix="arty-cat-") as tmp:
        action = download_file(ctx.registry.store, entry, os.path.join(tmp, "file"),
                               allow_local_refs=allow_local_refs)
        with open(action.target, "rb") as f:
            shutil.copyfileobj(f, out)
    out.flush()


@click.command("diff")
@click.argument("a")
@click.argument("b", required=False)
@json_option
@pass_ctx
def diff_cmd(ctx: Context, a: str, b: str | None, as_json: bool) -> None:
    """Files added, removed and changed from version A to version B, or to a folder.

    'art diff REF FOLDER' compares a folder with a version; 'art diff FOLDER' compares a folder
    recorded in arty.lock with the version it was last added or checked out as.
    """
    reg = ctx.registry
    if b is None:
        lock = find_lock()
        entry = locked_entry(lock, a)
        if entry is None:
            raise UsageError(f"folder '{a}' is not recorded in '{lock.path if lock else LOCK_NAME}'",
                             hint=f"compare it with a version: art diff REF {a}; or two versions: art diff A B")
        assert lock is not None
        va = resolve_locked(reg, entry, lock.path)
    else:
        va = reg.resolve(a)
    if b is None or os.path.isdir(b):
        folder = a if b is None else b
        hasher = FolderHasher(folder, reg.stat_cache, reg.store.algorithm)
        d = compare(folder, va.files(), hasher).as_diff()
        hasher.save()
        src, dst = va.qualified_name if va.project != reg.project else va.name, folder
    else:
        vb = reg.resolve(b)
        d = va.diff(vb)
        src, dst = va.name, vb.name
    if as_json:
        echo_json({"from": src, "to": dst} | d.to_json())
        return
    click.echo(f"{src} -> {dst}: {d.summary()}")
    for e in d.added:
        click.echo(f"+ {e.path}  {human_size(e.size)}")
    for e in d.removed:
        click.echo(f"- {e.path}  {human_size(e.size)}")
    for old, new in d.changed:
        click.echo(f"~ {old.path}  {human_size(old.size)} -> {human_size(new.size)}")


@click.command("verify")
@click.argument("ref", required=False)
@click.option("--repair", is_flag=True,
              help="Move bad records aside to quarantine/ (a bad version record: mark the version deleted).")
@json_option
@pass_ctx
def verify_cmd(ctx: Context, ref: str | None, repair: bool, as_json: bool) -> None:
    """Re-hash objects and check records: of REF (NAME or NAME:VERSION), else of the whole store.
    Exit 5 on any problem (with --repair: on any problem left)."""
    from arty.artifacts.repair import KIND as BAD_RECORD
    from arty.artifacts.repair import repair as repair_records
    from arty.artifacts.verify import iter_versions, verify_store

    store = ctx.store
    if ref is None:
        selected = None
        what = f"store {store.url}"
    else:
        r = ArtifactRef.parse(ref)
        reg = ctx.registry.in_project(r.project)
        if r.selector:
            v = reg.resolve(r)
            selected = [(v.project, v.base_name, v.number)]
        else:
            numbers = reg.versions(r.name)
            if not numbers:
                raise reg.not_found(r.name, None)
            selected = [(reg.project, r.name, n) for n in numbers]
        what = ref
    with progress_bar(f"verifying {what}") as bar:
        problems = verify_store(store, progress=lambda n: bar(n, 0), versions=selected)
    checked = len(selected) if selected is not None else sum(1 for _ in iter_versions(store))
    repaired = repair_records(store, [p.subject for p in problems if p.kind == BAD_RECORD]) if repair else []
    left = [p for p in problems if p.subject not in {r.path for r in repaired}]
    if as_json:
        out = {"ok": not left, "versions": checked, "problems": [p.to_json() for p in problems]}
        echo_json(out | {"repaired": [r.to_json() for r in repaired]} if repair else out)
    else:
        for p in problems:
            click.echo(f"bad: {p.message}")
        for r in repaired:
            click.echo(f"repaired: {r.path}: {r.action}" + (f" -> {r.moved_to}" if r.moved_to else ""))
        if not problems:
            click.echo(f"ok: {plural(checked, 'version')} verified in {what}")
        elif repair and not left:
            click.echo(f"ok: every problem repaired in {what}")
    if left:
        raise click.exceptions.Exit(IntegrityError.exit_code)


@click.command("rm")
@click.argument("ref")
@json_option
@pass_ctx
def rm_cmd(ctx: Context, ref: str, as_json: bool) -> None:
    """Delete version REF (NAME:VERSION): recorded, hidden from latest and ls; 'art gc' frees its blobs."""
    r = ArtifactRef.parse(ref)
    if r.selector is None or r.selector == "latest":
        raise UsageError(f"'{ref}' does not name one version", hint="give it explicitly, e.g. 'art rm NAME:v3'")
    reg = ctx.registry.in_project(r.project)
    v = reg.resolve(r)
    reg.delete(v.base_name, v.number)
    if as_json:
        echo_json({"deleted": v.name, "project": reg.project, "digest": str(v.digest)})
        return
    click.echo(f"deleted {v.name} (its blobs are freed by 'art gc' unless another version uses them)")


@click.command("gc")
@click.option("--dry-run", is_flag=True, help="Print what would be removed; remove nothing (and write nothing).")
@click.option("--no-retention", is_flag=True, help="Do not apply retention policies and TTLs (remove blobs only).")
@click.option("--grace", default=3600, show_default=True, type=click.FloatRange(min=0), metavar="SECONDS",
              help="Keep unreferenced blobs written less than this long ago (leftovers of crashed writers; "
                   "writers at work are protected by their leases whatever this says).")
@json_option
@pass_ctx
def gc_cmd(ctx: Context, dry_run: bool, no_retention: bool, grace: float, as_json: bool) -> None:
    """Delete the versions retention policies and TTLs select, then remove blobs that no version or
    run references, that no writer at work may own, and that are older than the grace period."""
    from arty.artifacts.gc import apply_gc, plan_gc
    from arty.artifacts.retention import RetentionPlan, apply_retention, plan_retention
    from arty.artifacts.usage import freed_by
    from arty.index.records import iso
    from arty.store.leases import GC, Lease

    store = ctx.store
    removed = 0
    retention = RetentionPlan(0.0) if no_retention else plan_retention(store)
    doomed = [(s.project, s.name, s.number) for s in retention.delete]
    freed = freed_by(store, doomed) if doomed else 0  # the blobs only they reference
    deleted = retention.delete if dry_run else (apply_retention(store, retention) if doomed else [])
    if dry_run:
        plan = plan_gc(store, grace=grace)
    else:
        store.backend.ensure_writable()
        with Lease.take(store, GC, "art gc") as lease:
            plan = plan_gc(store, grace=grace, lease=lease)
            with progress_bar("removing unreferenced blobs") as bar:
                removed = apply_gc(store, plan, progress=lambda n: bar(n, 0))
    if as_json:
        echo_json(plan.to_json() | {"dry_run": dry_run, "removed_blobs": removed,
                                    "retention": retention.to_json() | {"deleted": [s.to_json() for s in deleted],
                                                                        "freed_bytes": freed}})
        return
    for sel in deleted:
        click.echo(f"{'would delete' if dry_run else 'deleted'} {sel.label} ({human_size(sel.size)}): {sel.reason}")
    for sel in retention.protected:
        click.echo(f"kept {sel.label}: {sel.reason}, but held by {', '.join(sel.held_by)}")
    if deleted:
        click.echo(f"{'would free' if dry_run else 'freeing'} {human_size(freed)} of blobs only "
                   f"{plural(len(deleted), 'deleted version')} used"
                   + (" (removed below once older than the grace period)" if not dry_run else ""))
    verb = "would remove" if dry_run else "removed"
    count = len(plan.blobs) if dry_run else removed
    click.echo(f"{verb} {plural(count, 'blob')} and {plural(len(plan.temp_files), 'temp file')}, "
               f"{human_size(plan.bytes)}; kept {plural(plan.referenced, 'referenced blob')}, "
               f"{plural(plan.kept_young, 'unreferenced blob')} younger than {grace:g}s and "
               f"{plan.kept_leased} that writers at work may own")
    for info in plan.leases:
        click.echo(f"writer at work: {info.what or 'unknown'} by {info.by or 'unknown'} "
                   f"(lease '{info.path}', until {iso(info.expires)})")
    if plan.blocked:
        click.echo(f"kept every unreferenced blob: {plan.blocked}; run 'art gc' again when it is done")
    if plan.expired_leases:
        click.echo(f"{'would remove' if dry_run else 'removed'} {plural(len(plan.expired_leases), 'expired lease')}")


COMMANDS = [init_cmd, add_cmd, ls_cmd, show_cmd, get_cmd, cat_cmd, diff_cmd, verify_cmd, rm_cmd, gc_cmd]
