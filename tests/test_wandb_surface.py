"""W&B compatibility of the rest of the public surface, written from W&B's reference
(``wandb.save``/``restore``, ``alert``, ``mark_preempting``, ``log_code``, ``log_model``/
``use_model``/``link_model``, ``Settings``, ``login``, ``setup``/``teardown``, ``finish``,
``termlog``, the ``Run`` attributes and ``init``'s other arguments), with ``wandb`` replaced
by ``arty``. What Arty cannot do the same way must fail with an :class:`arty.ArtyError`
naming the Arty way, never an ``AttributeError`` or silence.

What reached the store is read straight from it (see test_runs.read_run).
"""

from __future__ import annotations

import os

import pytest

import arty
from arty.errors import ArtyError, NotFound, UsageError
from arty.tracking import run as run_mod
from arty.tracking.media import BlobMedia

from test_runs import events_of, read_run

PROJECT = "p"
QUIET = dict(console=False, system_metrics=False, code=False)


@pytest.fixture(autouse=True)
def _no_run_left_behind():
    yield
    run = run_mod._current
    if run is not None and not run._finished:
        run.finish(quiet=True)
    run_mod._current = None


@pytest.fixture
def store(local_store, monkeypatch):
    monkeypatch.setenv("ARTY_STORE", local_store.url)
    return local_store


def start(store, **kwargs) -> arty.Run:
    opts = dict(QUIET)
    opts.update(kwargs)
    opts.setdefault("project", PROJECT)
    return arty.init(store=store.url, **opts)


# -- save / restore --------------------------------------------------------------------------------

def test_save_takes_a_glob_relative_to_its_folder_or_to_base_path(store, tmp_path, monkeypatch):
    """W&B: ``wandb.save("out/*.ckpt")`` keeps ``a.ckpt``; with ``base_path="."`` it keeps
    ``out/a.ckpt``. Files matching nothing are an error, not silence."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a.ckpt").write_text("A")
    (tmp_path / "out" / "b.ckpt").write_text("B")
    (tmp_path / "out" / "skip.txt").write_text("no")
    run = start(store)
    assert arty.save("out/*.ckpt") == ["a.ckpt", "b.ckpt"]
    assert run.save("out/a.ckpt", base_path=".") == ["out/a.ckpt"]
    with pytest.raises(NotFound, match="no file matches"):
        arty.save("out/*.bin")
    with pytest.raises(UsageError, match="policy"):
        arty.save("out/a.ckpt", policy="sometimes")
    run.finish()
    assert read_run(store, PROJECT, run.id).files == {"a.ckpt": b"A", "b.ckpt": b"B", "out/a.ckpt": b"A"}


def test_save_policies_now_end_and_live(store, tmp_path):
    """``now`` keeps the file as it is; ``end`` and ``live`` keep it as it is at finish."""
    for name in ("now.txt", "end.txt", "live.txt"):
        (tmp_path / name).write_text("v1")
    run = start(store)
    for policy in ("now", "end", "live"):
        run.save(str(tmp_path / f"{policy}.txt"), policy=policy)
    assert not os.path.exists(run.folder.path("files/end.txt"))  # "end": not before finish
    for name in ("now.txt", "end.txt", "live.txt"):
        (tmp_path / name).write_text("v2")
    run.finish()
    assert read_run(store, PROJECT, run.id).files == {"now.txt": b"v1", "end.txt": b"v2", "live.txt": b"v2"}


def test_restore_fetches_a_saved_file_of_another_run(store, tmp_path, monkeypatch):
    (tmp_path / "model.pt").write_bytes(b"weights")
    first = start(store)
    first.save(str(tmp_path / "model.pt"))
    first.finish()
    os.remove(tmp_path / "model.pt")
    out = tmp_path / "restored"
    with arty.restore("model.pt", run_path=f"someone/{PROJECT}/{first.id}", root=str(out)) as f:
        assert f.read() == "weights"
    assert (out / "model.pt").read_bytes() == b"weights"
    with pytest.raises(NotFound, match="no file 'nope.pt'"):
        arty.restore("nope.pt", run_path=f"{PROJECT}/{first.id}", root=str(out))
    with pytest.raises(UsageError, match="run_path"):
        arty.restore("model.pt")  # outside a run, W&B needs run_path too
    second = start(store)
    with arty.restore("model.pt", run_path=first.path) as f:  # default root: the run's folder
        assert f.name == os.path.join(second.dir, "model.pt")


# -- alert, mark_preempting --------------------------------------------------------------------------

def test_alert_is_recorded_with_the_run_and_printed(store, capsys):
    run = start(store)
    arty.alert(title="low accuracy", text="acc 0.1 < 0.5", level=arty.AlertLevel.WARN)
    run.alert("low accuracy", "again", wait_duration=300)  # W&B: same title within wait_duration: dropped
    run.alert("done", "all good")
    with pytest.raises(UsageError, match="alert level"):
        run.alert("x", "y", level="LOUD")
    run.finish()
    alerts = events_of(read_run(store, PROJECT, run.id), "alert")
    assert [(a["title"], a["text"], a["level"]) for a in alerts] == [
        ("low accuracy", "acc 0.1 < 0.5", "WARN"), ("done", "all good", "INFO")]
    assert "alert [WARN] low accuracy: acc 0.1 < 0.5" in capsys.readouterr().err


def test_mark_preempting_is_recorded(store):
    run = start(store)
    arty.mark_preempting()
    run.finish(exit_code=1)
    rec = read_run(store, PROJECT, run.id)
    assert events_of(rec, "preempting") and rec.final["preempting"] is True


# -- log_code, log_model, use_model, link_model -------------------------------------------------------

def test_log_code_logs_the_python_files_as_a_code_artifact(store, tmp_path):
    src = tmp_path / "proj"
    (src / "pkg").mkdir(parents=True)
    (src / "train.py").write_text("print(1)")
    (src / "pkg" / "model.py").write_text("x = 1")
    (src / "notes.md").write_text("not code")
    (src / ".venv" / "lib").mkdir(parents=True)
    (src / ".venv" / "lib" / "site.py").write_text("venv")
    run = start(store)
    v = run.log_code(str(src))
    assert v.type == "code" and v.base_name == f"source-{run.id}"
    assert sorted(e.path for e in v.files()) == ["pkg/model.py", "train.py"]
    md = run.log_code(str(src), name="docs", include_fn=lambda path, root: path.endswith(".md"))
    assert [e.path for e in md.files()] == ["notes.md"]
    run.finish()
    assert {o["artifact"] for o in read_run(store, PROJECT, run.id).outputs} == {f"source-{run.id}", "docs"}


def test_log_model_and_use_model(store, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # use_model downloads under ./artifacts, as W&B's
    (tmp_path / "model.pt").write_bytes(b"w1")
    run = start(store)
    v = arty.log_model(str(tmp_path / "model.pt"), name="clf", aliases=["best"])
    assert (v.type, v.name) == ("model", "clf:v0") and "best" in v.aliases
    default = run.log_model(str(tmp_path / "model.pt"))
    assert default.base_name == f"run-{run.id}-model.pt"
    path = arty.use_model("clf:best")  # one file: its path
    assert os.path.isfile(path) and open(path, "rb").read() == b"w1"
    ds = arty.Artifact("data", type="dataset")
    ds.add_file(str(tmp_path / "model.pt"))
    run.log_artifact(ds)
    with pytest.raises(UsageError, match="not a model"):
        run.use_model("data:latest")
    linked = arty.link_model(str(tmp_path / "model.pt"), "registry/clf", aliases=["staging"])
    assert linked.qualified_name == "registry/clf:v0" and linked.aliases == ["latest", "staging"]
    assert linked.source_name == f"run-{run.id}-model.pt:v0"
    assert run.link_artifact(ds, "registry/data").source_qualified_name == f"{PROJECT}/data:v0"
    with pytest.raises(UsageError, match="cannot link"):
        run.link_artifact(42, "registry/data")
    run.finish()
    rec = read_run(store, PROJECT, run.id)
    assert {i["artifact"] for i in rec.inputs} == {"clf", "data"}  # use_model records the lineage edge


# -- Run attributes --------------------------------------------------------------------------------

def test_run_attributes_wandb_scripts_read(store):
    run = start(store)
    assert run.resumed is False and run.entity is None and run.sweep_id is None and run.url is None
    assert run.path == f"{PROJECT}/{run.id}" and os.path.isdir(run.dir) and run.offline is False
    assert abs(run.start_time - __import__("time").time()) < 60
    run.finish()
    again = start(store, id=run.id, resume="allow")
    assert again.resumed is True


# -- init's other arguments, Settings ----------------------------------------------------------------

def test_init_takes_settings_and_config_key_filters(store):
    run = start(store, config={"lr": 0.1, "secret": "x", "bs": 8}, config_exclude_keys=["secret"],
                settings=arty.Settings(run_name="from-settings", x_disable_stats=True, some_wandb_knob=3),
                anonymous="allow", force=True, allow_val_change=True)
    assert run.name == "from-settings" and dict(run.config) == {"lr": 0.1, "bs": 8}
    run.finish()
    run = start(store, config={"lr": 0.1, "bs": 8}, config_include_keys=["lr"], settings={"mode": "offline"})
    assert dict(run.config) == {"lr": 0.1} and run.mode == "offline"
    run.finish()


@pytest.mark.parametrize("kwargs, match", [
    (dict(sync_tensorboard=True), "sync_tensorboard is not supported"),
    (dict(monitor_gym=True), "monitor_gym is not supported"),
    (dict(fork_from="abc?_step=10"), "fork_from and resume_from are not supported"),
    (dict(resume_from="abc?_step=10"), "fork_from and resume_from are not supported"),
])
def test_init_arguments_arty_cannot_honour_fail_clearly(store, kwargs, match):
    with pytest.raises(UsageError, match=match) as exc:
        start(store, **kwargs)
    assert exc.value.hint
    assert run_mod._current is None


# -- login, setup, teardown, finish, termlog ---------------------------------------------------------

def test_login_setup_teardown_and_finish_quiet(store):
    assert arty.login() is True and arty.login(key="k" * 40, relogin=True) is True
    assert isinstance(arty.setup(), arty.Settings)
    assert arty.run is None
    run = start(store)
    assert arty.run is run
    arty.finish(exit_code=0, quiet=True)
    assert arty.run is None and run.state == "finished"
    run = start(store)
    arty.teardown(exit_code=3)
    assert arty.run is None and run.state == "failed"


def test_termlog_termwarn_termerror(capsys, monkeypatch):
    monkeypatch.delenv("ARTY_SILENT", raising=False)
    monkeypatch.delenv("WANDB_SILENT", raising=False)
    arty.termlog("hello")
    arty.termwarn("careful")
    arty.termerror("broken")
    assert capsys.readouterr().err == "arty: hello\narty: WARNING careful\narty: ERROR broken\n"
    monkeypatch.setenv("WANDB_SILENT", "true")
    arty.termlog("hidden")
    assert capsys.readouterr().err == ""


# -- what W&B has and Arty does not, yet ----------------------------------------------------------------

@pytest.mark.parametrize("name", ["Audio", "Video", "Html", "Object3D", "Plotly", "Molecule"])
def test_wandbs_data_types_are_there(name):
    cls = getattr(arty, name)
    assert name in arty.__all__ and isinstance(cls, type) and issubclass(cls, BlobMedia)


def test_bokeh_says_it_is_not_supported_and_what_to_use():
    with pytest.raises(UsageError, match="is not supported yet") as exc:
        arty.Bokeh  # noqa: B018
    assert "arty.Image" in exc.value.hint and "arty.Plotly" in exc.value.hint
    assert isinstance(exc.value, ArtyError) and not isinstance(exc.value, AttributeError)


def test_other_missing_names_are_still_attribute_errors():
    with pytest.raises(AttributeError):
        arty.no_such_thing  # noqa: B018


def test_image_takes_wandbs_arguments_masks_and_boxes():
    np = pytest.importorskip("numpy")
    pixels = np.zeros((4, 4, 3), dtype=np.uint8)
    img = arty.Image(pixels, caption="c", grouping=2, file_type="png")  # W&B's keyword arguments
    assert img.caption == "c"
    masks = {"predictions": {"mask_data": np.zeros((4, 4), dtype=np.uint8), "class_labels": {0: "bg"}}}
    boxes = {"predictions": {"box_data": [{"position": {"minX": 0.1, "maxX": 0.2, "minY": 0.3, "maxY": 0.4},
                                           "class_id": 0}]}}
    arty.Image(pixels, masks=masks, boxes=boxes, classes=[{"id": 0, "name": "bg"}])  # accepted (tests/test_media_types.py)
    for kwargs in (dict(mode="L"), dict(file_type="jpg"), dict(normalize=False),
                   dict(masks={"predictions": {"mask_data": np.zeros((2, 2))}})):
        with pytest.raises(UsageError) as exc:
            arty.Image(pixels, **kwargs)
        assert exc.value.hint


def test_reinit_takes_wandbs_values(store):
    first = start(store)
    assert start(store, reinit="return_previous") is first and not first._finished
    second = start(store, reinit="finish_previous")
    assert first.state == "finished" and arty.run is second
    with pytest.raises(UsageError, match="create_new"):
        start(store, reinit="create_new")
    assert arty.run is second and not second._finished


def test_run_methods_take_wandbs_arguments(store, tmp_path):
    (tmp_path / "f.txt").write_text("x")
    run = start(store)
    run.define_metric("epoch", hidden=True)
    run.define_metric("acc", step_metric="epoch", step_sync=True, summary="best", goal="maximize", overwrite=True)
    arty.define_metric("loss", "epoch", None, None, "copy")  # W&B's positional order
    with pytest.raises(UsageError, match="needs a goal"):
        run.define_metric("f1", summary="best")
    run.log({"epoch": 0, "acc": 0.5, "loss": 2.0}, sync=False)
    run.log({"epoch": 1, "acc": 0.4, "loss": 1.0})
    assert run.summary["acc"] == 0.5 and run.summary.loss == 1.0  # best by goal; attribute access
    art = arty.Artifact("ds", type="dataset")
    art.add_file(str(tmp_path / "f.txt"))
    v = run.log_artifact(art, aliases=None, tags=["raw"])
    assert v.tags == ["raw"]
    assert run.use_artifact("ds:latest", use_as="input") == v
    with pytest.raises(UsageError, match="aliases"):
        run.use_artifact("ds:latest", aliases=["prod"])
    assert run.project_name() == PROJECT and run.get_url() is None
    assert run.settings.run_id == run.id and run.settings.mode == "online"
    run.finish()


def test_artifact_draft_calls_of_wandb_say_what_they_need(store, tmp_path):
    (tmp_path / "f.txt").write_text("x")
    art = arty.Artifact("ds", type="dataset", use_as="train")
    art.add_file(str(tmp_path / "f.txt"))
    assert art.is_draft() is True and art.finalize() is None
    for name in ("get", "files", "download", "verify", "manifest"):
        with pytest.raises(UsageError, match="needs a logged version"):
            getattr(art, name)
    with pytest.raises(UsageError, match="incremental"):
        arty.Artifact("ds", type="dataset", incremental=True)
    v = art.save(project=PROJECT)
    assert v.is_draft() is False and art.is_draft() is False
    assert [e.path for e in art.files()] == ["f.txt"]  # a logged draft reads through to its version


def test_wandb_calls_arty_lacks_name_the_arty_way(store, tmp_path):
    """Run, config, version and query API calls of W&B that Arty does not have: a UsageError
    with a hint, never an AttributeError; other misspelt names stay AttributeErrors."""
    (tmp_path / "f.txt").write_text("x")
    run = start(store, config={"lr": 1})
    for name in ("restore", "status", "to_html", "plot_table"):
        with pytest.raises(UsageError, match=f"run.{name} is not supported") as exc:
            getattr(run, name)
        assert exc.value.hint
    with pytest.raises(AttributeError):
        run.no_such_method  # noqa: B018
    run.config.persist()  # W&B: write the config now; Arty records it (a config event)
    art = arty.Artifact("ds", type="dataset")
    art.add_file(str(tmp_path / "f.txt"))
    v = run.log_artifact(art)
    for name in ("checkout", "manifest", "add_file", "id"):
        with pytest.raises(UsageError, match=f"artifact.{name} is not supported") as exc:
            getattr(v, name)
        assert exc.value.hint
    run.finish()
    assert events_of(read_run(store, PROJECT, run.id), "config")
    api = arty.Api({"project": PROJECT})
    for name in ("sweep", "reports", "create_run", "viewer", "flush"):
        with pytest.raises(UsageError, match=f"api.{name} is not supported"):
            getattr(api, name)
    api_run = api.run(run.id)
    for name in ("url", "lastHistoryStep", "upload_file", "wait_until_finished"):
        with pytest.raises(UsageError, match=f"run.{name} is not supported"):
            getattr(api_run, name)
    with pytest.raises(UsageError, match="artifact.checkout"):
        api.artifact("ds:latest").checkout  # noqa: B018 - through the query API's artifact too
