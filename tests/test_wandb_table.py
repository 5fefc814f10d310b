"""arty.Table against W&B's documentation of wandb.Table (the reference page of
wandb.Table and the "Log tables" guide): constructor arguments, add_data,
add_column, add_computed_columns, get_column(convert_to="numpy"), get_index,
iterrows, get_dataframe, cast, optional, dtype, allow_mixed_types; cells that
hold images, numpy arrays, None and nested lists; a W&B-style script run as a
subprocess and read back through arty.Api()."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import arty
from arty.artifacts.gc import plan_gc
from arty.artifacts.tables import TableShapeError, TableTypeError, table_from_bytes
from arty.errors import UsageError

PIL = pytest.importorskip("PIL.Image")
FORMATS = ["parquet", "jsonl"]


def start(store, **opts):
    opts.setdefault("project", "p")
    return arty.init(store=store.url, console=False, system_metrics=False, code=False, **opts)


def round_trip(table: arty.Table, fmt: str) -> arty.Table:
    table.format = fmt
    return table_from_bytes(table.encode()[1])


# -- constructor -------------------------------------------------------------------------------


def test_columns_default_to_input_output_expected():
    # W&B: columns "Defaults to ["Input", "Output", "Expected"]".
    t = arty.Table()
    assert t.columns == ["Input", "Output", "Expected"] and t.data == []
    t.add_data("x", "y", "z")
    assert t.data == [["x", "y", "z"]]


def test_list_of_rows_and_the_legacy_rows_argument():
    # W&B's guide: Table(columns=["a", "b", "c"], data=[["1a", "1b", "1c"], ["2a", "2b", "2c"]]).
    t = arty.Table(columns=["a", "b", "c"], data=[["1a", "1b", "1c"], ["2a", "2b", "2c"]])
    assert t.data == [["1a", "1b", "1c"], ["2a", "2b", "2c"]] and len(t) == 2
    assert arty.Table(columns=["a"], rows=[[1], [2]]).data == [[1], [2]]


def test_data_may_be_a_2d_numpy_array_or_a_dataframe():
    t = arty.Table(columns=["x", "y"], data=np.arange(6).reshape(3, 2))
    assert t.data == [[0, 1], [2, 3], [4, 5]]
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"a": [1, 2], "b": ["u", "v"]})
    assert arty.Table(data=df).columns == ["a", "b"]
    # W&B: with dataframe, "data and columns arguments are ignored" (Arty says so with a warning).
    with pytest.warns(RuntimeWarning, match="columns and data are ignored"):
        t = arty.Table(columns=["other"], dataframe=df)
    assert t.columns == ["a", "b"] and t.data == [[1, "u"], [2, "v"]]


def test_empty_columns_then_add_column():
    # The form: Table(columns=[], data=[]), then columns added.
    t = arty.Table(columns=[], data=[])
    t.add_column("id", [1, 2, 3])
    t.add_column("label", ["a", "b", "c"])
    assert t.data == [[1, "a"], [2, "b"], [3, "c"]]
    with pytest.raises(UsageError, match="a table needs at least one column"):
        arty.Table(columns=[]).encode()


def test_incremental_log_mode_is_a_clear_error():
    assert arty.Table(columns=["a"], log_mode="MUTABLE").log_mode == "MUTABLE"
    with pytest.raises(UsageError, match="log_mode 'INCREMENTAL' is not supported"):
        arty.Table(columns=["a"], log_mode="INCREMENTAL")


# -- add_data ----------------------------------------------------------------------------------


def test_add_data_with_the_wrong_number_of_values_raises_value_error():
    # W&B: "The length of the data should match the length of the table column"; it raises ValueError.
    t = arty.Table(columns=["a", "b", "c"])
    t.add_data("3a", "3b", "3c")
    with pytest.raises(ValueError, match="table row has 2 cells for 3 columns"):
        t.add_data("4a", "4b")
    with pytest.raises(TableShapeError):
        t.add_data(*["4a", "4b", "4c", "4d"])
    assert t.data == [["3a", "3b", "3c"]]


def test_add_data_checks_column_types_unless_allow_mixed_types():
    # W&B: each column has a fixed type; a row of incompatible types raises TypeError.
    t = arty.Table(columns=["id", "label"])
    t.add_data(1, "cat")
    with pytest.raises(TypeError, match="table column 'id' mixes types: row 1 has str 'two'"):
        t.add_data("two", "dog")
    assert t.data == [[1, "cat"]]  # unchanged
    # allow_mixed_types "disables type validation".
    m = arty.Table(columns=["v"], allow_mixed_types=True)
    for v in (1, "two", [3], {"four": 4}, None):
        m.add_data(v)
    assert m.get_column("v") == [1, "two", [3], {"four": 4}, None]
    for fmt in FORMATS:
        back = round_trip(m, fmt)
        assert back.data == m.data and back.allow_mixed_types


def test_optional_false_refuses_none_per_column():
    # W&B: optional "Determines if None values are allowed"; a bool, or a list with one per column.
    t = arty.Table(columns=["id", "note"], optional=[False, True])
    t.add_data(1, None)
    with pytest.raises(TypeError, match="table column 'id' does not allow None"):
        t.add_data(None, "x")
    with pytest.raises(TypeError, match="does not allow None"):
        arty.Table(columns=["a"], data=[[None]], optional=False)
    with pytest.raises(ValueError, match="2 optional flags for 1 columns"):
        arty.Table(columns=["a"], optional=[True, False])


def test_dtype_declares_column_types():
    t = arty.Table(columns=["n", "s"], dtype=[int, str])
    with pytest.raises(TypeError, match=r"column 'n' mixes types: row 0 has str 'x' in a column of numbers \(declared"):
        t.add_data("x", "y")
    t.add_data(1.5, "y")  # ints and floats are numbers
    img_col = arty.Table(columns=["img"], dtype=arty.Image)
    with pytest.raises(TypeError, match="mixes types"):
        img_col.add_data("not an image")
    img_col.add_data(arty.Image(np.zeros((2, 2), np.uint8)))
    with pytest.raises(UsageError, match="unsupported table dtype"):
        arty.Table(columns=["a"], dtype=complex)


def test_cast_checks_the_cells_a_column_holds():
    t = arty.Table(columns=["a"], data=[[1], [None]])
    with pytest.raises(TypeError, match="does not allow None"):
        t.cast("a", int)  # W&B: optional defaults to False in cast
    t.cast("a", int, optional=True)
    with pytest.raises(TypeError, match="mixes types"):
        t.cast("a", str, optional=True)
    with pytest.raises(TypeError, match="mixes types"):
        t.add_data("x")


def test_add_row_is_the_deprecated_add_data():
    t = arty.Table(columns=["a"])
    with pytest.warns(DeprecationWarning, match="use add_data"):
        t.add_row(1)
    assert t.data == [[1]]


# -- add_column, add_computed_columns --------------------------------------------------------


def test_add_column_takes_a_list_or_a_numpy_array_of_the_tables_length():
    # W&B's guide: table.add_column(name="col_name", data=col_data); len(col_data) must match the rows.
    t = arty.Table(columns=["id"], data=[[1], [2]])
    t.add_column(name="score", data=np.array([0.5, 0.25]))
    t.add_column("emb", np.array([[1, 2], [3, 4]]))
    assert t.data == [[1, 0.5, [1, 2]], [2, 0.25, [3, 4]]]
    with pytest.raises(ValueError, match="column 'x' has 3 cells for a table of 2 rows"):
        t.add_column("x", [1, 2, 3])
    with pytest.raises(ValueError, match="duplicate table column 'id'"):
        t.add_column("id", [1, 2])
    with pytest.raises(TypeError, match="does not allow None"):  # W&B: optional=False by default
        t.add_column("maybe", [1, None])
    with pytest.raises(TypeError, match="mixes types"):
        t.add_column("bad", [1, "x"], optional=True)
    assert t.columns == ["id", "score", "emb"]  # failed calls left nothing behind
    t.add_column("maybe", [1, None], optional=True)
    assert t.get_column("maybe") == [1, None]


def test_add_computed_columns_as_documented():
    # The example in W&B's docs, word for word but for the module name.
    tbl = arty.Table(columns=["user"])
    users = ["geoff", "juergen", "ada"]
    [tbl.add_data(user) for user in users]
    assert tbl.get_column("user") == users

    def get_user_name_length(index, row):
        return {"feature_01": len(row["user"])}

    tbl.add_computed_columns(get_user_name_length)
    assert tbl.get_column("feature_01") == [5, 7, 3]
    seen = []
    tbl.add_computed_columns(lambda ndx, row: seen.append(ndx) or {"twice": row["feature_01"] * 2})
    assert seen == [0, 1, 2] and tbl.get_column("twice") == [10, 14, 6]
    before = tbl.data
    with pytest.raises(TypeError, match="returned a int for row 0"):
        tbl.add_computed_columns(lambda ndx, row: 1)
    with pytest.raises(TypeError, match="mixes types"):
        tbl.add_computed_columns(lambda ndx, row: {"ok": 1, "bad": 1 if ndx else "x"})
    assert tbl.data == before and "ok" not in tbl.columns  # all or nothing


# -- reading: get_column, get_index, iterrows, get_dataframe ---------------------------------


def test_get_column_converts_to_numpy():
    t = arty.Table(columns=["id", "score", "emb"],
                   data=[[1, 0.5, np.array([1.0, 2.0])], [2, 0.25, np.array([3.0, 4.0])]])
    assert t.get_column("score") == [0.5, 0.25]
    scores = t.get_column("score", convert_to="numpy")
    assert isinstance(scores, np.ndarray) and scores.dtype == np.float64 and scores.tolist() == [0.5, 0.25]
    emb = t.get_column("emb", convert_to="numpy")
    assert isinstance(emb, np.ndarray) and emb.shape == (2, 2) and emb[1, 0] == 3.0
    ragged = arty.Table(columns=["r"], data=[[[1]], [[1, 2]]]).get_column("r", convert_to="numpy")
    assert ragged.dtype == object and ragged[1] == [1, 2]
    with pytest.raises(UsageError, match="invalid convert_to 'pandas'"):
        t.get_column("id", convert_to="pandas")
    with pytest.raises(ValueError, match="table has no column 'nope'"):
        t.get_column("nope")


def test_get_index_and_iterrows():
    # W&B's guide: "for ndx, row in table.iterrows(): ..."; get_index returns the row indexes.
    t = arty.Table(columns=["a", "b"], data=[[1, "x"], [2, "y"], [3, "z"]])
    assert t.get_index() == [0, 1, 2]
    assert [(ndx, row) for ndx, row in t.iterrows()] == [(0, [1, "x"]), (1, [2, "y"]), (2, [3, "z"])]
    assert t.index_ref(2) == 2
    with pytest.raises(ValueError, match="table has no row 3"):
        t.index_ref(3)


def test_get_dataframe():
    pd = pytest.importorskip("pandas")
    t = arty.Table(columns=["a", "b"], data=[[1, [1, 2]], [2, None]])
    df = t.get_dataframe()
    assert isinstance(df, pd.DataFrame) and list(df.columns) == ["a", "b"]
    assert df["a"].tolist() == [1, 2] and df["b"][0] == [1, 2]


# -- cells: numpy arrays, None, nested lists, dicts --------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_array_none_nested_list_and_dict_cells_round_trip(fmt):
    arr = np.arange(6, dtype=np.float32).reshape(2, 3)
    t = arty.Table(columns=["id", "arr", "nested", "meta"])
    t.add_data(0, arr, [[1, 2], [3, [4, None]]], {"k": np.int64(7), "tags": ["a", "b"]})
    t.add_data(1, None, None, None)
    t.add_data(np.int32(2), np.zeros(2), [], {})
    arr[0, 0] = 99  # the table kept a copy
    expected = [[0, [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]], [[1, 2], [3, [4, None]]], {"k": 7, "tags": ["a", "b"]}],
                [1, None, None, None],
                [2, [0.0, 0.0], [], {}]]
    assert t.data == expected
    back = round_trip(t, fmt)
    assert back.data == expected and back.columns == t.columns
    back.add_data(3, [1.0], [5], {"x": 1})  # column kinds are known again after reading back
    with pytest.raises(TypeError, match="table column 'arr' mixes types"):
        back.add_data(4, "not a list", [], {})


def test_a_cell_that_cannot_be_stored_is_a_clear_error():
    with pytest.raises(TypeError, match="cannot store a cell of type object in table column 'a'"):
        arty.Table(columns=["a"], data=[[object()]])
    with pytest.raises(TypeError, match="cannot store a Image inside a list or dict"):
        arty.Table(columns=["a"], data=[[[arty.Image(np.zeros((2, 2), np.uint8))]]])


# -- image cells -----------------------------------------------------------------------------


def pixels(v: int) -> np.ndarray:
    return np.full((4, 5, 3), v, np.uint8)


@pytest.mark.parametrize("fmt", FORMATS)
def test_image_cells_are_stored_as_blobs_and_kept_by_gc(local_store, fmt):
    table = arty.Table(columns=["id", "image", "pred"], format=fmt)
    for i in range(3):
        table.add_data(i, arty.Image(pixels(10 * i), caption=f"img {i}"), i % 2)
    table.add_data(3, None, 1)
    run = start(local_store)
    run.log({"preds": table})
    run.finish()
    api_run = arty.Api(local_store, "p").run(run.path)
    value = api_run.media("preds")[0]["value"]
    back = api_run.table(value)
    assert back.columns == ["id", "image", "pred"] and back.get_column("pred") == [0, 1, 0, 1]
    cells = back.get_column("image")
    assert cells[3] is None
    assert [(c["_type"], c["width"], c["height"], c["caption"]) for c in cells[:3]] == \
        [("image", 5, 4, f"img {i}") for i in range(3)]
    for i, cell in enumerate(cells[:3]):
        png = api_run.image_bytes(cell)
        assert np.asarray(PIL.open(io.BytesIO(png)))[0, 0].tolist() == [10 * i] * 3
    assert value["blobs"] == sorted(c["digest"] for c in cells[:3])
    # gc keeps the images a logged table names (their digests are only inside the table blob)
    plan = plan_gc(local_store, now=time.time() + 10 * 24 * 3600, grace=3600)
    assert not {c["digest"] for c in cells[:3]} & {str(d) for d, *_ in plan.blobs}
    # a table read back from a run logs again with the same image cells
    run2 = start(local_store)
    run2.log({"again": back})
    run2.finish()
    again = arty.Api(local_store, "p").run(run2.path).media("again")[0]["value"]
    assert again["blobs"] == value["blobs"] and again["digest"] == value["digest"]


def test_a_table_with_images_in_an_artifact_is_a_clear_error():
    t = arty.Table(columns=["image"], data=[[arty.Image(pixels(1))]])
    with pytest.raises(UsageError, match="a table cell of type Image can only be stored by a run"):
        arty.Artifact("evals", type="eval").add(t, "preds")


# -- a W&B script, run as a user runs it -----------------------------------------------------


WANDB_SCRIPT = """
    import numpy as np
    import arty

    run = arty.init(project="visualize-predictions", name="tables")

    # a table from a list of lists, as W&B's docs log it
    data = [["Cat", "1", "1"], ["Dog", "0", "-1"]]
    run.log({"Table 1": arty.Table(data=data, columns=["Text", "Predicted Label", "True Label"])})

    # predictions on images, added row by row
    columns = ["id", "image", "prediction", "truth", "scores"]
    test_table = arty.Table(columns=columns)
    for img_id in range(4):
        img = np.full((8, 8, 3), img_id * 60, dtype=np.uint8)
        scores = np.array([0.1, 0.9]) if img_id % 2 else np.array([0.8, 0.2])
        test_table.add_data(img_id, arty.Image(img, caption=f"id {img_id}"), int(img_id % 2), 1, scores)
    test_table.add_column("correct", [p == t for p, t in zip(test_table.get_column("prediction"),
                                                             test_table.get_column("truth"))])
    run.log({"test_table": test_table})
    assert test_table.get_column("scores", convert_to="numpy").shape == (4, 2)
    for ndx, row in test_table.iterrows():
        assert row[0] == ndx
    run.finish()
"""


def test_a_wandb_style_script_reaches_the_store(local_store, tmp_path):
    script = tmp_path / "evaluate.py"
    script.write_text(textwrap.dedent(WANDB_SCRIPT))
    env = dict(os.environ, ARTY_STORE=local_store.url, ARTY_SYSTEM_METRICS="0", ARTY_CODE="0")
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    (run,) = arty.Api(local_store, "visualize-predictions").runs()
    assert run.name == "tables" and run.state == "finished"
    t1 = run.table(run.media("Table 1")[0]["value"])
    assert t1.columns == ["Text", "Predicted Label", "True Label"]
    assert t1.data == [["Cat", "1", "1"], ["Dog", "0", "-1"]]
    t2 = run.table(run.media("test_table")[0]["value"])
    assert t2.columns == ["id", "image", "prediction", "truth", "scores", "correct"]
    assert t2.get_column("id") == [0, 1, 2, 3] and t2.get_column("correct") == [False, True, False, True]
    assert t2.get_column("scores") == [[0.8, 0.2], [0.1, 0.9], [0.8, 0.2], [0.1, 0.9]]
    for i, cell in enumerate(t2.get_column("image")):
        assert cell["_type"] == "image" and cell["caption"] == f"id {i}" and (cell["width"], cell["height"]) == (8, 8)
        assert np.asarray(PIL.open(io.BytesIO(run.image_bytes(cell))))[3, 3].tolist() == [i * 60] * 3
