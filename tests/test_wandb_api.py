"""W&B compatibility of the artifact and query API, written from W&B's reference documentation
(``wandb.Artifact``, ``wandb.Api``, ``wandb.apis.public.Run`` / ``File``): the names,
arguments and return values a W&B script relies on, with ``wandb`` replaced by ``arty``."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

import arty
from arty.api import ApiArtifact, ApiFile, ArtifactType
from arty.artifacts import ArtifactCollection
from arty.errors import ArtyError, ConflictError, NotFound, UsageError

from conftest import make_tree


@pytest.fixture
def store_env(local_store, monkeypatch):
    """The local store as ``ARTY_STORE`` (what a W&B user's script finds without arguments)."""
    monkeypatch.setenv("ARTY_STORE", local_store.url)
    return local_store


@pytest.fixture
def files(tmp_path):
    return make_tree(tmp_path / "src", {"a.txt": "alpha", "images/1.png": b"\x89one", "images/2.png": b"\x89two"})


def _dataset(files: str, project: str = "p") -> arty.ArtifactVersion:
    art = arty.Artifact("ds", type="dataset", description="d", metadata={"n": 3})
    art.add_file(os.path.join(files, "a.txt"))
    art.add_dir(os.path.join(files, "images"), name="images")
    return art.save(project=project)


# -- wandb.Artifact ------------------------------------------------------------------------------


def test_save_logs_without_a_run_and_names_the_version_like_wandb(store_env, files):
    art = arty.Artifact("ds", type="dataset")
    art.add_file(os.path.join(files, "a.txt"))
    with pytest.raises(UsageError, match="not logged yet"):
        art.version  # noqa: B018 - W&B: a draft has no version
    v = art.save(project="p")
    # W&B: name is "{collection}:{alias}" once logged; version "v{number}";
    # qualified_name "entity/project/name:v0" (Arty has no entities).
    assert v.name == "ds:v0" and v.source_name == "ds:v0" and v.version == "v0"
    assert v.qualified_name == "p/ds:v0" and v.base_name == "ds" and v.entity is None
    assert art.version == "v0" and art.qualified_name == "p/ds:v0" and art.wait() is art
    assert isinstance(v.collection, ArtifactCollection) and v.collection.name == "ds"
    assert v.collection.versions() == [v] and v.collection.type == "dataset"
    assert arty.registry(project="p").resolve("ds:latest") == v
    assert arty.use_artifact("p/ds:v0") == v


def test_save_inside_a_run_is_the_runs_output(store_env, files):
    run = arty.init(project="p")
    art = arty.Artifact("ds", type="dataset")
    art.add_file(os.path.join(files, "a.txt"))
    v = art.save()
    arty.finish()
    assert v.created_by == run.id
    assert [a.name for a in arty.Api(project="p").run(run.id).logged_artifacts()] == ["ds:v0"]
    other = arty.Artifact("other", type="dataset").add_file(os.path.join(files, "a.txt"))
    arty.log_artifact(other, project="p")
    assert other.version == "v0" and other.qualified_name == "p/other:v0"  # log_artifact tells the draft too


def test_get_entry_and_get_path_download_one_file(store_env, files, tmp_path):
    v = _dataset(files)
    entry = v.get_entry("images/2.png")
    assert entry.path == "images/2.png" and entry.size == 4 and not entry.is_ref and entry.ref_url() is None
    got = entry.download(str(tmp_path / "out"))
    assert got == str(tmp_path / "out" / "images" / "2.png")
    assert open(got, "rb").read() == b"\x89two"
    assert sorted(os.listdir(tmp_path / "out")) == ["images"]
    assert os.listdir(tmp_path / "out" / "images") == ["2.png"]
    assert v.get_path("a.txt").download(str(tmp_path / "o2")) == str(tmp_path / "o2" / "a.txt")
    with pytest.raises(NotFound, match="no file 'nope'"):
        v.get_entry("nope")


def test_download_path_prefix_fetches_a_folder_or_a_file(store_env, files, tmp_path):
    v = _dataset(files)
    root = v.download(str(tmp_path / "imgs"), path_prefix="images/", skip_cache=True)
    assert sorted(os.listdir(os.path.join(root, "images"))) == ["1.png", "2.png"]
    assert not os.path.exists(os.path.join(root, "a.txt"))
    one = v.download(str(tmp_path / "one"), path_prefix="a.txt")
    assert os.listdir(one) == ["a.txt"]
    with pytest.raises(NotFound, match="starts with 'zzz'"):
        v.download(str(tmp_path / "none"), path_prefix="zzz")


def test_file_downloads_a_single_file_artifact(store_env, files, tmp_path):
    art = arty.Artifact("model", type="model")
    art.add_file(os.path.join(files, "a.txt"), name="model.txt")
    v = art.save(project="p")
    assert v.file(str(tmp_path / "m")) == str(tmp_path / "m" / "model.txt")
    assert open(tmp_path / "m" / "model.txt").read() == "alpha"
    with pytest.raises(UsageError, match="holds 3 files, not one"):
        _dataset(files).file()


def test_new_draft_keeps_the_files_without_downloading_and_logs_a_new_version(store_env, files, tmp_path):
    v0 = _dataset(files)
    draft = v0.new_draft()
    assert (draft.name, draft.type, draft.description, draft.metadata) == ("ds", "dataset", "d", {"n": 3})
    new = make_tree(tmp_path / "more", {"b.txt": "beta", "a.txt": "changed"})
    draft.add_file(os.path.join(new, "b.txt"))
    draft.add_file(os.path.join(new, "a.txt"))  # replaces the stored a.txt
    draft.remove("images/1.png")
    v1 = draft.save(project="p")
    assert v1.name == "ds:v1"
    assert [e.path for e in v1.files()] == ["a.txt", "b.txt", "images/2.png"]
    assert v1.read_bytes("a.txt") == b"changed" and v1.read_bytes("images/2.png") == b"\x89two"
    assert v1.get_entry("images/2.png").digest == v0.get_entry("images/2.png").digest
    # Logged unchanged: the same version comes back (content addressed).
    assert v1.new_draft().save(project="p") == v1


def test_new_draft_into_another_store_is_refused(store_env, files, tmp_path):
    draft = _dataset(files).new_draft()
    other, _ = arty.init_store(str(tmp_path / "other"))
    with pytest.raises(UsageError, match="holds files of a version in store"):
        arty.log_artifact(draft, store=other)
    assert arty.Registry(other, "default").names() == []


def test_delete_refuses_aliased_versions_unless_delete_aliases(store_env, files):
    v0 = _dataset(files)
    reg = arty.registry(project="p")
    reg.set_alias("ds", 0, "prod")
    with pytest.raises(ConflictError, match="has aliases: prod"):
        v0.delete()
    assert reg.versions("ds") == [0]
    v0.delete(delete_aliases=True)
    assert reg.versions("ds") == [] and reg.aliases("ds") == {}
    with pytest.raises(NotFound, match="was deleted"):
        reg.version("ds", 0)


def test_link_used_by_and_logged_by_on_a_plain_version_name_the_arty_way(store_env, files):
    v = _dataset(files)
    linked = v.link("model-registry/ds", aliases=["prod"])  # W&B's artifact.link: into a registry
    assert linked.qualified_name == "model-registry/ds:v0" and linked.source_qualified_name == "p/ds:v0"
    assert v.link("model-registry/ds") == linked and "prod" in linked.aliases
    for call in (v.used_by, v.logged_by):
        with pytest.raises(UsageError, match=r"arty.Api\(\).artifact\('p/ds:v0'\)"):
            call()


# -- wandb.Api -------------------------------------------------------------------------------------


def test_api_takes_overrides_as_first_argument(store_env, files):
    _dataset(files)
    api = arty.Api({"project": "p", "entity": "team"})
    assert api.default_project == "p" and api.store.url == store_env.url
    assert api.artifact("team/p/ds:latest").name == "ds:v0"
    assert arty.Api({"store": store_env.url, "project": "p"}, timeout=30, api_key="x").default_project == "p"
    with pytest.raises(UsageError, match="base_url"):
        arty.Api({"base_url": "https://api.wandb.ai"})
    with pytest.raises(UsageError, match="unknown Api override"):
        arty.Api({"projcet": "p"})


def test_api_artifact_queries(store_env, files, tmp_path):
    _dataset(files)
    v1 = _dataset(make_tree(tmp_path / "v1", {"a.txt": "x", "images/1.png": "y"}))
    m = arty.Artifact("clf", type="model")
    m.add_file(os.path.join(files, "a.txt"))
    m.save(project="p")
    api = arty.Api({"project": "p"})

    versions = api.artifacts("dataset", "ds")
    assert [a.name for a in versions] == ["ds:v1", "ds:v0"] and all(isinstance(a, ApiArtifact) for a in versions)
    assert [a.name for a in api.artifact_versions("dataset", "p/ds")] == ["ds:v1", "ds:v0"]
    with pytest.raises(NotFound, match="has type 'dataset', not 'model'"):
        api.artifacts("model", "ds")
    coll = api.artifact_collection("dataset", "ent/p/ds")
    assert coll.name == "ds" and coll.project == "p" and [v.number for v in coll.versions()] == [0, 1]
    assert [c.name for c in api.artifact_collections("p", "dataset")] == ["ds"]
    assert [t.name for t in api.artifact_types()] == ["dataset", "model"]
    t = api.artifact_type("model", "p")
    assert isinstance(t, ArtifactType) and [c.name for c in t.collections()] == ["clf"]
    with pytest.raises(NotFound, match="types: dataset, model"):
        api.artifact_type("table")
    assert api.artifact_exists("ds:v1") and api.artifact_exists("p/ds:latest", type="dataset")
    assert not api.artifact_exists("ds:v7") and not api.artifact_exists("ds:v1", type="model")
    assert not api.artifact_exists("nothing")
    assert api.artifact_collection_exists("ds", "dataset") and not api.artifact_collection_exists("ds", "model")
    assert api.artifact("ds", type="dataset").name == v1.name
    with pytest.raises(UsageError, match="not 'model'"):
        api.artifact("ds", type="model")


def test_api_projects_and_project(store_env, files):
    _dataset(files)
    run = arty.init(project="q")
    arty.finish()
    api = arty.Api()
    projects = api.projects()
    assert projects == ["p", "q"] and projects[1].name == "q" and projects[1].entity is None
    assert [r.id for r in projects[1].runs()] == [run.id] and projects[0].runs() == []
    assert api.project("p").name == "p" and [t.name for t in api.project("p").artifacts_types()] == ["dataset"]
    with pytest.raises(NotFound, match="project 'zz' not found"):
        api.project("zz")


@pytest.fixture
def finished_run(store_env, tmp_path):
    run = arty.init(project="p", config={"lr": 0.1}, tags=["a"])
    for i in range(6):
        arty.log({"loss": 1 / (i + 1), **({"epoch": i // 2} if i % 2 else {})})
    arty.finish()
    return run


def test_api_run_accepts_wandb_paths(finished_run):
    api = arty.Api({"project": "p"})
    for path in (finished_run.id, f"p/{finished_run.id}", f"team/p/{finished_run.id}",
                 f"team/p/runs/{finished_run.id}"):
        assert api.run(path).id == finished_run.id, path


def test_run_history_takes_wandbs_arguments(finished_run):
    r = arty.Api({"project": "p"}).run(finished_run.id)
    # W&B order: history(samples, keys, x_axis, pandas, stream)
    assert [row["loss"] for row in r.history(2, ["loss"])] == [1.0, 1 / 6]
    by_epoch = r.history(keys=["loss"], x_axis="epoch")
    assert [(row["epoch"], row["_step"]) for row in by_epoch] == [(0, 1), (1, 3), (2, 5)]
    assert list(by_epoch[0]) == ["epoch", "_step", "loss"]
    df = r.history(keys=["loss"], x_axis="epoch", pandas=True)
    assert list(df["epoch"]) == [0, 1, 2]
    steps = list(r.history(pandas=True, samples=3)["_step"])
    assert len(steps) == 3 and steps[0] == 0 and steps[-1] == 5
    assert r.history(stream="system") == r.system_metrics()
    with pytest.raises(UsageError, match="unknown stream"):
        r.history(stream="events")
    with pytest.raises(UsageError, match="samples must be a positive integer"):
        r.history(samples=0)


def test_run_update_stores_name_notes_and_tags_as_an_edit(finished_run):
    api = arty.Api({"project": "p"})
    r = api.run(finished_run.id)
    r.tags.append("best")
    r.notes = "kept"
    r.name = "renamed"
    r.update()
    again = arty.Api({"project": "p"}).run(finished_run.id)
    assert (again.tags, again.notes, again.name) == (["a", "best"], "kept", "renamed")
    r.config["lr"] = 1.0
    with pytest.raises(UsageError, match="cannot change config"):
        r.update()
    assert arty.Api({"project": "p"}).run(finished_run.id).config == {"lr": 0.1}
    with pytest.raises(UsageError, match="keeps every record"):
        r.delete()


def test_run_file_download(finished_run, tmp_path):
    r = arty.Api({"project": "p"}).run(finished_run.id)
    assert "requirements.txt" in r.files()
    f = r.file("requirements.txt")
    assert isinstance(f, ApiFile) and f.name == "requirements.txt" and f.size == len(r.read_file("requirements.txt"))
    with f.download(str(tmp_path / "dl")) as fh:
        assert fh.name == str(tmp_path / "dl" / "requirements.txt")
        assert fh.read().encode() == r.read_file("requirements.txt")
    with pytest.raises(ConflictError, match="already exists"):
        f.download(str(tmp_path / "dl"))
    f.download(str(tmp_path / "dl"), exist_ok=True).close()
    f.download(str(tmp_path / "dl"), replace=True).close()
    with pytest.raises(NotFound, match="no file 'nope.bin'"):
        r.file("nope.bin")


# -- a W&B script, unchanged but for the import --------------------------------------------------


SCRIPT = """
import os
import arty as wandb

os.makedirs("data", exist_ok=True)
with open("data/train.csv", "w") as f:
    f.write("x,y\\n1,2\\n")
with open("data/test.csv", "w") as f:
    f.write("x,y\\n3,4\\n")

art = wandb.Artifact("ds", type="dataset", metadata={"rows": 1})
art.add_file("data/train.csv")
art.add_file("data/test.csv")
art.save()

api = wandb.Api({"project": "p", "entity": "my-team"})
artifact = api.artifact("my-team/p/ds:latest")
print("NAME", artifact.name, artifact.version, artifact.qualified_name)
root = artifact.download()
print("ROOT", root, sorted(os.listdir(root)))
entry = artifact.get_entry("test.csv")
print("ENTRY", entry.download("single"))
print("EXISTS", api.artifact_exists("p/ds:v0"), api.artifact_exists("p/ds:v9"))
print("VERSIONS", [a.name for a in api.artifacts("dataset", "p/ds")])
"""


def test_wandb_script_runs_as_a_subprocess(store_env, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    (work / "script.py").write_text(textwrap.dedent(SCRIPT))
    env = dict(os.environ, ARTY_STORE=store_env.url, ARTY_PROJECT="p")
    proc = subprocess.run([sys.executable, "script.py"], cwd=work, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    out = dict(line.split(" ", 1) for line in proc.stdout.splitlines())
    assert out["NAME"] == "ds:v0 v0 p/ds:v0"
    assert out["ROOT"] == "artifacts/ds:v0 ['test.csv', 'train.csv']"
    assert out["ENTRY"] == "single/test.csv" and (work / "single" / "test.csv").read_text() == "x,y\n3,4\n"
    assert out["EXISTS"] == "True False" and out["VERSIONS"] == "['ds:v0']"
    # What reached the store, read back independently.
    v = arty.Registry(store_env, "p").resolve("ds:latest")
    assert v.name == "ds:v0" and v.metadata == {"rows": 1} and v.created_by is None
    assert v.read_bytes("train.csv") == b"x,y\n1,2\n"


# -- editing a logged version (W&B: change fields, then artifact.save()) ---------------------------


def test_logged_version_fields_change_as_an_edit_log(store_env, files):
    import datetime

    v = _dataset(files)
    api = arty.Api({"project": "p"})
    api.index.catch_up()
    a = api.artifact("ds:latest")
    a.metadata["n"] = 4
    a.description = "cleaned"
    a.tags.append("gold")
    a.ttl = datetime.timedelta(days=2)
    a.aliases.append("prod")
    a.save()

    again = arty.Api({"project": "p"}).artifact("ds:prod")  # the alias moved too
    assert (again.metadata, again.description, again.tags, again.ttl) == ({"n": 4}, "cleaned", ["gold"], 172800)
    assert again.aliases == ["latest", "prod"] and again.digest == v.digest  # files unchanged
    (edit,) = again.edits
    assert edit["by"] and edit["at"] and set(edit) == {"seq", "at", "by", "metadata", "description", "tags", "ttl"}
    # The version record itself is untouched: the edit is a record of its own, applied by readers.
    assert v.record["metadata"] == {"n": 3} and arty.use_artifact("p/ds:v0").metadata == {"n": 4}
    assert arty.use_artifact("p/ds:v0").to_json()["edits"][0]["seq"] == 0
    # ... and by the index, on catch-up and after a rebuild.
    api.index.catch_up()
    row = api.index.versions("p")[0]
    assert (row["description"], row["metadata"]) == ("cleaned", '{"n":4}')
    api.rebuild_index()
    assert api.index.versions("p")[0]["description"] == "cleaned"

    again.aliases.remove("prod")
    again.save()
    assert arty.use_artifact("p/ds:v0").aliases == ["latest"]
    assert len(arty.use_artifact("p/ds:v0").edits) == 1  # alias moves are not edits: their own log


def test_bad_edits_are_refused_and_write_nothing(store_env, files):
    v = _dataset(files)
    for field, value, message in (("metadata", {"x": float("nan")}, "invalid metadata"),
                                  ("tags", "gold", "tags must be a list"), ("ttl", -1, "invalid ttl")):
        fresh = arty.use_artifact("p/ds:v0")
        fresh.description = "would be lost"
        setattr(fresh, field, value)
        with pytest.raises(UsageError, match=message):
            fresh.save()
    fresh = arty.use_artifact("p/ds:v0")
    fresh.aliases.remove("latest")
    with pytest.raises(UsageError, match="'latest' is not an alias"):
        fresh.save()
    assert arty.use_artifact("p/ds:v0").edits == [] and arty.use_artifact("p/ds:v0").description == "d"
    assert v.aliases == ["latest"]


def test_edits_are_shown_by_the_server_with_who_and_when(store_env, files):
    pytest.importorskip("fastapi", reason="the server tests need the server extra (pip install -e '.[test]')")
    from fastapi.testclient import TestClient

    from arty.server import create_app

    _dataset(files)
    v = arty.use_artifact("p/ds:v0")
    v.description = "cleaned"
    v.tags = ["gold"]
    v.save()
    with TestClient(create_app(store_env.url), base_url="http://127.0.0.1:8080") as client:
        body = client.get("/api/projects/p/artifacts/ds/v0").json()
    assert (body["description"], body["tags"], body["ttl"], body["metadata"]) == ("cleaned", ["gold"], None, {"n": 3})
    (edit,) = body["edits"]
    assert edit["fields"] == ["description", "tags"] and edit["by"] and edit["at"]


def test_edits_travel_with_a_push_and_reach_the_targets_index(store_env, files, tmp_path):
    from arty.artifacts.transfer import transfer

    _dataset(files)
    target, _ = arty.init_store(str(tmp_path / "target"))
    transfer(store_env, target, "p", "ds")
    api = arty.Api(target, "p")
    api.index.catch_up()
    assert api.index.versions("p")[0]["description"] == "d"
    v = arty.use_artifact("p/ds:v0")
    v.description = "edited at the source"
    v.save()
    transfer(store_env, target, "p", "ds")  # the version is there already: only the edit is sent
    assert arty.Registry(target, "p").version("ds", 0).description == "edited at the source"
    api.index.catch_up()
    assert api.index.versions("p")[0]["description"] == "edited at the source"


def test_a_bad_edit_record_is_skipped_with_a_warning_and_reported_by_verify(store_env, files):
    from arty.artifacts.edits import edits_folder
    from arty.artifacts.repair import find_bad_records

    _dataset(files)
    v = arty.use_artifact("p/ds:v0")
    v.description = "good edit"
    v.save()
    path = f"{edits_folder('p', 'ds', 0)}/00000001.json"
    store_env.backend.write(path, b'{"descr')
    with pytest.warns(RuntimeWarning, match="skipped a bad record.*edits/0/00000001.json"):
        assert arty.use_artifact("p/ds:v0").description == "good edit"
    assert [f.path for f in find_bad_records(store_env)] == [path]
