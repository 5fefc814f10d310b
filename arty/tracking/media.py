"""Rich values a run can log: :class:`Image` (with masks and boxes), :class:`Table`,
:class:`Histogram` and :class:`Chart`; W&B's other data types (audio, video, HTML, 3-D
objects, molecules, plotly figures) are in :mod:`arty.tracking.media_files`.

::

    run.log({"examples": [arty.Image(array, caption="step 10")],
             "preds": arty.Table(columns=["id", "label", "score"], data=rows),
             "weights": arty.Histogram(weights, num_bins=64)})

A media value sits in the history row as a JSON dict with a ``_type`` key:

* image: ``{"_type": "image", "digest", "format": "png", "width", "height", "caption"}``;
  the PNG bytes are a blob in the store, so identical images are stored once; masks are
  PNG blobs too (``"masks"``, their digests under ``"blobs"``), boxes JSON (``"boxes"``);
* table: ``{"_type": "table", "digest", "format": "parquet"|"jsonl", "columns", "nrows"}``;
  the table is a blob (see :mod:`arty.artifacts.tables`); media cells are stored as
  blobs first and the table holds their dicts; ``"blobs"`` lists the digests they name;
* histogram: ``{"_type": "histogram", "bins": edges, "values": counts}``, inline;
* chart (:class:`Chart`, made by :mod:`arty.plot`): a table dict as above with a
  ``"chart"`` key, ``{"kind", "title", ...}`` naming the columns to draw; the UI draws it
  above the table. Everything that reads tables (gc, push, verify) reads it unchanged.

Every value stored as blobs is a :class:`BlobMedia`: its dict names its blob in ``digest``
and any further ones in ``blobs``, which is all gc, push and verify need to know.

Constructors check what they are given and raise :class:`UsageError` for what
cannot be stored (an image of an unsupported shape or dtype, a table without
columns or with mixed column types). Data that is merely odd (NaN pixels, NaN or
infinite histogram values) gives a warning. ``run.log`` never raises: an image
or table that fails to encode in the background is dropped with a warning.

Constructors keep only a cheap copy of their input; PNG encoding, hashing and
writing the blob happen in the run's background threads (:class:`MediaEncoder`).
numpy and Pillow are imported on first use, so ``import arty`` stays fast.
"""

from __future__ import annotations

import collections
import io
import os
import threading
import warnings
from typing import Any, Callable, Sequence

from arty.artifacts.tables import Table, load_table, read_table  # the readers: re-exported
from arty.errors import MissingExtra, UsageError
from arty.hashing import DEFAULT_ALGORITHM, Digest, hash_bytes

__all__ = ["BlobMedia", "Chart", "Histogram", "Image", "Media", "MediaEncoder", "Table", "is_media", "load_table",
           "read_table", "resolve"]

#: Histograms have at most this many bins (like W&B's limit).
MAX_BINS = 512
#: PNG compression level: 1 is several times faster than zlib's default and
#: still lossless; the encode runs in the background for every logged image.
PNG_COMPRESS_LEVEL = 1
#: Logged images not yet encoded may hold at most this many bytes of pixels;
#: past it, ``run.log`` encodes in the caller's thread (memory stays bounded).
MAX_PENDING_BYTES = 256 * 1024 * 1024


def _numpy() -> Any:
    try:
        import numpy
    except ImportError as exc:  # pragma: no cover - numpy is in the media extra
        raise MissingExtra("media values need numpy", hint="pip install 'arty[media]'") from exc
    return numpy


def _pil() -> Any:
    try:
        from PIL import Image as PILImage
    except ImportError as exc:
        raise MissingExtra("arty.Image needs Pillow to encode PNG", hint="pip install 'arty[media]'") from exc
    return PILImage


def _warn(message: str, stacklevel: int = 4) -> None:
    warnings.warn(f"arty: {message}", RuntimeWarning, stacklevel=stacklevel)


def _is_torch(x: Any) -> bool:
    return type(x).__module__.split(".")[0] == "torch" and hasattr(x, "detach")


def array_copy(data: Any) -> Any:
    """A numpy copy of ``data`` (an array, a torch tensor, nested lists); TypeError or
    ValueError from numpy when ``data`` is not array-like."""
    if _is_torch(data):
        data = data.detach().cpu().numpy()
    return _numpy().array(data, copy=True)


class Media:
    """Base of the rich values; ``to_json()`` is the dict stored in the history row."""

    #: True when the value needs a blob in the store (encoded in the background).
    needs_blob = False

    def to_json(self) -> dict[str, Any]:  # pragma: no cover - overridden
        raise NotImplementedError


class BlobMedia(Media):
    """A value stored as one or more blobs, encoded once (in the run's background threads).

    Subclasses set :attr:`kind` (the stored ``_type``), call :meth:`_init_blob` in their
    constructor and implement :meth:`_encode`, which writes bytes with ``store(data) ->
    digest string`` and returns the history dict. A dict that names more blobs than its
    ``digest`` lists them under ``"blobs"`` (``art gc``, push and verify read both).
    """

    needs_blob = True
    #: The stored ``_type`` (and the word used in warnings).
    kind = "media"

    def _init_blob(self) -> None:
        self._lock = threading.Lock()
        self._json: dict[str, Any] | None = None
        self._error: str | None = None

    @property
    def nbytes(self) -> int:
        """Bytes held until the value is encoded."""
        return 0

    def _encode(self, store: Callable[[bytes], str]) -> dict[str, Any]:  # pragma: no cover - overridden
        raise NotImplementedError

    def _release(self) -> None:
        """Drop what the constructor held once the blobs are written."""

    def encode(self, put_blob: Callable[[Digest, bytes], None], algorithm: str = DEFAULT_ALGORITHM
               ) -> dict[str, Any] | None:
        """Encode (once), store the blobs with ``put_blob`` and return the history dict;
        None (with a warning) when it cannot be encoded."""

        def store(data: bytes) -> str:
            digest = hash_bytes(data, algorithm)
            put_blob(digest, data)
            return str(digest)

        with self._lock:
            if self._json is None and self._error is None:
                try:
                    out = self._encode(store)
                except Exception as exc:  # noqa: BLE001 - never into the training loop
                    self._error = str(exc) or type(exc).__name__
                    _warn(f"{self.kind} not logged: {self._error}")
                else:
                    self._json = out
                    self._release()
            return self._json

    def to_json(self) -> dict[str, Any]:
        """The history dict; the value must have been encoded (logged) first."""
        if self._json is None:
            raise UsageError(f"{self.kind} not encoded yet", hint=f"log it in a run: run.log({{'key': {self.kind}}})")
        return dict(self._json)


# -- histogram ------------------------------------------------------------------


class Histogram(Media):
    """A histogram of values, computed at construction: only counts and edges are kept.

    ``Histogram(sequence)`` takes a list, a numpy array or a torch tensor (any
    shape; flattened) and bins it into ``num_bins`` equal bins between its
    finite minimum and maximum. NaN and infinities are left out with a warning;
    data with no finite value gives an empty histogram (``empty`` True), which
    ``run.log`` drops with a warning. ``Histogram(np_histogram=(counts, edges))``
    takes what ``numpy.histogram`` returned.
    """

    #: A histogram can be a table cell (see arty.artifacts.tables).
    table_cell_type = "histogram"

    def __init__(self, sequence: Any = None, np_histogram: tuple[Sequence[Any], Sequence[Any]] | None = None,
                 num_bins: int = 64) -> None:
        if isinstance(num_bins, bool) or not isinstance(num_bins, int) or not 1 <= num_bins <= MAX_BINS:
            raise UsageError(f"invalid num_bins {num_bins!r} for a histogram", hint=f"use an int from 1 to {MAX_BINS}")
        if (sequence is None) == (np_histogram is None):
            raise UsageError("a histogram needs either a sequence or np_histogram=(counts, edges)",
                             hint="arty.Histogram(values) or arty.Histogram(np_histogram=numpy.histogram(values))")
        self.bins: list[float]
        self.values: list[int | float]
        if np_histogram is not None:
            self._from_counts(np_histogram)
        elif _is_torch(sequence):
            self._from_torch(sequence, num_bins)
        else:
            self._from_numpy(sequence, num_bins)

    @property
    def empty(self) -> bool:
        """No finite value was given (nothing to plot)."""
        return not self.values

    def _from_counts(self, np_histogram: Any) -> None:
        try:
            counts, edges = np_histogram
            counts = [c.item() if hasattr(c, "item") else c for c in counts]
            edges = [float(e) for e in edges]
        except (TypeError, ValueError) as exc:
            raise UsageError(f"invalid np_histogram for a histogram: {exc}",
                             hint="pass (counts, edges) as returned by numpy.histogram") from None
        if len(edges) != len(counts) + 1 or not counts:
            raise UsageError(f"invalid np_histogram: {len(counts)} counts need {len(counts) + 1} edges, "
                             f"not {len(edges)}", hint="pass (counts, edges) as returned by numpy.histogram")
        if len(counts) > MAX_BINS:
            raise UsageError(f"invalid np_histogram: {len(counts)} bins, at most {MAX_BINS}",
                             hint="compute it with fewer bins")
        if any(isinstance(c, bool) or not isinstance(c, (int, float)) for c in counts):
            raise UsageError("invalid np_histogram: counts must be numbers", hint="pass numpy.histogram's output")
        if any(b < a for a, b in zip(edges, edges[1:])) or not all(e == e and abs(e) != float("inf") for e in edges):
            raise UsageError("invalid np_histogram: edges must be finite and ascending",
                             hint="pass numpy.histogram's output")
        self.values = counts
        self.bins = edges

    def _from_numpy(self, sequence: Any, num_bins: int) -> None:
        np = _numpy()
        try:
            arr = np.asarray(sequence)
        except (TypeError, ValueError) as exc:
            raise UsageError(f"cannot make a histogram of a {type(sequence).__name__}: {exc}",
                             hint="pass a sequence of numbers") from None
        if arr.dtype == bool:
            arr = arr.astype(np.uint8)
        if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
            raise UsageError(f"cannot make a histogram of values of type {arr.dtype}",
                             hint="pass a sequence of real numbers")
        arr = arr.ravel()
        if np.issubdtype(arr.dtype, np.floating):
            finite = np.isfinite(arr)
            if not finite.all():
                dropped = int(arr.size - np.count_nonzero(finite))
                arr = arr[finite]
                _warn(f"histogram: {dropped} NaN or infinite values left out"
                      + (" (no finite value: the histogram is empty)" if arr.size == 0 else ""))
        if arr.size == 0:
            self.values, self.bins = [], []
            return
        counts, edges = np.histogram(arr, bins=num_bins)
        self.values = counts.tolist()
        self.bins = edges.astype(float).tolist()

    def _from_torch(self, tensor: Any, num_bins: int) -> None:
        """Bin on the tensor's own device (no copy of the tensor to the host)."""
        import torch

        t = tensor.detach()
        if t.is_complex() or t.dtype == torch.bool:
            if t.dtype == torch.bool:
                t = t.to(torch.uint8)
            else:
                raise UsageError(f"cannot make a histogram of values of type {t.dtype}",
                                 hint="pass a tensor of real numbers")
        t = t.reshape(-1)
        if not t.is_floating_point():
            t = t.double() if t.numel() and t.abs().max().item() >= 2 ** 24 else t.float()
        elif t.dtype in (torch.float16, torch.bfloat16):
            t = t.float()
        finite = torch.isfinite(t)
        n_finite = int(finite.sum().item())
        if n_finite != t.numel():
            _warn(f"histogram: {t.numel() - n_finite} NaN or infinite values left out"
                  + (" (no finite value: the histogram is empty)" if n_finite == 0 else ""))
            t = t[finite]
        if t.numel() == 0:
            self.values, self.bins = [], []
            return
        lo, hi = t.min().item(), t.max().item()
        if lo == hi:  # numpy's convention for constant data
            lo, hi = lo - 0.5, hi + 0.5
        counts = torch.histc(t, bins=num_bins, min=lo, max=hi)
        self.values = [int(c) for c in counts.cpu().tolist()]
        step = (hi - lo) / num_bins
        self.bins = [lo + i * step for i in range(num_bins)] + [hi]

    def to_json(self) -> dict[str, Any]:
        return {"_type": "histogram", "bins": list(self.bins), "values": list(self.values)}

    def __repr__(self) -> str:
        return f"Histogram({len(self.values)} bins)"


# -- image ------------------------------------------------------------------------

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_PNG_MODES = ("1", "L", "LA", "P", "RGB", "RGBA", "I", "I;16")


class Image(BlobMedia):
    """An image, stored as a PNG blob.

    ``data`` is a numpy array (``HW``, ``HWC`` or ``CHW`` with 1, 3 or 4
    channels), a torch tensor of those shapes, a PIL image, or the path of an
    image file. Arrays may be uint8 (as is), bool, other integers (clipped to
    0..255) or floats (values in [0, 1] scaled to 0..255, larger values taken as
    0..255; NaN becomes 0 with a warning). Other shapes and dtypes raise
    :class:`UsageError`. The constructor keeps a copy of the pixels; converting,
    PNG encoding and hashing happen in the run's background writer.

    ``masks`` and ``boxes`` take W&B's shapes (see :mod:`arty.tracking.overlays`): each
    mask is stored as a PNG blob beside the image, the boxes as JSON in the image's dict;
    ``classes`` (W&B's list of ``{"id", "name"}``) is kept with them. Bad shapes raise
    :class:`arty.tracking.overlays.OverlayError` (a ``UsageError`` and a ``ValueError``).
    """

    kind = "image"
    #: An image can be a table cell: the run stores it and the table holds its dict.
    table_cell_type = "image"

    def __init__(self, data: Any, mode: str | None = None, caption: str | None = None, grouping: int | None = None,
                 classes: Any = None, boxes: Any = None, masks: Any = None, file_type: str | None = None,
                 normalize: bool = True) -> None:
        # W&B's arguments in W&B's order; those Arty cannot honour say so (grouping only
        # arranges W&B's media panel and is ignored).
        if mode is not None:
            raise UsageError(f"image mode '{mode}' is not supported",
                             hint="pass a PIL image converted to that mode, or an array of the channels wanted")
        if file_type not in (None, "png"):
            raise UsageError(f"image file type '{file_type}' is not supported", hint="images are stored as PNG")
        if not normalize:
            raise UsageError("Image(normalize=False) is not supported: float pixels in [0, 1] are scaled to 0..255",
                             hint="pass uint8 pixels to store them as they are")
        self.caption = None if caption is None else str(caption)
        self._init_blob()
        self._array: Any = None  # numpy array (any supported dtype and layout)
        self._pil: Any = None  # a PIL image
        self._png: bytes | None = None  # PNG bytes as read from a file
        if isinstance(data, (str, os.PathLike)):
            self._from_path(os.fspath(data))
        elif type(data).__module__.split(".")[0] == "PIL" and hasattr(data, "save") and hasattr(data, "size"):
            pil = data if data.mode in _PNG_MODES else data.convert("RGBA" if "A" in data.mode else "RGB")
            self._pil = pil.copy()
            self.width, self.height = pil.size
        else:
            self._from_array(data)
        if self.width <= 0 or self.height <= 0:
            raise UsageError(f"image of size {self.width}x{self.height} is empty", hint="an image needs pixels")
        from arty.tracking.overlays import check_boxes, check_classes, check_masks

        self._masks = check_masks(masks, self.width, self.height)  # name -> (mask PNG bytes, class labels)
        self._boxes = check_boxes(boxes)
        self._classes = check_classes(classes)

    def _from_path(self, path: str) -> None:
        try:
            with open(path, "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            raise UsageError(f"image file '{path}' not found", hint="check the path") from None
        except OSError as exc:
            raise UsageError(f"cannot read image file '{path}': {exc.strerror or exc}") from None
        PILImage = _pil()
        try:
            img = PILImage.open(io.BytesIO(raw))
            self.width, self.height = img.size
        except Exception as exc:  # noqa: BLE001 - Pillow raises several kinds
            raise UsageError(f"file '{path}' is not an image Pillow can read: {exc}",
                             hint="use a PNG, JPEG or another common image format") from None
        if raw.startswith(_PNG_MAGIC):
            self._png = raw  # stored as is: no decode, no re-encode
        else:
            img.load()
            self._pil = img if img.mode in _PNG_MODES else img.convert("RGBA" if "A" in img.mode else "RGB")

    def _from_array(self, data: Any) -> None:
        np = _numpy()
        if _is_torch(data):
            t = data.detach()
            if str(t.dtype) == "torch.bfloat16":
                t = t.float()
            arr = np.array(t.cpu().numpy(), copy=True)
        else:
            try:
                arr = np.array(data, copy=True)
            except (TypeError, ValueError) as exc:
                raise UsageError(f"cannot make an image of a {type(data).__name__}: {exc}",
                                 hint="pass a numpy array, a PIL image or a path") from None
        if arr.dtype.kind not in "buif":
            raise UsageError(f"unsupported image dtype '{arr.dtype}'",
                             hint="use uint8 (0..255), bool, integers or floats (0..1)")
        shape = arr.shape
        if arr.ndim == 3 and shape[-1] not in (1, 3, 4) and shape[0] in (1, 3, 4):
            layout = "CHW"
            h, w = shape[1], shape[2]
        elif arr.ndim == 3 and shape[-1] in (1, 3, 4):
            layout = "HWC"
            h, w = shape[0], shape[1]
        elif arr.ndim == 2:
            layout = "HW"
            h, w = shape
        else:
            raise UsageError(f"unsupported image shape {tuple(shape)}",
                             hint="use HW, HWC or CHW with 1, 3 or 4 channels")
        self._array = arr
        self._layout = layout
        self.height, self.width = int(h), int(w)

    @property
    def nbytes(self) -> int:
        """Bytes held until the image is encoded."""
        if self._array is not None:
            return int(self._array.nbytes)
        if self._png is not None:
            return len(self._png)
        return self.width * self.height * 4 if self._pil is not None else 0

    def _pixels_u8(self) -> Any:
        """The array as uint8 HW / HWC (1 channel squeezed)."""
        np = _numpy()
        arr = self._array
        if self._layout == "CHW":
            arr = arr.transpose(1, 2, 0)
        if arr.ndim == 3 and arr.shape[2] == 1:
            arr = arr[:, :, 0]
        kind = arr.dtype.kind
        if kind == "b":
            arr = arr.astype(np.uint8) * 255
        elif kind == "f":
            if not np.isfinite(arr).all():
                if np.isnan(arr).any():
                    _warn("image has NaN pixels; they are stored as 0")
                arr = np.nan_to_num(arr, nan=0.0, posinf=255.0, neginf=0.0)
            if arr.size and arr.max() <= 1.0:
                arr = arr * 255.0
            arr = np.clip(np.rint(arr), 0, 255).astype(np.uint8)
        elif arr.dtype != np.uint8:
            arr = np.clip(arr, 0, 255).astype(np.uint8)
        return np.ascontiguousarray(arr)

    def png_bytes(self) -> bytes:
        """The PNG encoding of this image."""
        if self._png is not None:
            return self._png
        PILImage = _pil()
        img = self._pil if self._pil is not None else PILImage.fromarray(self._pixels_u8())
        buf = io.BytesIO()
        img.save(buf, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
        return buf.getvalue()

    def _encode(self, store: Callable[[bytes], str]) -> dict[str, Any]:
        out: dict[str, Any] = {"_type": "image", "digest": store(self.png_bytes()), "format": "png",
                               "width": self.width, "height": self.height, "caption": self.caption}
        if self._masks:
            from arty.tracking.overlays import mask_png

            out["masks"] = {name: {"digest": store(mask_png(arr)), "format": "png", "class_labels": labels}
                            for name, (arr, labels) in self._masks.items()}
            out["blobs"] = sorted({m["digest"] for m in out["masks"].values()})
        if self._boxes:
            out["boxes"] = self._boxes
        if self._classes:
            out["classes"] = self._classes
        return out

    def _release(self) -> None:
        self._array = self._pil = self._png = None  # the pixels are in the blob now
        self._masks = {}

    def __repr__(self) -> str:
        return f"Image({self.width}x{self.height}{', ' + repr(self.caption) if self.caption else ''})"


class Chart(Media):
    """A table with a chart spec (what :mod:`arty.plot` returns, like W&B's ``CustomChart``).

    ``table`` is an :class:`arty.Table` (a copy: later changes to the caller's table are
    not logged); ``spec`` is a JSON dict with ``"kind"`` (line, scatter, bar, histogram,
    line_series, confusion_matrix, pr_curve, roc_curve), ``"title"`` and the names of the
    columns each axis reads. Logged, it is stored as its table with ``"chart": spec``.
    """

    needs_blob = True

    def __init__(self, table: Table, spec: dict[str, Any]) -> None:
        if not isinstance(table, Table):
            raise UsageError(f"a chart needs an arty.Table, not {type(table).__name__}",
                             hint="arty.plot.line(arty.Table(columns=[...], data=rows), 'x', 'y')")
        self.table = table.copy()
        self.spec = dict(spec)

    def to_json(self) -> dict[str, Any]:  # pragma: no cover - stored through resolve()
        raise UsageError("a chart is stored when logged", hint="run.log({'key': arty.plot.line(...)})")

    def __repr__(self) -> str:
        return f"Chart({self.spec.get('kind')!r}, {self.table!r})"


def _encode_cell(value: Any, put_blob: Callable[[Digest, bytes], None], algorithm: str) -> Any:
    """The stored dict of a media object in a table cell (None when it cannot be stored)."""
    if isinstance(value, BlobMedia):
        return value.encode(put_blob, algorithm)
    if isinstance(value, Histogram):
        return None if value.empty else value.to_json()
    raise UsageError(f"cannot store a table cell of type {type(value).__name__}",
                     hint="media cells are arty.Image, Audio, Video, Html, Object3D, Molecule or Histogram")


def _encode_table(table: Table, put_blob: Callable[[Digest, bytes], None], algorithm: str) -> dict[str, Any] | None:
    """Store a table's images, then the table (its cells naming them) as a blob; the
    history dict lists the digests the cells name under ``blobs`` (for gc and push)."""
    try:
        stored = table.resolved(lambda v: _encode_cell(v, put_blob, algorithm))
        fmt, data = stored.encode()
        digest = hash_bytes(data, algorithm)
        put_blob(digest, data)
    except Exception as exc:  # noqa: BLE001 - never into the training loop
        _warn(f"table not logged: {exc}")
        return None
    out = {"_type": "table", "digest": str(digest), "format": fmt, "columns": list(table.columns),
           "nrows": table.nrows}
    refs = stored.blob_refs()
    if refs:
        out["blobs"] = refs
    return out


def is_media(value: Any) -> bool:
    """A media value, or a list holding one (several images under one key)."""
    if isinstance(value, (Media, Table)):
        return True
    return isinstance(value, list) and any(isinstance(v, (Media, Table)) for v in value)


def resolve(value: Any, put_blob: Callable[[Digest, bytes], None], algorithm: str = DEFAULT_ALGORITHM) -> Any:
    """The JSON form of a media value (or list of them) for a history row; blobs go
    through ``put_blob``. None when nothing of it can be stored."""
    if isinstance(value, list):
        out = [resolve(v, put_blob, algorithm) for v in value]
        out = [v for v in out if v is not None]
        return out or None
    if isinstance(value, BlobMedia):
        return value.encode(put_blob, algorithm)
    if isinstance(value, Table):
        return _encode_table(value, put_blob, algorithm)
    if isinstance(value, Chart):
        out = _encode_table(value.table, put_blob, algorithm)
        if out is not None:
            out["chart"] = dict(value.spec)
        return out
    if isinstance(value, Histogram):
        return None if value.empty else value.to_json()
    return value


# -- background encoding ------------------------------------------------------------


class MediaEncoder:
    """Encodes logged images in background threads as soon as they are logged.

    :meth:`submit` (from ``run.log``) only queues the image; worker threads
    encode, hash and store it with ``put_blob``. The writer calls
    :meth:`resolve_row` when it flushes: images not yet encoded are encoded
    then. When more than :data:`MAX_PENDING_BYTES` of pixels wait, ``submit``
    encodes in the caller's thread instead, so memory stays bounded.
    """

    def __init__(self, put_blob: Callable[[Digest, bytes], None], algorithm: str = DEFAULT_ALGORITHM,
                 workers: int | None = None) -> None:
        self.put_blob = put_blob
        self.algorithm = algorithm
        self._queue: collections.deque[tuple[BlobMedia, int]] = collections.deque()  # (image, bytes counted)
        self._cond = threading.Condition()
        self._pending_bytes = 0
        self._closed = False
        # Pillow and zlib release the GIL while encoding; leave a core to the training loop.
        self._workers = workers or min(2, max(1, (os.cpu_count() or 2) - 1))
        self._threads: list[threading.Thread] = []

    def _start(self) -> None:
        for i in range(self._workers):
            t = threading.Thread(target=self._loop, name=f"arty-media-{i}", daemon=True)
            t.start()
            self._threads.append(t)

    def submit(self, value: Any) -> None:
        """Queue the images of a logged value for encoding (cheap; never raises)."""
        items = value if isinstance(value, list) else [value]
        items = [c for v in items for c in (v.media_cells() if isinstance(v, Table)
                                            else v.table.media_cells() if isinstance(v, Chart) else [v])]
        for m in items:
            if not isinstance(m, BlobMedia) or m._json is not None:
                continue
            n = m.nbytes
            with self._cond:
                if not self._threads and not self._closed:
                    self._start()
                if self._closed or self._pending_bytes + n > MAX_PENDING_BYTES:
                    inline = True
                else:
                    inline = False
                    self._pending_bytes += n
                    self._queue.append((m, n))
                    self._cond.notify()
            if inline:
                m.encode(self.put_blob, self.algorithm)

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if not self._queue:
                    return
                m, n = self._queue.popleft()  # n as counted: m may have been encoded meanwhile
            try:
                m.encode(self.put_blob, self.algorithm)
            finally:
                with self._cond:
                    self._pending_bytes -= n

    def resolve_row(self, row: dict[str, Any]) -> None:
        """Replace the media values of a history row by their JSON form, in place
        (values that cannot be stored are removed)."""
        for v in row.values():
            if is_media(v):
                break
        else:
            return
        for k, v in list(row.items()):
            if is_media(v):
                out = resolve(v, self.put_blob, self.algorithm)
                if out is None:
                    del row[k]
                else:
                    row[k] = out

    def close(self) -> None:
        """Encode what is queued, then stop the threads."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        for t in self._threads:
            t.join(timeout=60)
