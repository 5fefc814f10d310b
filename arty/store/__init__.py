"""The store layer: blobs, records, logs and the journal over fsspec backends."""

from arty.store.backends import Backend, FsspecBackend, LocalBackend, UriReader, is_local_uri, open_backend
from arty.store.store import Store, encode_json, init_store, now_iso, open_store, open_store_backend

__all__ = ["Backend", "FsspecBackend", "LocalBackend", "Store", "UriReader", "encode_json", "init_store",
           "is_local_uri", "now_iso", "open_backend", "open_store", "open_store_backend"]
