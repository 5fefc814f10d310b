"""Images, tables and histograms: logged in runs, stored as blobs, read back; tables in artifacts."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

import arty
from arty.artifacts.tables import decode_table
from arty.errors import MissingExtra, NotFound, UsageError
from arty.hashing import Digest
from arty.tracking import media
from arty.tracking.local import sync_all
from arty.tracking.media import read_table

PIL = pytest.importorskip("PIL.Image")


def start(store, **opts):
    opts.setdefault("project", "p")
    return arty.init(store=store.url, console=False, system_metrics=False, code=False, **opts)


def decode_png(data: bytes) -> np.ndarray:
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    return np.asarray(PIL.open(io.BytesIO(data)))


def log_and_read(store, data: dict, **opts) -> tuple[arty.Run, dict]:
    run = start(store, **opts)
    run.log(data)
    run.finish()
    api = arty.Api(store, "p")
    return run, api.run(run.path).history()[0]


# -- histograms ---------------------------------------------------------------------------


def test_histogram_of_a_sequence_keeps_counts_and_edges():
    values = np.random.default_rng(0).normal(size=1000)
    h = arty.Histogram(values, num_bins=16)
    j = h.to_json()
    assert j["_type"] == "histogram"
    assert len(j["bins"]) == 17 and len(j["values"]) == 16
    assert sum(j["values"]) == 1000
    assert j["bins"][0] == pytest.approx(values.min()) and j["bins"][-1] == pytest.approx(values.max())
    assert arty.Histogram([1, 2, 2, 3], num_bins=2).to_json()["values"] == [1, 3]
    assert arty.Histogram([5.0, 5.0]).to_json()["values"][32] == 2  # constant data: one bin around it


def test_histogram_from_np_histogram():
    counts, edges = np.histogram([1, 2, 3, 3], bins=3)
    j = arty.Histogram(np_histogram=(counts, edges)).to_json()
    assert j["values"] == [1, 1, 2] and j["bins"] == pytest.approx(edges.tolist())


def test_histogram_of_a_torch_tensor_matches_numpy():
    torch = pytest.importorskip("torch")
    t = torch.randn(50, 20)
    h = arty.Histogram(t, num_bins=10).to_json()
    ref_counts, ref_edges = np.histogram(t.numpy().ravel(), bins=10)
    assert sum(h["values"]) == 1000
    assert h["bins"] == pytest.approx(ref_edges.tolist(), rel=1e-5)
    assert sum(abs(a - b) for a, b in zip(h["values"], ref_counts.tolist())) <= 4  # float32 binning at edges
    assert sum(arty.Histogram(torch.arange(10), num_bins=5).to_json()["values"]) == 10


def test_histogram_leaves_out_nan_with_a_warning():
    with pytest.warns(RuntimeWarning, match="2 NaN or infinite values left out"):
        h = arty.Histogram([1.0, float("nan"), 2.0, float("inf")], num_bins=2)
    assert sum(h.to_json()["values"]) == 2


def test_histogram_of_nan_only_data_is_dropped_from_the_row_not_the_run(local_store):
    with pytest.warns(RuntimeWarning, match="no finite value"):
        h = arty.Histogram(np.full(10, np.nan))
    assert h.empty
    with pytest.warns(RuntimeWarning, match="histogram has no finite value for key 'grads'"):
        _, row = log_and_read(local_store, {"grads": h, "loss": 0.5})
    assert "grads" not in row and row["loss"] == 0.5


@pytest.mark.parametrize("kwargs, match", [
    ({"sequence": [1, 2], "num_bins": 0}, "invalid num_bins"),
    ({"sequence": [1, 2], "num_bins": 10_000}, "invalid num_bins"),
    ({}, "either a sequence or np_histogram"),
    ({"sequence": [1], "np_histogram": ([1], [0, 1])}, "either a sequence or np_histogram"),
    ({"np_histogram": ([1, 2], [0, 1])}, "2 counts need 3 edges"),
    ({"np_histogram": ([1], [1, 0])}, "ascending"),
    ({"sequence": ["a", "b"]}, "cannot make a histogram of values of type"),
    ({"sequence": [1 + 2j]}, "cannot make a histogram of values of type"),
])
def test_histogram_bad_input_is_a_clear_error(kwargs, match):
    with pytest.raises(UsageError, match=match):
        arty.Histogram(**kwargs)


# -- images ---------------------------------------------------------------------------------


@pytest.mark.parametrize("array, expected", [
    (np.arange(12, dtype=np.uint8).reshape(3, 4), np.arange(12, dtype=np.uint8).reshape(3, 4)),
    (np.full((3, 4, 1), 7, np.uint8), np.full((3, 4), 7, np.uint8)),
    (np.full((3, 4, 3), 9, np.uint8), np.full((3, 4, 3), 9, np.uint8)),
    (np.full((3, 4, 4), 200, np.uint8), np.full((3, 4, 4), 200, np.uint8)),
    (np.ones((3, 3, 5), np.float32) * 0.5, np.full((3, 5, 3), 128, np.uint8)),  # CHW float in [0, 1]
    (np.ones((3, 4), bool), np.full((3, 4), 255, np.uint8)),
    (np.array([[-5, 300]], np.int16), np.array([[0, 255]], np.uint8)),  # other ints are clipped
    (np.array([[0.0, 100.0]]), np.array([[0, 100]], np.uint8)),  # floats above 1 are taken as 0..255
])
def test_image_from_arrays_round_trips_as_png(local_store, array, expected):
    _, row = log_and_read(local_store, {"img": arty.Image(array, caption="c")})
    v = row["img"]
    assert v["_type"] == "image" and v["format"] == "png" and v["caption"] == "c"
    assert (v["height"], v["width"]) == expected.shape[:2]
    data = local_store.read_blob(Digest.parse(v["digest"]))
    np.testing.assert_array_equal(decode_png(data), expected)


def test_image_from_pil_path_and_torch(local_store, tmp_path):
    torch = pytest.importorskip("torch")
    pil = PIL.fromarray(np.full((5, 6, 3), 40, np.uint8))
    png_path = tmp_path / "a.png"
    pil.save(png_path)
    jpg_path = tmp_path / "a.jpg"
    pil.save(jpg_path, quality=95)
    run, row = log_and_read(local_store, {
        "pil": arty.Image(pil), "png": arty.Image(str(png_path)), "jpg": arty.Image(jpg_path),
        "cmyk": arty.Image(pil.convert("CMYK")), "torch": arty.Image(torch.zeros(3, 5, 6))})
    for key in ("pil", "png", "jpg", "cmyk", "torch"):
        assert (row[key]["width"], row[key]["height"]) == (6, 5), key
    blob = local_store.read_blob(Digest.parse(row["png"]["digest"]))
    assert blob == png_path.read_bytes()  # a PNG file is stored as it is
    jpg = decode_png(local_store.read_blob(Digest.parse(row["jpg"]["digest"])))  # converted to PNG
    assert abs(int(jpg[0, 0, 0]) - 40) <= 2
    assert decode_png(local_store.read_blob(Digest.parse(row["torch"]["digest"]))).max() == 0


@pytest.mark.parametrize("data, match", [
    (np.zeros((2, 3, 4, 5), np.uint8), r"unsupported image shape \(2, 3, 4, 5\)"),
    (np.zeros((5, 5, 5), np.uint8), r"unsupported image shape \(5, 5, 5\)"),
    (np.zeros(5, np.uint8), r"unsupported image shape \(5,\)"),
    (np.zeros((4, 4), np.complex64), "unsupported image dtype 'complex64'"),
    (np.array([["a", "b"]]), "unsupported image dtype"),
    (np.zeros((0, 4), np.uint8), "image of size 4x0 is empty"),
    ("no-such-file.png", "image file 'no-such-file.png' not found"),
    (object(), "unsupported image"),
])
def test_image_bad_input_is_a_clear_error(data, match):
    with pytest.raises(UsageError, match=match):
        arty.Image(data)


def test_image_file_that_is_not_an_image_is_a_clear_error(tmp_path):
    (tmp_path / "x.png").write_text("hello")
    with pytest.raises(UsageError, match="is not an image Pillow can read"):
        arty.Image(str(tmp_path / "x.png"))


def test_image_with_nan_pixels_warns_and_is_stored(local_store):
    arr = np.full((2, 2), 0.5)
    arr[0, 0] = np.nan
    with pytest.warns(RuntimeWarning, match="NaN pixels"):
        _, row = log_and_read(local_store, {"img": arty.Image(arr)})
    png = decode_png(local_store.read_blob(Digest.parse(row["img"]["digest"])))
    assert png[0, 0] == 0 and png[1, 1] == 128


def test_identical_images_are_stored_once_and_lists_keep_order(local_store):
    a = np.random.default_rng(1).integers(0, 255, (16, 16, 3), dtype=np.uint8)
    b = np.zeros((8, 8), np.uint8)
    run = start(local_store)
    for step in range(5):
        run.log({"img": arty.Image(a), "gallery": [arty.Image(a, caption="a"), arty.Image(b, caption="b")]})
    run.finish()
    assert len(os.listdir(os.path.join(run.dir, "blobs", "xxh128"))) == 2
    rows = arty.Api(local_store, "p").run(run.path).history()
    assert len({r["img"]["digest"] for r in rows}) == 1
    assert [v["caption"] for v in rows[3]["gallery"]] == ["a", "b"]
    assert rows[0]["gallery"][0]["digest"] == rows[0]["img"]["digest"]
    blobs = [d for d in local_store.iter_blobs() if local_store.read_blob(d).startswith(b"\x89PNG")]
    assert len(blobs) == 2


def test_media_stay_out_of_the_summary(local_store):
    run = start(local_store)
    run.log({"img": arty.Image(np.zeros((2, 2), np.uint8)), "h": arty.Histogram([1, 2]), "acc": 0.5})
    run.summary["best_h"] = arty.Histogram([1, 2, 3], num_bins=3)
    with pytest.warns(RuntimeWarning, match="cannot keep an image in the summary"):
        run.summary["best_img"] = arty.Image(np.zeros((2, 2), np.uint8))
    run.finish()
    summary = arty.Api(local_store, "p").run(run.path).summary
    assert summary["acc"] == 0.5 and "img" not in summary and "h" not in summary and "best_img" not in summary
    assert summary["best_h"]["values"] == [1, 1, 1]


def test_media_logged_at_explicit_steps_stay_out_of_the_summary(local_store):
    # log(step=N) leaves the row pending; a larger step commits it and starts the next one:
    # each row's media must stay out of the summary (finish() used to fail on an Image in it)
    run = start(local_store)
    for step in (0, 2, 4):
        run.log({"img": arty.Image(np.full((2, 2), step, np.uint8)), "acc": step / 10}, step=step)
    run.log({"loss": 0.1}, step=5)
    run.log({"img": arty.Image(np.zeros((2, 2), np.uint8))}, step=7)
    run.finish()
    api_run = arty.Api(local_store, "p").run(run.path)
    assert api_run.state == "finished"
    assert api_run.summary["acc"] == 0.4 and api_run.summary["loss"] == 0.1 and "img" not in api_run.summary
    assert [r["_step"] for r in api_run.history() if "img" in r] == [0, 2, 4, 7]


class BrokenImage(arty.Image):
    """An image whose encoding fails in the background (like a full disk would)."""

    def png_bytes(self) -> bytes:
        raise OSError("no space left on device")


def test_an_image_that_fails_to_encode_is_dropped_with_a_warning_and_the_run_goes_on(local_store):
    run = start(local_store)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run.log({"bad": BrokenImage(np.zeros((2, 2), np.uint8)), "loss": 1.0,
                 "mixed": [BrokenImage(np.zeros((2, 2), np.uint8)), arty.Image(np.ones((2, 2), np.uint8))]})
        run.log({"loss": 0.5})
        run.finish()
    assert any("image not logged: no space left on device" in str(w.message) for w in caught)
    rows = arty.Api(local_store, "p").run(run.path).history()
    assert "bad" not in rows[0] and rows[0]["loss"] == 1.0 and len(rows[0]["mixed"]) == 1
    assert rows[1]["loss"] == 0.5
    assert run.state == "finished"


def test_images_beyond_the_memory_bound_are_encoded_in_the_callers_thread(local_store, monkeypatch):
    monkeypatch.setattr(media, "MAX_PENDING_BYTES", 10)
    run = start(local_store)
    img = arty.Image(np.zeros((4, 4), np.uint8))
    run.log({"img": img})
    assert img._json is not None  # encoded before log() returned
    run.finish()
    assert arty.Api(local_store, "p").run(run.path).history()[0]["img"]["width"] == 4


def test_offline_media_blobs_wait_locally_and_sync_uploads_them_first(local_store):
    run = start(local_store, mode="offline")
    run.log({"img": arty.Image(np.full((3, 3), 5, np.uint8)),
             "t": arty.Table(columns=["a"], data=[[1], [2]])})
    run.finish()
    digest = Digest.parse(sorted(os.listdir(os.path.join(run.dir, "blobs", "xxh128")))[0].join(["xxh128:", ""]))
    assert not local_store.has_blob(digest)
    results = sync_all(local_store)
    assert [r[3] for r in results] == [None]
    row = arty.Api(local_store, "p").run(run.path).history()[0]
    assert decode_png(local_store.read_blob(Digest.parse(row["img"]["digest"])))[0, 0] == 5
    assert read_table(local_store, row["t"]) == (["a"], [[1], [2]], 2)


# -- tables -------------------------------------------------------------------------------------


ROWS = [[1, "cat", 0.9], [2, "dog", None], [3, "cat", float("nan")], [4, None, 1]]


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_table_logged_in_a_run_reads_back_in_pages(local_store, fmt):
    _, row = log_and_read(local_store, {"preds": arty.Table(columns=["id", "label", "score"], data=ROWS,
                                                            format=fmt)})
    v = row["preds"]
    assert v == {"_type": "table", "digest": v["digest"], "format": fmt, "columns": ["id", "label", "score"],
                 "nrows": 4}
    cols, rows, total = read_table(local_store, v)
    assert cols == ["id", "label", "score"] and total == 4
    assert rows[0] == [1, "cat", 0.9] and rows[1] == [2, "dog", None] and rows[3] == [4, None, 1.0]
    assert rows[2][2] != rows[2][2]  # NaN stays NaN
    _, page, total = read_table(local_store, v, offset=1, limit=2)
    assert total == 4 and page[0] == [2, "dog", None] and page[1][:2] == [3, "cat"] and len(page) == 2
    assert read_table(local_store, v, offset=10)[1:] == ([], 4)


def test_table_from_a_dataframe_round_trips(registry):
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"id": [1, 2, 3], "label": ["a", None, "c"], "score": [0.1, 0.2, np.nan],
                       "ok": [True, False, True]})
    table = arty.Table(dataframe=df)
    assert table.columns == ["id", "label", "score", "ok"] and table.column("label") == ["a", None, "c"]
    draft = arty.Artifact("preds", type="eval")
    draft.add(table, "preds")
    version = registry.log(draft).version
    back = version.get("preds")
    assert back == table
    out = back.get_dataframe()
    assert out["id"].tolist() == [1, 2, 3] and out["label"].isna().tolist() == [False, True, False]
    assert out["ok"].tolist() == [True, False, True]


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_table_in_an_artifact(registry, fmt):
    table = arty.Table(columns=["id", "label"], data=[[1, "a"], [2, "b"]], format=fmt)
    draft = arty.Artifact("evals", type="eval")
    draft.add(table, "preds")
    version = registry.log(draft).version
    assert [e.path for e in version.files()] == [f"preds.table.{fmt}"]
    assert version.get("preds").data == [[1, "a"], [2, "b"]]
    assert version.get(f"preds.table.{fmt}") == table
    with pytest.raises(NotFound, match="no table 'other' in artifact"):
        version.get("other")
    again = arty.Artifact("evals", type="eval")
    again.add(arty.Table(columns=["id", "label"], data=[[1, "a"], [2, "b"]], format=fmt), "preds")
    assert registry.log(again).version.number == version.number  # same table, same bytes, same version


def test_adding_something_else_than_a_table_is_an_error():
    with pytest.raises(UsageError, match="cannot add a dict to artifact 'x'"):
        arty.Artifact("x").add({"a": 1}, "preds")


def test_tables_without_pyarrow_are_json_lines(local_store, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # as if pyarrow were not installed
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    table = arty.Table(columns=["a"], data=[[1]])
    assert table.encoded_format() == "jsonl"
    with pytest.raises(MissingExtra, match="needs pyarrow"):
        arty.Table(columns=["a"], data=[[1]], format="parquet").encode()
    _, row = log_and_read(local_store, {"t": table})
    assert row["t"]["format"] == "jsonl" and read_table(local_store, row["t"])[1] == [[1]]


@pytest.mark.parametrize("kwargs, match", [
    ({"columns": ["a", "b"], "data": [[1, "x"], [2, 3]]}, "table column 'b' mixes types: row 1 has int 3 after str"),
    ({"columns": ["a"], "data": [[True], [1]]}, "table column 'a' mixes types"),
    ({"columns": ["a"], "data": [[1, 2]]}, "table row 0 has 2 cells for 1 columns"),
    ({"columns": ["a"], "data": [[{1: 1}]]}, "cannot store a dict with non-string keys"),
    ({"columns": ["a"], "data": [[object()]]}, "cannot store a cell of type object in table column 'a'"),
    ({"columns": ["a"], "data": ["ab"]}, "table row 0 is a str"),
    ({"columns": ["a", "a"], "data": []}, "duplicate table column 'a'"),
    ({"columns": ["a"], "data": 5}, "table data must be a list of rows"),
    ({"columns": ["a"], "data": [[1]], "format": "csv"}, "invalid table format 'csv'"),
])
def test_table_bad_input_is_a_clear_error(kwargs, match):
    with pytest.raises(UsageError, match=match):
        arty.Table(**kwargs)


def test_mixed_number_types_and_nulls_are_one_column():
    t = arty.Table(columns=["x"], data=[[1], [2.5], [None], [np.int64(4)]])
    assert t.data == [[1], [2.5], [None], [4]]
    assert decode_table(t.encode()[1])[1] == [[1.0], [2.5], [None], [4.0]]


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_empty_table_warns_and_keeps_its_columns(local_store, fmt):
    table = arty.Table(columns=["id", "label"], data=[], format=fmt)
    with pytest.warns(RuntimeWarning, match="table with columns id, label has no rows"):
        _, row = log_and_read(local_store, {"t": table})
    assert row["t"]["nrows"] == 0
    assert read_table(local_store, row["t"]) == (["id", "label"], [], 0)


def test_add_data_checks_each_row():
    t = arty.Table(columns=["id", "label"], data=[[1, "a"]])
    t.add_data(2, "b")
    with pytest.raises(UsageError, match="mixes types"):
        t.add_data("three", "c")
    with pytest.raises(UsageError, match="1 cells for 2 columns"):
        t.add_data(3)
    assert t.data == [[1, "a"], [2, "b"]]


def test_read_table_refuses_what_is_not_a_table(local_store):
    with pytest.raises(UsageError, match="not a table value"):
        read_table(local_store, {"_type": "image", "digest": "xxh128:" + "0" * 32})
    with pytest.raises(UsageError, match="invalid table slice"):
        decode_table(arty.Table(columns=["a"], data=[[1]]).encode()[1], offset=-1)


# -- reading back ---------------------------------------------------------------------------------


def test_api_run_lists_media_by_key(local_store):
    run = start(local_store)
    for step in range(3):
        run.log({"loss": 1.0 / (step + 1), "h": arty.Histogram([step, step + 1], num_bins=2)})
        if step % 2 == 0:
            run.log({"img": [arty.Image(np.full((2, 2), step, np.uint8))],
                     "t": arty.Table(columns=["s"], data=[[step]])}, commit=False)
    run.finish()
    r = arty.Api(local_store, "p").run(run.path)
    assert r.media_keys() == ["h", "img", "t"]
    imgs = r.media("img")
    assert [m["step"] for m in imgs] == [1, 3]  # commit=False: merged into the next committed row
    assert decode_png(r.image_bytes(imgs[0]["value"][0]))[0, 0] == 0
    assert [m["value"]["values"] for m in r.media("h")] == [[1, 1], [1, 1], [1, 1]]
    assert r.table(r.media("t")[-1]["value"]).data == [[2]]
    assert r.media("loss") == []
    with pytest.raises(UsageError, match="not an image value"):
        r.image_bytes({"_type": "table"})


def test_import_arty_does_not_import_numpy_or_pillow():
    code = "import sys, arty; print(sorted(m for m in ('numpy', 'PIL', 'pyarrow', 'pandas') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_gc_keeps_the_blobs_that_runs_logged(local_store):
    from arty.artifacts.gc import collect

    run = start(local_store)
    run.log({"img": arty.Image(np.full((3, 3), 1, np.uint8)), "t": arty.Table(columns=["a"], data=[[1]])})
    run.finish()
    row = arty.Api(local_store, "p").run(run.path).history()[0]
    logged = {Digest.parse(row["img"]["digest"]), Digest.parse(row["t"]["digest"])}
    stray = local_store.put_bytes(b"nothing names this")
    for d in local_store.iter_blobs():  # everything is older than the grace period
        os.utime(local_store.backend.local_path(f"objects/{d.hex[:2]}/{d.hex[2:]}"), (1, 1))
    plan, _ = collect(local_store, grace=60)
    assert {d for d, _ in plan.blobs} == {stray}
    assert all(local_store.has_blob(d) for d in logged) and not local_store.has_blob(stray)


def test_push_sends_the_media_of_the_runs_it_copies(local_store, tmp_path):
    from arty.artifacts.transfer import apply, plan_transfer
    from arty.store import init_store

    run = start(local_store)
    run.log({"img": arty.Image(np.full((3, 3), 9, np.uint8)), "t": arty.Table(columns=["a"], data=[[1]])})
    draft = arty.Artifact("model", type="model")
    draft.add(arty.Table(columns=["x"], data=[[0]]), "evals")
    run.log_artifact(draft)
    run.finish()
    other, _ = init_store(str(tmp_path / "other"))
    apply(plan_transfer(local_store, other, "p", "model"))
    row = arty.Api(other, "p").run(run.path).history()[0]
    assert decode_png(other.read_blob(Digest.parse(row["img"]["digest"])))[0, 0] == 9
    assert read_table(other, row["t"])[1] == [[1]]


def test_a_logged_table_does_not_change_with_later_rows(local_store):
    run = start(local_store)
    table = arty.Table(columns=["epoch"], data=[[0]])
    run.log({"t": table})
    table.add_data(1)
    run.log({"t": table})
    run.finish()
    values = [m["value"] for m in arty.Api(local_store, "p").run(run.path).media("t")]
    assert [v["nrows"] for v in values] == [1, 2]
    assert read_table(local_store, values[0])[1] == [[0]]


def test_encoder_accounting_returns_to_zero_when_the_writer_encodes_first():
    blobs: dict = {}
    enc = media.MediaEncoder(lambda d, b: blobs.__setitem__(d, b), workers=1)
    rows = [{"img": arty.Image(np.full((64, 64), i, np.uint8))} for i in range(30)]
    for row in rows:
        enc.submit(row["img"])
    for row in reversed(rows):  # the flush encodes what the worker has not reached yet
        enc.resolve_row(row)
    enc.close()
    assert enc._pending_bytes == 0
    assert len(blobs) == 30 and all(row["img"]["_type"] == "image" for row in rows)


def test_verify_reports_a_missing_image_blob_of_a_run(local_store):
    from arty.artifacts.verify import verify_store
    from arty.store import layout

    img = np.random.default_rng(3).integers(0, 255, (8, 8, 3), dtype=np.uint8)
    run, row = log_and_read(local_store, {"img": arty.Image(img)})
    assert verify_store(local_store) == []
    digest = Digest.parse(row["img"]["digest"])
    os.remove(local_store.backend.local_path(layout.blob(digest)))
    problems = verify_store(local_store)
    assert [(p.kind, p.subject) for p in problems] == [("missing", str(digest))]
    assert f"logged by run 'p/{run.id}'" in problems[0].message
