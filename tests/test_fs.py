"""``arty://``: the read-only fsspec filesystem over versions (arty.artifacts.fs), with pandas,
pyarrow and fsspec itself, on a local store and on S3 (a real S3-compatible server).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from arty.artifacts import Artifact, Registry
from arty.artifacts.fs import ArtyFileSystem
from arty.errors import IntegrityError, InvalidPath, UsageError
from arty.hashing import StatCache
from arty.store import init_store, layout
from conftest import make_tree
from faults import CountingBackend

pd = pytest.importorskip("pandas")
pa = pytest.importorskip("pyarrow")
import pyarrow.dataset as ds  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIG = 5 * 1024 * 1024 + 123  # several default blocks


def _publish(url: str, tmp_path, alias: str = "prod") -> Registry:
    """A version of 'data' holding a CSV, two parquet files under tables/, a big binary."""
    store, _ = init_store(url)
    src = tmp_path / "src"
    make_tree(src, {"train.csv": "x,y\n1,2\n3,4\n", "notes/readme.txt": "hello",
                    "big.bin": bytes(range(256)) * (BIG // 256) + b"!" * (BIG % 256)})
    os.makedirs(src / "tables" / "2024")
    pq.write_table(pa.table({"a": [1, 2, 3], "b": ["x", "y", "z"]}), src / "tables" / "part-0.parquet")
    pq.write_table(pa.table({"a": [4, 5], "b": ["u", "v"]}), src / "tables" / "2024" / "part-1.parquet")
    reg = Registry(store, "default", StatCache(":memory:"))
    draft = Artifact("data", type="dataset")
    draft.add_dir(str(src))
    reg.log(draft, aliases=[alias])
    return reg


def _big() -> bytes:
    return bytes(range(256)) * (BIG // 256) + b"!" * (BIG % 256)


@pytest.fixture(params=["local", "s3"])
def published(request, tmp_path):
    if request.param == "local":
        url = str(tmp_path / "store")
    else:
        server = request.getfixturevalue("s3")
        url = f"s3://{server.make_bucket()}/store"
    _publish(url, tmp_path)
    return url


def _fs(url: str, **kw) -> ArtyFileSystem:
    return ArtyFileSystem(store=url, skip_instance_cache=True, **kw)


# -- registration -------------------------------------------------------------------------------


def test_the_entry_point_in_pyproject_names_the_filesystem():
    import tomllib

    with open(os.path.join(REPO, "pyproject.toml"), "rb") as f:
        spec = tomllib.load(f)["project"]["entry-points"]["fsspec.specs"]["arty"]
    module, _, attr = spec.partition(":")
    import importlib

    assert getattr(importlib.import_module(module), attr) is ArtyFileSystem


def test_fsspec_discovers_arty_through_its_entry_point(tmp_path):
    """What ``pip install`` writes (a dist-info with entry_points.txt), built from pyproject's
    entry point; fsspec must find the protocol there, in a fresh interpreter."""
    import tomllib

    with open(os.path.join(REPO, "pyproject.toml"), "rb") as f:
        spec = tomllib.load(f)["project"]["entry-points"]["fsspec.specs"]["arty"]
    info = tmp_path / "site" / "arty_entry_check-0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: arty-entry-check\nVersion: 0\n")
    (info / "entry_points.txt").write_text(f"[fsspec.specs]\narty = {spec}\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path / "site"), os.environ.get("PYTHONPATH", "")]))
    code = ("import fsspec; cls = fsspec.get_filesystem_class('arty'); "
            "print(cls.__module__ + '.' + cls.__name__)")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "arty.artifacts.fs.ArtyFileSystem"


# -- listing -----------------------------------------------------------------------------------------


def test_ls_glob_find_info_exists_isdir(published):
    fs = _fs(published)
    assert fs.ls("", detail=False) == ["data:latest"]
    assert fs.ls("data:prod", detail=False) == ["data:prod/big.bin", "data:prod/notes", "data:prod/tables",
                                                "data:prod/train.csv"]
    assert fs.ls("arty://default/data:v0/notes", detail=False) == ["default/data:v0/notes/readme.txt"]
    assert fs.glob("data:prod/**/*.parquet") == ["data:prod/tables/2024/part-1.parquet",
                                                 "data:prod/tables/part-0.parquet"]
    assert fs.find("data:v0/tables") == ["data:v0/tables/2024/part-1.parquet", "data:v0/tables/part-0.parquet"]
    info = fs.info("data:prod/train.csv")
    assert (info["type"], info["size"]) == ("file", 12) and info["digest"].startswith("xxh128:")
    assert fs.info("data:prod/tables")["type"] == "directory"
    assert fs.info("data:prod")["version"] == "data:v0"
    assert fs.isdir("data:prod/notes") and not fs.isdir("data:prod/train.csv")
    assert fs.isfile("data:prod/train.csv")
    assert fs.exists("data:prod/notes/readme.txt") and not fs.exists("data:prod/nope.txt")
    assert fs.size("data:prod/big.bin") == BIG


# -- reading with pandas, pyarrow, fsspec -------------------------------------------------------------


def test_pandas_pyarrow_and_fsspec_read_in_place(published, tmp_path):
    import fsspec

    fsspec.register_implementation("arty", ArtyFileSystem, clobber=True)  # as the entry point does
    opts = {"store": published, "skip_instance_cache": True}
    df = pd.read_csv("arty://data:prod/train.csv", storage_options=opts)
    assert df.to_dict("list") == {"x": [1, 3], "y": [2, 4]}
    with fsspec.open("arty://data:prod/notes/readme.txt", "rb", **opts) as f:
        assert f.read() == b"hello"
    fs = _fs(published)
    table = ds.dataset("data:prod/tables/", format="parquet", filesystem=fs).to_table()
    assert sorted(table.column("a").to_pylist()) == [1, 2, 3, 4, 5]
    from pyarrow.fs import FSSpecHandler, PyFileSystem

    one = pq.read_table("data:prod/tables/part-0.parquet", filesystem=PyFileSystem(FSSpecHandler(fs)))
    assert one.column("b").to_pylist() == ["x", "y", "z"]
    assert pd.read_parquet("arty://data:prod/tables/2024/part-1.parquet", storage_options=opts)["a"].tolist() == [4, 5]
    assert not os.path.exists(tmp_path / "artifacts")  # nothing was downloaded


def test_random_access_reads(published):
    fs = _fs(published, block_size=1024 * 1024)
    big = _big()
    with fs.open("data:prod/big.bin") as f:
        f.seek(3 * 1024 * 1024 - 10)
        assert f.read(20) == big[3 * 1024 * 1024 - 10:3 * 1024 * 1024 + 10]  # across two blocks
        f.seek(-5, 2)
        assert f.read() == big[-5:]
        f.seek(7)
        assert f.read(3) == big[7:10]
    assert fs.cat_file("data:prod/big.bin", 100, 200) == big[100:200]
    assert fs.cat_file("data:prod/big.bin", -3) == big[-3:]
    assert fs.cat_file("data:prod/train.csv", 0, 3) == b"x,y"
    assert fs.cat_file("data:prod/big.bin") == big


def test_a_ranged_read_on_s3_fetches_only_its_blocks(s3, tmp_path):
    url = f"s3://{s3.make_bucket()}/store"
    _publish(url, tmp_path)
    fs = _fs(url, block_size=256 * 1024)
    counting = CountingBackend(fs.arty_store.backend)
    fs.arty_store.backend = counting
    fs.info("data:prod/big.bin")  # resolving reads records and manifest nodes, not the blob
    counting.reads.clear()
    with fs.open("data:prod/big.bin") as f:
        f.seek(4 * 1024 * 1024)
        assert f.read(1000) == _big()[4 * 1024 * 1024:4 * 1024 * 1024 + 1000]
        f.seek(4 * 1024 * 1024 + 50)
        f.read(100)  # the same block again: from the cache
    fetched = sum(n for _, n in counting.reads)
    assert len(counting.reads) == 1 and fetched == 256 * 1024, counting.reads  # one block of a 5 MiB blob


# -- verification ----------------------------------------------------------------------------------------


@pytest.mark.usefixtures("loose_blobs")  # damages objects/ files one by one
def test_whole_reads_are_verified_and_partial_ones_cannot_be(tmp_path):
    url = str(tmp_path / "store")
    reg = _publish(url, tmp_path)
    v = reg.resolve("data:prod")
    small, big = v.get_entry("train.csv"), v.get_entry("big.bin")
    reg.store.backend.write(layout.blob(small.digest), b"x,y\n6,6\n3,4\n")  # same size, other bytes
    bad = bytearray(_big())
    bad[-1] = 0
    reg.store.backend.write(layout.blob(big.digest), bytes(bad))
    fs = _fs(url, block_size=1024 * 1024)
    with pytest.raises(IntegrityError, match=str(small.digest)):
        fs.cat_file("data:prod/train.csv")
    with pytest.raises(IntegrityError, match=str(small.digest)):
        fs.cat_file("data:prod/train.csv", 0, 2)  # a file within one block is always read whole
    with pytest.raises(IntegrityError, match=str(big.digest)):
        fs.cat_file("data:prod/big.bin")
    with fs.open("data:prod/big.bin") as f:  # read from start to end: hashed as it goes
        f.read(BIG - 10)
        with pytest.raises(IntegrityError, match="is corrupt"):
            f.read()
    assert fs.cat_file("data:prod/big.bin", 0, 100) == _big()[:100]  # a part of a big blob: not checkable


# -- bad references -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path, error, message", [
    ("nosuch:v0/a.csv", FileNotFoundError, "artifact 'nosuch' not found in project 'default'"),
    ("data:v9/a.csv", FileNotFoundError, "artifact 'data:v9' not found (versions: v0)"),
    ("data:staging/a.csv", FileNotFoundError, "alias 'staging' of artifact 'data' not found"),
    ("data:prod/nope.csv", FileNotFoundError, "no file or folder 'nope.csv' in artifact 'data:v0'"),
    ("data:prod/train.csv/x", FileNotFoundError, "no file or folder 'train.csv/x'"),
    ("data/train.csv", FileNotFoundError, "names no version"),
    ("data:prod/../secret", InvalidPath, "'..'"),
    ("data:prod/a//b", InvalidPath, "empty part"),
    ("bad name:v0/x", UsageError, "invalid"),
])
def test_bad_references_give_clear_errors(tmp_path, path, error, message):
    url = str(tmp_path / "store")
    _publish(url, tmp_path)
    fs = _fs(url)
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        fs.info(path)
    with pytest.raises(error):
        fs.cat_file(path)
    if error is FileNotFoundError:
        assert not fs.exists(path)
        with pytest.raises(FileNotFoundError):
            pd.read_csv(f"arty://{path}", storage_options={"store": url, "skip_instance_cache": True})


def test_read_only_and_folders_are_not_files(tmp_path):
    url = str(tmp_path / "store")
    _publish(url, tmp_path)
    fs = _fs(url)
    with pytest.raises(PermissionError, match="read-only"):
        fs.open("data:prod/new.csv", "wb")
    with pytest.raises(IsADirectoryError):
        fs.cat_file("data:prod/notes")


def test_aliases_are_resolved_again_and_open_files_keep_their_version(tmp_path):
    url = str(tmp_path / "store")
    reg = _publish(url, tmp_path)
    fs = _fs(url)
    f = fs.open("data:prod/train.csv")
    make_tree(tmp_path / "v1", {"train.csv": "x,y\n9,9\n"})
    draft = Artifact("data", type="dataset")
    draft.add_dir(str(tmp_path / "v1"))
    reg.log(draft, aliases=["prod"])
    assert fs.cat_file("data:v1/train.csv") == b"x,y\n9,9\n"
    assert fs.cat_file("data:prod/train.csv") == b"x,y\n1,2\n3,4\n"  # within ref_ttl: the version seen before
    fs.invalidate_cache()
    assert fs.cat_file("data:prod/train.csv") == b"x,y\n9,9\n"
    assert f.read() == b"x,y\n1,2\n3,4\n"  # opened on v0
    assert _fs(url, ref_ttl=0).cat_file("data:latest/train.csv") == b"x,y\n9,9\n"


def test_store_from_the_environment_and_project_qualified_paths(tmp_path, monkeypatch):
    url = str(tmp_path / "store")
    _publish(url, tmp_path)
    monkeypatch.setenv("ARTY_STORE", url)
    import fsspec

    fsspec.register_implementation("arty", ArtyFileSystem, clobber=True)
    with fsspec.open("arty://default/data:prod/train.csv", skip_instance_cache=True) as f:
        assert f.read().startswith(b"x,y")
    monkeypatch.setenv("ARTY_STORE", str(tmp_path / "other"))  # another store: another instance
    with pytest.raises(Exception, match="no store at"):
        fsspec.filesystem("arty")
