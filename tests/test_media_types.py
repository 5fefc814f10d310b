"""W&B's other data types (Audio, Video, Html, Object3D, Molecule, Plotly) and Image masks and
boxes: constructed with W&B's documented arguments, logged, read back through ``arty.Api``,
kept by gc, carried by push and checked by verify like image blobs."""

from __future__ import annotations

import io
import json
import os
import warnings
import wave

import numpy as np
import pytest

import arty
from arty.errors import UsageError
from arty.hashing import Digest
from arty.tracking.media_files import MediaError
from arty.tracking.overlays import OverlayError

PIL = pytest.importorskip("PIL.Image")


def start(store, **opts):
    opts.setdefault("project", "p")
    return arty.init(store=store.url, console=False, system_metrics=False, code=False, **opts)


def log_and_read(store, data: dict):
    run = start(store)
    run.log(data)
    run.finish()
    api_run = arty.Api(store, "p").run(run.path)
    return api_run, api_run.history()[0]


# -- audio ----------------------------------------------------------------------------------------


def test_audio_samples_are_stored_as_a_wav_with_their_rate(local_store):
    samples = np.sin(np.linspace(0, 200, 1600))  # W&B's docs: a numpy array and sample_rate
    r, row = log_and_read(local_store, {"a": arty.Audio(samples, sample_rate=8000, caption="sine"),
                                        "stereo": arty.Audio(np.zeros((2, 400), np.int16), sample_rate=4000)})
    a = row["a"]
    assert (a["_type"], a["format"], a["sample_rate"], a["duration"], a["caption"]) == \
        ("audio", "wav", 8000, 0.2, "sine")
    with wave.open(io.BytesIO(r.media_bytes(a))) as w:
        assert (w.getframerate(), w.getnframes(), w.getnchannels(), w.getsampwidth()) == (8000, 1600, 1, 2)
        pcm = np.frombuffer(w.readframes(1600), "<i2")
    assert np.abs(pcm / 32767 - samples).max() < 1e-3
    with wave.open(io.BytesIO(r.media_bytes(row["stereo"]))) as w:
        assert (w.getnchannels(), w.getnframes()) == (2, 400)  # (channels, samples) taken as such


def test_audio_files_are_stored_byte_for_byte(local_store, tmp_path):
    wav_path = tmp_path / "a.wav"
    with wave.open(str(wav_path), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000), w.writeframes(b"\0\0" * 8000)
    mp3 = tmp_path / "b.mp3"
    mp3.write_bytes(b"ID3 not really an mp3")
    r, row = log_and_read(local_store, {"wav": arty.Audio(str(wav_path)), "mp3": arty.Audio(mp3)})
    assert (row["wav"]["sample_rate"], row["wav"]["duration"]) == (16000, 0.5)
    assert r.media_bytes(row["wav"]) == wav_path.read_bytes()
    assert row["mp3"]["format"] == "mp3" and row["mp3"]["sample_rate"] is None
    assert r.media_bytes(row["mp3"]) == mp3.read_bytes()
    clips = [arty.Audio(str(wav_path)), arty.Audio(np.zeros(100), sample_rate=100)]
    assert arty.Audio.durations(clips) == [0.5, 1.0] and arty.Audio.sample_rates(clips) == [16000, 100]


@pytest.mark.parametrize("args, message", [
    ((np.zeros(10),), "sample_rate"),
    ((np.zeros((3, 3, 3)), 8000), "shape"),
    ((np.array([0.0, float("nan")]), 8000), "NaN"),
    (("clip.aiff",), "is not one of"),
    (("missing.wav",), "not found"),
])
def test_bad_audio_is_a_clear_error(args, message, tmp_path):
    (tmp_path / "clip.aiff").write_bytes(b"x")
    os.chdir(tmp_path)
    with pytest.raises(MediaError, match=message) as exc:
        arty.Audio(*args)
    assert isinstance(exc.value, ValueError) and isinstance(exc.value, UsageError)


# -- video ----------------------------------------------------------------------------------------


def test_video_frames_become_an_animated_gif(local_store):
    # W&B's docs: axes are (time, channel, height, width)
    frames = np.random.default_rng(0).integers(0, 256, size=(10, 3, 20, 30), dtype=np.uint8)
    batch = np.zeros((4, 3, 1, 8, 8), np.uint8)  # (batch, time, channel, height, width): a 2x2 grid
    r, row = log_and_read(local_store, {"video": arty.Video(frames, fps=4), "grid": arty.Video(batch, fps=2)})
    v = row["video"]
    assert (v["_type"], v["format"], v["fps"], v["frames"], v["width"], v["height"]) == ("video", "gif", 4, 10, 30, 20)
    gif = PIL.open(io.BytesIO(r.media_bytes(v)))
    assert (gif.format, gif.n_frames, gif.size, gif.info["duration"]) == ("GIF", 10, (30, 20), 250)
    assert (row["grid"]["width"], row["grid"]["height"], row["grid"]["frames"]) == (16, 16, 3)


def test_video_files_are_stored_as_they_are(local_store, tmp_path):
    mp4 = tmp_path / "run.mp4"
    mp4.write_bytes(b"\0\0\0\x18ftypmp42 fake")
    r, row = log_and_read(local_store, {"file": arty.Video(str(mp4), caption="rollout"),
                                        "io": arty.Video(io.BytesIO(b"webm bytes"), format="webm")})
    assert (row["file"]["format"], row["file"]["caption"]) == ("mp4", "rollout")
    assert r.media_bytes(row["file"]) == mp4.read_bytes() and r.media_bytes(row["io"]) == b"webm bytes"


def test_video_frames_asked_as_mp4_are_stored_as_gif_with_a_warning():
    with pytest.warns(RuntimeWarning, match="animated GIF, not mp4"):
        v = arty.Video(np.zeros((2, 3, 4, 4), np.uint8), format="mp4", fps=4)
    assert v.format == "gif"


@pytest.mark.parametrize("data, kwargs, message", [
    (np.zeros((4, 4, 3)), {}, "shape"),
    (np.zeros((2, 2, 4, 4)), {}, "shape"),
    (np.zeros((2, 3, 4, 4)), {"format": "avi"}, "is not one of"),
    (np.zeros((2, 3, 4, 4)), {"fps": 0}, "invalid fps"),
    ("clip.avi", {}, "is not one of"),
    (io.BytesIO(b"x"), {}, "needs format="),
])
def test_bad_video_is_a_clear_error(data, kwargs, message):
    with pytest.raises(MediaError, match=message) as exc:  # a UsageError and a ValueError, as W&B raises
        arty.Video(data, **kwargs)
    assert isinstance(exc.value, ValueError)


# -- html -----------------------------------------------------------------------------------------


def test_html_from_a_string_a_path_and_a_file_object(local_store, tmp_path):
    page = tmp_path / "index.html"
    page.write_text("<p>from a file</p>")
    r, row = log_and_read(local_store, {
        "s": arty.Html("<h1>Hello, world!</h1>"),          # W&B's docs' two examples
        "f": arty.Html(str(page)),
        "io": arty.Html(io.StringIO("<i>io</i>"), inject=False),
        "p": arty.Html(page),
        "literal": arty.Html(str(page), data_is_not_path=True)})
    assert row["s"] == {"_type": "html", "digest": row["s"]["digest"], "format": "html", "inject": True}
    assert [r.media_bytes(row[k]) for k in ("s", "f", "io", "p", "literal")] == [
        b"<h1>Hello, world!</h1>", b"<p>from a file</p>", b"<i>io</i>", b"<p>from a file</p>", str(page).encode()]
    assert row["io"]["inject"] is False
    with pytest.raises(UsageError, match="not found"):
        arty.Html(str(tmp_path / "missing.html"))
    with pytest.raises(UsageError, match="cannot make html"):
        arty.Html(42)


# -- object3d and molecule --------------------------------------------------------------------------


def test_point_clouds_are_stored_as_json_points(local_store):
    xyz = np.random.default_rng(0).random((20, 3))
    xyzc = np.hstack([xyz, np.ones((20, 1))])
    xyzrgb = np.hstack([xyz, np.full((20, 3), 255)])
    box = {"corners": [[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 1], [1, 0, 1], [0, 1, 1], [1, 1, 1]],
           "label": "car", "color": [255, 0, 0]}
    r, row = log_and_read(local_store, {
        "xyz": arty.Object3D(xyz, caption="scan"), "c": arty.Object3D.from_numpy(xyzc), "rgb": arty.Object3D(xyzrgb),
        "scene": arty.Object3D({"type": "lidar/beta", "points": xyz, "boxes": np.array([box], dtype=object)})})
    assert (row["xyz"]["_type"], row["xyz"]["format"], row["xyz"]["points"], row["xyz"]["caption"]) == \
        ("object3d", "pts.json", 20, "scan")
    cloud = json.loads(r.media_bytes(row["xyz"]))
    assert cloud["type"] == "lidar/beta" and np.allclose(cloud["points"], xyz)
    assert len(json.loads(r.media_bytes(row["c"]))["points"][0]) == 4
    assert json.loads(r.media_bytes(row["rgb"]))["points"][0][3:] == [255.0, 255.0, 255.0]
    assert json.loads(r.media_bytes(row["scene"]))["boxes"] == [box]


def test_3d_and_molecule_files_are_stored_as_they_are(local_store, tmp_path):
    obj = tmp_path / "cube.obj"
    obj.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n")
    pdb = tmp_path / "water.pdb"
    pdb.write_text("HETATM    1  O   HOH A   1       0.000   0.000   0.000\nEND\n")
    r, row = log_and_read(local_store, {"obj": arty.Object3D(str(obj)),
                                        "glb": arty.Object3D.from_file(io.BytesIO(b"glTF"), file_type="glb"),
                                        "mol": arty.Molecule(str(pdb), caption="water")})
    assert (row["obj"]["format"], row["obj"]["points"]) == ("obj", None)
    assert r.media_bytes(row["obj"]) == obj.read_bytes() and r.media_bytes(row["glb"]) == b"glTF"
    assert (row["mol"]["_type"], row["mol"]["format"], row["mol"]["caption"]) == ("molecule", "pdb", "water")
    assert r.media_bytes(row["mol"]) == pdb.read_bytes()


@pytest.mark.parametrize("make, message", [
    (lambda: arty.Object3D(np.zeros((5, 5))), "shape"),
    (lambda: arty.Object3D(np.array([[0.0, 0.0, float("nan")]])), "NaN"),
    (lambda: arty.Object3D("mesh.ply"), "is not one of"),
    (lambda: arty.Object3D(io.BytesIO(b"x")), "file_type"),
    (lambda: arty.Object3D({"type": "other"}), "lidar/beta"),
    (lambda: arty.Molecule("m.xyz"), "is not one of"),
    (lambda: arty.Molecule.from_smiles("CCO"), "not supported"),
])
def test_bad_3d_objects_and_molecules_are_clear_errors(make, message):
    with pytest.raises(UsageError, match=message):
        make()


# -- plotly ---------------------------------------------------------------------------------------


def test_plotly_figures_are_stored_as_their_json(local_store):
    go = pytest.importorskip("plotly.graph_objects")
    fig = go.Figure(data=go.Scatter(x=np.arange(3), y=np.array([1.0, 4.0, 9.0])), layout={"title": "sq"})
    r, row = log_and_read(local_store, {"fig": arty.Plotly(fig),
                                        "dict": arty.Plotly({"data": [{"type": "bar", "y": [1, 2]}]})})
    assert row["fig"] == {"_type": "plotly", "digest": row["fig"]["digest"], "format": "json"}
    stored = json.loads(r.media_bytes(row["fig"]))
    assert stored["data"][0]["y"] == [1.0, 4.0, 9.0] and stored["layout"]["title"]["text"] == "sq"
    assert json.loads(r.media_bytes(row["dict"]))["data"][0]["y"] == [1, 2]
    with pytest.raises(UsageError, match="plotly figure"):
        arty.Plotly([1, 2, 3])


# -- image masks and boxes --------------------------------------------------------------------------

CLASS_LABELS = {0: "person", 1: "tree", 2: "car", 3: "road"}


def _masks():
    predicted = np.empty((100, 100), dtype=np.uint8)  # W&B's ImageMask example
    predicted[:50, :50], predicted[50:, :50], predicted[:50, 50:], predicted[50:, 50:] = 0, 1, 2, 3
    truth = np.zeros((100, 100), dtype=np.uint8)
    truth[25:, 25:] = 3
    return {"predictions": {"mask_data": predicted, "class_labels": CLASS_LABELS},
            "ground_truth": {"mask_data": truth, "class_labels": CLASS_LABELS}}


BOXES = {"predictions": {"box_data": [
    {"position": {"minX": 0.1, "maxX": 0.2, "minY": 0.3, "maxY": 0.4}, "class_id": 2, "box_caption": "minMax",
     "scores": {"acc": 0.1, "loss": 1.2}},
    {"position": {"middle": [50, 20], "width": 30, "height": 40}, "domain": "pixel", "class_id": 3,
     "box_caption": "a road", "scores": {"acc": 0.5, "loss": 0.7}}], "class_labels": CLASS_LABELS}}


def test_image_masks_are_png_blobs_beside_the_image_and_boxes_json(local_store):
    image = np.random.default_rng(0).integers(0, 256, size=(100, 100, 3), dtype=np.uint8)
    masks = _masks()
    r, row = log_and_read(local_store, {"img": arty.Image(image, masks=masks, boxes=BOXES,
                                                          classes=[{"id": 2, "name": "car"}])})
    img = row["img"]
    assert set(img["masks"]) == {"predictions", "ground_truth"}
    for name, m in img["masks"].items():
        assert m["class_labels"] == {"0": "person", "1": "tree", "2": "car", "3": "road"} and m["format"] == "png"
        assert np.array_equal(np.asarray(PIL.open(io.BytesIO(r.media_bytes(m)))), masks[name]["mask_data"])
    assert sorted(img["blobs"]) == sorted(m["digest"] for m in img["masks"].values())
    boxes = img["boxes"]["predictions"]
    assert boxes["class_labels"]["3"] == "road"
    assert boxes["box_data"][0] == {"position": {"minX": 0.1, "maxX": 0.2, "minY": 0.3, "maxY": 0.4},
                                    "domain": None, "class_id": 2, "box_caption": "minMax",
                                    "scores": {"acc": 0.1, "loss": 1.2}}
    assert boxes["box_data"][1]["position"] == {"middle": [50.0, 20.0], "width": 30.0, "height": 40.0}
    assert img["classes"] == [{"id": 2, "name": "car"}]


def test_image_mask_from_a_path(local_store, tmp_path):
    mask = np.zeros((4, 6), np.uint8)
    mask[1:3, 2:4] = 7
    PIL.fromarray(mask, "L").save(tmp_path / "m.png")
    r, row = log_and_read(local_store, {"img": arty.Image(np.zeros((4, 6), np.uint8),
                                                          masks={"seg": {"path": str(tmp_path / "m.png")}})})
    assert np.array_equal(np.asarray(PIL.open(io.BytesIO(r.media_bytes(row["img"]["masks"]["seg"])))), mask)


@pytest.mark.parametrize("kwargs, message", [
    ({"masks": {"p": {"mask_data": np.zeros((3, 3), np.uint8)}}}, "is 3x3, the image 6x4"),
    ({"masks": {"p": {"mask_data": np.zeros((4, 6, 3), np.uint8)}}}, "not 2-D"),
    ({"masks": {"p": {"mask_data": np.full((4, 6), 300)}}}, "0..255"),
    ({"masks": {"p": {"mask_data": np.zeros((4, 6)), "class_labels": {"cat": 1}}}}, "is not an int"),
    ({"masks": {"p": {"class_labels": {}}}}, "either 'mask_data' or 'path'"),
    ({"masks": {"p": np.zeros((4, 6))}}, "must be a dict"),
    ({"boxes": {"p": {"box_data": [{"position": {"minX": 0.1}, "class_id": 1}]}}}, "position needs"),
    ({"boxes": {"p": {"box_data": [{"position": {"minX": 0.5, "maxX": 0.1, "minY": 0, "maxY": 1},
                                    "class_id": 1}]}}}, "must not be above"),
    ({"boxes": {"p": {"box_data": [{"position": {"middle": [1], "width": 1, "height": 1}, "class_id": 1}]}}},
     r"middle must be \[x, y\]"),
    ({"boxes": {"p": {"box_data": [{"position": {"minX": 0, "maxX": 1, "minY": 0, "maxY": 1}}]}}},
     "class_id must be an int"),
    ({"boxes": {"p": {"box_data": [{"position": {"minX": 0, "maxX": 1, "minY": 0, "maxY": 1}, "class_id": 1,
                                    "domain": "percent"}]}}}, "domain 'percent'"),
    ({"boxes": {"p": {"box_data": [{"position": {"minX": 0, "maxX": "1", "minY": 0, "maxY": 1},
                                    "class_id": 1}]}}}, "maxX must be a number"),
    ({"boxes": {"p": [{"position": {}}]}}, "needs 'box_data'"),
    ({"classes": [{"id": "a", "name": "cat"}]}, "is not {'id': int, 'name': str}"),
])
def test_bad_masks_and_boxes_are_clear_errors_and_value_errors(kwargs, message):
    with pytest.raises(OverlayError, match=message) as exc:
        arty.Image(np.zeros((4, 6), np.uint8), **kwargs)
    assert isinstance(exc.value, ValueError) and isinstance(exc.value, UsageError) and exc.value.hint


def test_a_bad_box_loses_nothing_of_the_run(local_store):
    run = start(local_store)
    run.log({"loss": 1.0})
    with pytest.raises(ValueError):  # what a W&B script catches
        run.log({"img": arty.Image(np.zeros((4, 4), np.uint8), boxes={"p": {"box_data": [{}]}})})
    run.log({"loss": 0.5})
    run.finish()
    assert [r["loss"] for r in arty.Api(local_store, "p").run(run.path).history()] == [1.0, 0.5]


# -- tables, gc, push, verify -------------------------------------------------------------------------


def _one_of_each(tmp_path) -> dict:
    obj = tmp_path / "cube.obj"
    obj.write_text("v 0 0 0\n")
    pdb = tmp_path / "m.pdb"
    pdb.write_text("END\n")
    return {
        "audio": arty.Audio(np.zeros(100), sample_rate=100),
        "video": arty.Video(np.zeros((2, 1, 4, 4), np.uint8)),
        "html": arty.Html("<p>x</p>"),
        "object3d": arty.Object3D(np.zeros((3, 3))),
        "object3d_file": arty.Object3D(str(obj)),
        "molecule": arty.Molecule(str(pdb)),
        "plotly": arty.Plotly({"data": []}),
        "mask": arty.Image(np.zeros((4, 4), np.uint8), masks={"m": {"mask_data": np.eye(4, dtype=np.uint8)}}),
    }


def test_media_cells_in_tables_are_stored_and_read_back(local_store, tmp_path):
    values = _one_of_each(tmp_path)
    table = arty.Table(columns=["kind", "value"], allow_mixed_types=True)
    for k, v in values.items():
        table.add_data(k, v)
    r, row = log_and_read(local_store, {"t": table})
    cells = dict(r.table(row["t"]).data)
    assert {k: c["_type"] for k, c in cells.items()} == {
        "audio": "audio", "video": "video", "html": "html", "object3d": "object3d", "object3d_file": "object3d",
        "molecule": "molecule", "plotly": "plotly", "mask": "image"}
    assert r.media_bytes(cells["html"]) == b"<p>x</p>"
    mask_digest = cells["mask"]["masks"]["m"]["digest"]
    assert mask_digest in row["t"]["blobs"]  # so gc and push find an image cell's masks too
    assert set(row["t"]["blobs"]) == {c["digest"] for c in cells.values()} | {mask_digest}


def _age_all_blobs(store) -> None:
    for d in store.iter_blobs():
        os.utime(store.backend.local_path(f"objects/{d.hex[:2]}/{d.hex[2:]}"), (1, 1))


@pytest.mark.parametrize("kind", ["audio", "video", "html", "object3d", "object3d_file", "molecule", "plotly",
                                  "mask", "table-cell"])
def test_gc_keeps_the_blob_of_each_media_type(local_store, tmp_path, kind):
    from arty.artifacts.gc import collect

    values = _one_of_each(tmp_path)
    if kind == "table-cell":
        value = arty.Table(columns=["a"], data=[[values["audio"]]])
    else:
        value = values[kind]
    r, row = log_and_read(local_store, {"v": value})
    v = row["v"]
    named = {Digest.parse(v["digest"])} | {Digest.parse(d) for d in v.get("blobs", [])}
    assert len(named) == (2 if kind in ("mask", "table-cell") else 1)
    stray = local_store.put_bytes(b"nothing names this")
    _age_all_blobs(local_store)
    plan, _ = collect(local_store, grace=60)
    assert {d for d, _ in plan.blobs} == {stray}
    assert all(local_store.has_blob(d) for d in named)


@pytest.mark.usefixtures("loose_blobs")  # damages objects/ files one by one
def test_push_carries_and_verify_checks_every_media_blob(local_store, tmp_path):
    from arty.artifacts.transfer import apply, plan_transfer
    from arty.artifacts.verify import verify_store
    from arty.store import init_store

    run = start(local_store)
    run.log(_one_of_each(tmp_path))
    model = arty.Artifact("model", type="model")
    model.add(arty.Table(columns=["x"], data=[[0]]), "evals")
    run.log_artifact(model)
    run.finish()
    row = arty.Api(local_store, "p").run(run.path).history()[0]
    named = {Digest.parse(d) for v in row.values() if isinstance(v, dict) and "digest" in v
             for d in [v["digest"]] + v.get("blobs", [])}
    assert len(named) == 9  # eight values, one with a mask
    other, _ = init_store(str(tmp_path / "other"))
    apply(plan_transfer(local_store, other, "p", "model"))
    assert all(other.has_blob(d) for d in named)
    assert verify_store(other) == []
    gone = Digest.parse(row["audio"]["digest"])
    os.unlink(other.backend.local_path(f"objects/{gone.hex[:2]}/{gone.hex[2:]}"))
    problems = verify_store(other)
    assert [(p.kind, p.subject) for p in problems] == [("missing", str(gone))]


def test_summary_refuses_the_new_types_with_a_warning(local_store):
    run = start(local_store)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run.summary["clip"] = arty.Audio(np.zeros(10), sample_rate=10)
    run.finish()
    assert any("cannot keep an audio in the summary" in str(w.message) for w in caught)
    assert "clip" not in arty.Api(local_store, "p").run(run.path).summary
