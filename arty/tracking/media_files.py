"""W&B's other data types: :class:`Audio`, :class:`Video`, :class:`Html`, :class:`Object3D`,
:class:`Molecule` and :class:`Plotly`, each stored as one blob with a dict in the history row.

::

    run.log({"speech": arty.Audio(samples, sample_rate=16000, caption="epoch 3"),
             "rollout": arty.Video(frames, fps=8),                 # (time, channel, height, width)
             "report": arty.Html("<h1>Hello</h1>"),
             "lidar": arty.Object3D(points),                       # (N, 3), (N, 4) or (N, 6)
             "figure": arty.Plotly(fig)})

The history dicts (docs/media.md):

* ``{"_type": "audio", "digest", "format": "wav"|"mp3"|"ogg"|"flac", "sample_rate", "duration", "caption"}``
  (``sample_rate``/``duration`` null for a file Arty does not decode);
* ``{"_type": "video", "digest", "format": "gif"|"mp4"|"webm"|"ogg", "fps", "frames", "width", "height",
  "caption"}`` (frame figures null for a file);
* ``{"_type": "html", "digest", "format": "html", "inject"}``;
* ``{"_type": "object3d", "digest", "format": "pts.json"|"obj"|"gltf"|"glb"|"babylon"|"stl", "points",
  "caption"}``: a point cloud is JSON ``{"type": "lidar/beta", "points": [[x, y, z, ...]], "boxes",
  "vectors"}``; ``points`` is its number of points (null for a file);
* ``{"_type": "molecule", "digest", "format": "pdb"|..., "caption"}``;
* ``{"_type": "plotly", "digest", "format": "json"}``: the figure's JSON (``{"data", "layout"}``).

Constructors check their input and raise :class:`MediaError`, a :class:`UsageError` and a
``ValueError`` (a ``MissingExtra`` when a package is needed). They keep a copy of arrays and
read files at once (a file changed later does not change what is logged). Encoding and
hashing happen in the run's background threads, as for images.
"""

from __future__ import annotations

import io
import json
import math
import os
import struct
import warnings
import wave
from typing import Any, Callable

from arty.errors import UsageError
from arty.tracking.media import BlobMedia, _numpy, _pil, array_copy

__all__ = ["Audio", "Html", "MediaError", "Molecule", "Object3D", "Plotly", "Video", "AUDIO_FORMATS", "VIDEO_FORMATS",
           "OBJECT3D_FORMATS", "MOLECULE_FORMATS"]

AUDIO_FORMATS = ("wav", "mp3", "ogg", "flac")
VIDEO_FORMATS = ("gif", "mp4", "webm", "ogg")
#: Object3D files stored as they are (W&B's SUPPORTED_TYPES).
OBJECT3D_FORMATS = ("obj", "gltf", "glb", "babylon", "stl", "pts.json")
#: Molecule files stored as they are (W&B's SUPPORTED_TYPES).
MOLECULE_FORMATS = ("pdb", "pqr", "mmcif", "mcif", "cif", "sdf", "sd", "gro", "mol2", "mmtf")
#: At most this many frames are encoded per video (W&B has no limit; a GIF grows quickly).
MAX_GIF_FRAMES = 2000


class MediaError(UsageError, ValueError):
    """Input a media constructor cannot store (W&B raises ``ValueError`` for these)."""


def _ext(path: str, known: tuple[str, ...]) -> str | None:
    low = path.lower()
    for fmt in sorted(known, key=len, reverse=True):  # "pts.json" before "json"
        if low.endswith("." + fmt):
            return fmt
    return None


def _read(path: Any, what: str) -> bytes:
    p = os.fspath(path)
    try:
        with open(p, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise MediaError(f"{what} file '{p}' not found", hint="check the path") from None
    except OSError as exc:
        raise MediaError(f"cannot read {what} file '{p}': {exc.strerror or exc}") from None


def _is_path(x: Any) -> bool:
    return isinstance(x, (str, os.PathLike))


def _read_io(f: Any) -> bytes:
    data = f.read()
    return data.encode("utf-8") if isinstance(data, str) else bytes(data)


def _caption(caption: Any) -> str | None:
    return None if caption is None else str(caption)


def _array(data: Any, what: str, hint: str) -> Any:
    try:
        arr = array_copy(data)
    except (TypeError, ValueError) as exc:
        raise MediaError(f"cannot make {what} of a {type(data).__name__}: {exc}", hint=hint) from None
    if arr.dtype.kind not in "buif":
        raise MediaError(f"cannot make {what} of values of type {arr.dtype}", hint=hint)
    return arr


# -- audio ----------------------------------------------------------------------------------


class Audio(BlobMedia):
    """An audio clip: a numpy array of samples (with ``sample_rate``), stored as a 16-bit
    WAV written with the standard library, or the path of a .wav, .mp3, .ogg or .flac file,
    stored as it is (a WAV file's rate and duration are read from its header).

    Samples are a 1-D array (mono) or ``(samples, channels)``; floats are taken in [-1, 1]
    (clipped), integer arrays are scaled from their type's range. W&B's signature.
    """

    kind = "audio"
    table_cell_type = "audio"

    def __init__(self, data_or_path: Any, sample_rate: int | None = None, caption: str | None = None) -> None:
        self._init_blob()
        self.caption = _caption(caption)
        self._raw: bytes | None = None
        self._samples: Any = None
        if _is_path(data_or_path):
            path = os.fspath(data_or_path)
            fmt = _ext(path, AUDIO_FORMATS)
            if fmt is None:
                raise MediaError(f"audio file '{path}' is not one of: {', '.join(AUDIO_FORMATS)}",
                                 hint="convert it to WAV, or pass the samples with sample_rate=")
            self._raw = _read(path, "audio")
            self.format = fmt
            self.sample_rate, self.duration = _wav_info(self._raw, path) if fmt == "wav" else (None, None)
            return
        if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or sample_rate <= 0:
            raise MediaError("audio samples need sample_rate= (an int > 0)",
                             hint="arty.Audio(samples, sample_rate=16000)")
        arr = _array(data_or_path, "audio", "pass a 1-D array of samples, or (samples, channels)")
        if arr.ndim == 2 and arr.shape[0] < arr.shape[1] and arr.shape[0] <= 8:
            arr = arr.T  # (channels, samples), as librosa and torchaudio give it
        if arr.ndim not in (1, 2) or arr.size == 0 or (arr.ndim == 2 and not 1 <= arr.shape[1] <= 8):
            raise MediaError(f"audio samples have shape {tuple(arr.shape)}",
                             hint="pass a non-empty 1-D array (mono) or (samples, channels) with 1 to 8 channels")
        if arr.dtype.kind == "f" and not _numpy().isfinite(arr).all():
            raise MediaError("audio samples hold NaN or infinite values", hint="samples are finite numbers in [-1, 1]")
        self._samples = arr
        self.format = "wav"
        self.sample_rate = sample_rate
        self.duration = arr.shape[0] / sample_rate

    @property
    def nbytes(self) -> int:
        return len(self._raw) if self._raw is not None else int(self._samples.nbytes) if self._samples is not None \
            else 0

    def wav_bytes(self) -> bytes:
        """The WAV encoding of the samples (16-bit PCM)."""
        np = _numpy()
        arr = self._samples
        if arr.dtype.kind == "b":
            arr = arr.astype(np.float32)
        if arr.dtype.kind == "f":
            pcm = np.clip(np.rint(np.clip(arr, -1.0, 1.0) * 32767.0), -32768, 32767).astype("<i2")
        elif arr.dtype == np.int16:
            pcm = arr.astype("<i2")
        else:
            info = np.iinfo(arr.dtype)
            mid = (int(info.max) + int(info.min) + 1) / 2
            half = (int(info.max) - int(info.min) + 1) / 2
            pcm = np.clip(np.rint((arr.astype(np.float64) - mid) / half * 32768.0), -32768, 32767).astype("<i2")
        channels = 1 if pcm.ndim == 1 else pcm.shape[1]
        buf = io.BytesIO()
        with wave.open(buf, "wb") as w:
            w.setnchannels(channels)
            w.setsampwidth(2)
            w.setframerate(self.sample_rate)
            w.writeframes(np.ascontiguousarray(pcm).tobytes())
        return buf.getvalue()

    def _encode(self, store: Callable[[bytes], str]) -> dict[str, Any]:
        data = self._raw if self._raw is not None else self.wav_bytes()
        return {"_type": "audio", "digest": store(data), "format": self.format, "sample_rate": self.sample_rate,
                "duration": self.duration, "caption": self.caption}

    def _release(self) -> None:
        self._raw = self._samples = None

    @classmethod
    def durations(cls, audio_list: list["Audio"]) -> list[float | None]:
        """The duration in seconds of each clip (None for a file Arty does not decode)."""
        return [a.duration for a in audio_list]

    @classmethod
    def sample_rates(cls, audio_list: list["Audio"]) -> list[int | None]:
        """The sample rate of each clip (None for a file Arty does not decode)."""
        return [a.sample_rate for a in audio_list]

    def __repr__(self) -> str:
        return f"Audio({self.format}{f', {self.duration:.3g}s' if self.duration is not None else ''})"


def _wav_info(raw: bytes, path: str) -> tuple[int, float]:
    try:
        with wave.open(io.BytesIO(raw), "rb") as w:
            rate, frames = w.getframerate(), w.getnframes()
    except (wave.Error, EOFError, struct.error) as exc:
        raise MediaError(f"file '{path}' is not a WAV file Python's wave module can read: {exc}",
                         hint="use PCM WAV, or another format (mp3, ogg, flac)") from None
    return rate, frames / rate if rate else 0.0


# -- video ----------------------------------------------------------------------------------


class Video(BlobMedia):
    """A video: the path (or a binary file object, with ``format=``) of a .gif, .mp4, .webm
    or .ogg file, stored as it is; or a numpy array of frames, ``(time, channel, height,
    width)`` or ``(batch, time, channel, height, width)`` (the batch is tiled in a grid, as
    W&B does), encoded as an animated GIF at ``fps`` frames a second with Pillow.

    W&B encodes arrays as mp4/webm/ogg with moviepy when ``format=`` asks for one; Arty
    always encodes a GIF (with a warning when another format was asked for).
    """

    kind = "video"
    table_cell_type = "video"

    def __init__(self, data_or_path: Any, caption: str | None = None, fps: int | None = None,
                 format: str | None = None) -> None:  # noqa: A002 - W&B's name
        self._init_blob()
        self.caption = _caption(caption)
        if format is not None and format not in VIDEO_FORMATS:
            raise MediaError(f"video format '{format}' is not one of: {', '.join(VIDEO_FORMATS)}")
        if fps is not None and (isinstance(fps, bool) or not isinstance(fps, (int, float)) or not 0 < fps <= 100):
            raise MediaError(f"invalid fps {fps!r} for a video", hint="a number of frames per second, 1 to 100")
        self.fps = fps if fps is not None else 4
        self.frames: int | None = None
        self.width: int | None = None
        self.height: int | None = None
        self._raw: bytes | None = None
        self._frames: Any = None
        if _is_path(data_or_path):
            path = os.fspath(data_or_path)
            fmt = _ext(path, VIDEO_FORMATS)
            if fmt is None:
                raise MediaError(f"video file '{path}' is not one of: {', '.join(VIDEO_FORMATS)}",
                                 hint="convert it to mp4, webm, ogg or gif")
            self._raw, self.format = _read(path, "video"), fmt
            self.fps = fps
            return
        if hasattr(data_or_path, "read"):
            if format is None:
                raise MediaError("a video file object needs format=",
                                 hint=f"arty.Video(f, format='mp4'); one of {', '.join(VIDEO_FORMATS)}")
            self._raw, self.format, self.fps = _read_io(data_or_path), format, fps
            return
        _pil()  # the frames are encoded with Pillow: say so now, not in the background
        arr = _array(data_or_path, "a video", "pass frames as (time, channel, height, width)")
        if arr.ndim == 5:
            arr = _tile(arr)
        if arr.ndim != 4 or arr.shape[1] not in (1, 3, 4) or 0 in arr.shape:
            raise MediaError(f"video frames have shape {tuple(arr.shape)}",
                             hint="(time, channel, height, width) or (batch, time, channel, height, width), "
                                  "with 1, 3 or 4 channels")
        if arr.shape[0] > MAX_GIF_FRAMES:
            raise MediaError(f"video has {arr.shape[0]} frames, at most {MAX_GIF_FRAMES}",
                             hint="log fewer frames, or encode the file yourself and pass its path")
        if format not in (None, "gif"):
            warnings.warn(f"arty: video frames are stored as an animated GIF, not {format}", RuntimeWarning,
                          stacklevel=2)
        self._frames = arr
        self.format = "gif"
        self.frames, self.height, self.width = int(arr.shape[0]), int(arr.shape[2]), int(arr.shape[3])

    @property
    def nbytes(self) -> int:
        return len(self._raw) if self._raw is not None else int(self._frames.nbytes) if self._frames is not None \
            else 0

    def gif_bytes(self) -> bytes:
        """The animated GIF of the frames."""
        np = _numpy()
        PILImage = _pil()
        arr = self._frames
        if arr.dtype.kind == "b":
            arr = arr.astype(np.uint8) * 255
        elif arr.dtype.kind == "f":
            arr = np.nan_to_num(arr, nan=0.0, posinf=255.0, neginf=0.0)
            if arr.size and arr.max() <= 1.0:
                arr = arr * 255.0
            arr = np.clip(np.rint(arr), 0, 255).astype(np.uint8)
        elif arr.dtype != np.uint8:
            arr = np.clip(arr, 0, 255).astype(np.uint8)
        arr = arr.transpose(0, 2, 3, 1)  # T H W C
        if arr.shape[3] == 1:
            images = [PILImage.fromarray(np.ascontiguousarray(f[:, :, 0]), "L") for f in arr]
        else:
            images = [PILImage.fromarray(np.ascontiguousarray(f[:, :, :3]), "RGB") for f in arr]
        buf = io.BytesIO()
        images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], loop=0,
                       duration=max(10, int(round(1000 / self.fps))), optimize=False)
        return buf.getvalue()

    def _encode(self, store: Callable[[bytes], str]) -> dict[str, Any]:
        data = self._raw if self._raw is not None else self.gif_bytes()
        return {"_type": "video", "digest": store(data), "format": self.format, "fps": self.fps,
                "frames": self.frames, "width": self.width, "height": self.height, "caption": self.caption}

    def _release(self) -> None:
        self._raw = self._frames = None

    def __repr__(self) -> str:
        return f"Video({self.format}{f', {self.frames} frames' if self.frames else ''})"


def _tile(arr: Any) -> Any:
    """``(batch, time, c, h, w)`` -> ``(time, c, rows * h, cols * w)``: W&B's grid of a batch."""
    np = _numpy()
    b, t, c, h, w = arr.shape
    rows = 2 ** int(math.log2(b) // 2) if b > 0 else 1
    cols = -(-b // rows)
    padded = np.zeros((rows * cols, t, c, h, w), dtype=arr.dtype)
    padded[:b] = arr
    grid = padded.reshape(rows, cols, t, c, h, w).transpose(2, 3, 0, 4, 1, 5)
    return grid.reshape(t, c, rows * h, cols * w)


# -- html -----------------------------------------------------------------------------------


class Html(BlobMedia):
    """An HTML page: a string of HTML, the path of a .html file, or a text file object.

    Stored as it is (UTF-8). The UI shows it only inside a sandboxed frame in which no
    script runs; ``inject`` (True by default, as in W&B) adds a plain stylesheet there.
    ``data_is_not_path=True`` takes a string as HTML even when a file of that name exists.
    """

    kind = "html"
    table_cell_type = "html"

    def __init__(self, data: Any, inject: bool = True, data_is_not_path: bool = False) -> None:
        self._init_blob()
        self.inject = bool(inject)
        if isinstance(data, os.PathLike) or (isinstance(data, str) and not data_is_not_path
                                             and not data.lstrip().startswith("<") and data.lower().endswith(".html")
                                             and "\n" not in data):
            raw = _read(data, "html")
        elif isinstance(data, str):
            raw = data.encode("utf-8")
        elif hasattr(data, "read"):
            raw = _read_io(data)
        else:
            raise MediaError(f"cannot make html of a {type(data).__name__}",
                             hint="pass a string of HTML, the path of a .html file, or a file object")
        try:
            self.html = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise MediaError("html is not UTF-8 text", hint="decode the page to a str first") from None
        self._raw: bytes | None = raw

    @property
    def nbytes(self) -> int:
        return len(self._raw or b"")

    def _encode(self, store: Callable[[bytes], str]) -> dict[str, Any]:
        return {"_type": "html", "digest": store(self._raw or b""), "format": "html", "inject": self.inject}

    def _release(self) -> None:
        self._raw = None

    def __repr__(self) -> str:
        return f"Html({len(self.html)} chars)"


# -- 3-D objects and molecules ------------------------------------------------------------------


class Object3D(BlobMedia):
    """A 3-D object: a numpy point cloud, a W&B point-cloud dict, or a 3-D file.

    * an array of shape ``(N, 3)`` (x, y, z), ``(N, 4)`` (x, y, z, category 1..14) or
      ``(N, 6)`` (x, y, z, r, g, b), stored as JSON points; the UI draws it as a 3-D scatter;
    * ``{"type": "lidar/beta", "points": array, "boxes": [...], "vectors": [...]}``, the
      same, keeping the boxes and vectors as given (JSON);
    * the path of a .obj, .gltf, .glb, .babylon, .stl or .pts.json file, or a file object
      with ``file_type=``: stored as it is and offered as a download (a .pts.json file is drawn).
    """

    kind = "object3d"
    table_cell_type = "object3d"

    def __init__(self, data_or_path: Any, caption: str | None = None, **kwargs: Any) -> None:
        self._init_blob()
        self.caption = _caption(caption)
        file_type = kwargs.pop("file_type", None)
        if kwargs:
            raise MediaError(f"unknown Object3D arguments: {', '.join(sorted(kwargs))}",
                             hint="file_type= for a file object")
        self._raw: bytes | None = None
        self._cloud: dict[str, Any] | None = None
        self.points: int | None = None
        if _is_path(data_or_path):
            path = os.fspath(data_or_path)
            fmt = _ext(path, OBJECT3D_FORMATS)
            if fmt is None:
                raise MediaError(f"3-D file '{path}' is not one of: {', '.join(OBJECT3D_FORMATS)}",
                                 hint="pass an (N, 3), (N, 4) or (N, 6) numpy array for a point cloud")
            self._raw, self.format = _read(path, "3-D"), fmt
        elif hasattr(data_or_path, "read"):
            if file_type not in OBJECT3D_FORMATS:
                raise MediaError(f"a 3-D file object needs file_type= one of: {', '.join(OBJECT3D_FORMATS)}")
            self._raw, self.format = _read_io(data_or_path), file_type
        elif isinstance(data_or_path, dict):
            if data_or_path.get("type", "lidar/beta") != "lidar/beta" or "points" not in data_or_path:
                raise MediaError("a point-cloud dict is {'type': 'lidar/beta', 'points': ..., 'boxes': ...}",
                                 hint="or pass an (N, 3), (N, 4) or (N, 6) numpy array")
            self._set_cloud(data_or_path["points"], data_or_path.get("boxes") or [],
                            data_or_path.get("vectors") or [])
        else:
            self._set_cloud(data_or_path, [], [])

    def _set_cloud(self, points: Any, boxes: Any, vectors: Any) -> None:
        arr = _array(points, "a point cloud", "pass an (N, 3), (N, 4) or (N, 6) array")
        if arr.ndim != 2 or arr.shape[1] not in (3, 4, 6):
            raise MediaError(f"point cloud has shape {tuple(arr.shape)}",
                             hint="(N, 3) x y z, (N, 4) x y z category, or (N, 6) x y z r g b")
        if arr.dtype.kind == "f" and not _numpy().isfinite(arr).all():
            raise MediaError("point cloud holds NaN or infinite values", hint="drop those points first")
        try:
            extra = json.loads(json.dumps({"boxes": _plain(boxes), "vectors": _plain(vectors)}, allow_nan=False))
        except (TypeError, ValueError) as exc:
            raise MediaError(f"point-cloud boxes and vectors must be JSON values: {exc}") from None
        self._cloud = {"type": "lidar/beta", "points": arr, **extra}
        self.format = "pts.json"
        self.points = int(arr.shape[0])

    @classmethod
    def from_file(cls, data_or_path: Any, file_type: str | None = None) -> "Object3D":
        """From a path or a file object (``file_type`` needed for a file object)."""
        return cls(data_or_path, file_type=file_type)

    @classmethod
    def from_numpy(cls, data: Any) -> "Object3D":
        """From an ``(N, 3)``, ``(N, 4)`` or ``(N, 6)`` array."""
        return cls(data)

    @classmethod
    def from_point_cloud(cls, points: Any, boxes: Any, vectors: Any = None,
                         point_cloud_type: str = "lidar/beta") -> "Object3D":
        """From points, boxes and vectors (kept as JSON; the UI draws the points)."""
        return cls({"type": point_cloud_type, "points": points, "boxes": boxes, "vectors": vectors or []})

    @property
    def nbytes(self) -> int:
        if self._raw is not None:
            return len(self._raw)
        return int(self._cloud["points"].nbytes) if self._cloud is not None else 0

    def _encode(self, store: Callable[[bytes], str]) -> dict[str, Any]:
        if self._cloud is not None:
            cloud = dict(self._cloud, points=self._cloud["points"].tolist())
            data = json.dumps(cloud, separators=(",", ":")).encode()
        else:
            data = self._raw or b""
        return {"_type": "object3d", "digest": store(data), "format": self.format, "points": self.points,
                "caption": self.caption}

    def _release(self) -> None:
        self._raw = self._cloud = None

    def __repr__(self) -> str:
        return f"Object3D({self.format}{f', {self.points} points' if self.points is not None else ''})"


def _jsonable(x: Any) -> Any:
    """A figure dict as plain JSON values: arrays (and plotly's base64 typed arrays) as
    lists, NaN and infinities as null (as plotly's own encoder does), dates and other
    objects as their ISO form or string."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if x is None or isinstance(x, (bool, int, str)):
        return x
    if isinstance(x, dict):
        if set(x) in ({"dtype", "bdata"}, {"dtype", "bdata", "shape"}):  # plotly 6's typed arrays
            import base64

            np = _numpy()
            arr = np.frombuffer(base64.b64decode(x["bdata"]), dtype=np.dtype(x["dtype"]))
            if x.get("shape"):
                arr = arr.reshape([int(n) for n in str(x["shape"]).split(",")])
            return _jsonable(arr.tolist())
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if hasattr(x, "tolist"):  # numpy arrays and scalars, pandas Series
        return _jsonable(x.tolist())
    if hasattr(x, "isoformat"):
        return x.isoformat()
    return str(x)


def _plain(x: Any) -> Any:
    """numpy arrays and scalars inside boxes/vectors as lists and numbers."""
    if hasattr(x, "tolist"):
        return x.tolist()
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    return x


class Molecule(BlobMedia):
    """A molecule file (.pdb, .pqr, .mmcif, .mcif, .cif, .sdf, .sd, .gro, .mol2, .mmtf), or a
    file object with ``file_type=``: stored as it is; the UI offers it as a download (it
    does not draw molecules). ``from_rdkit`` and ``from_smiles`` are not supported."""

    kind = "molecule"
    table_cell_type = "molecule"

    def __init__(self, data_or_path: Any, caption: str | None = None, **kwargs: Any) -> None:
        self._init_blob()
        self.caption = _caption(caption)
        file_type = kwargs.pop("file_type", None)
        if kwargs:
            raise MediaError(f"unknown Molecule arguments: {', '.join(sorted(kwargs))}")
        if _is_path(data_or_path):
            path = os.fspath(data_or_path)
            fmt = _ext(path, MOLECULE_FORMATS)
            if fmt is None:
                raise MediaError(f"molecule file '{path}' is not one of: {', '.join(MOLECULE_FORMATS)}")
            self._raw: bytes | None = _read(path, "molecule")
            self.format = fmt
        elif hasattr(data_or_path, "read"):
            if file_type not in MOLECULE_FORMATS:
                raise MediaError(f"a molecule file object needs file_type= one of: {', '.join(MOLECULE_FORMATS)}")
            self._raw, self.format = _read_io(data_or_path), file_type
        else:
            raise MediaError(f"cannot make a molecule of a {type(data_or_path).__name__}",
                             hint="pass the path of a molecule file (.pdb, .sdf, .mol2, ...)")

    @classmethod
    def from_rdkit(cls, *args: Any, **kwargs: Any) -> "Molecule":
        raise UsageError("arty.Molecule.from_rdkit is not supported",
                         hint="write the molecule with rdkit (Chem.MolToMolFile(mol, 'm.mol2')) and log "
                              "arty.Molecule('m.mol2')")

    @classmethod
    def from_smiles(cls, *args: Any, **kwargs: Any) -> "Molecule":
        raise UsageError("arty.Molecule.from_smiles is not supported",
                         hint="convert it with rdkit to a .sdf or .mol2 file and log arty.Molecule(path)")

    @property
    def nbytes(self) -> int:
        return len(self._raw or b"")

    def _encode(self, store: Callable[[bytes], str]) -> dict[str, Any]:
        return {"_type": "molecule", "digest": store(self._raw or b""), "format": self.format,
                "caption": self.caption}

    def _release(self) -> None:
        self._raw = None

    def __repr__(self) -> str:
        return f"Molecule({self.format})"


# -- plotly -----------------------------------------------------------------------------------


class Plotly(BlobMedia):
    """A plotly figure (``plotly.graph_objects.Figure``) or its dict (``{"data": [...],
    "layout": {...}}``), stored as its JSON and drawn with plotly.js in the UI. A matplotlib
    figure is refused (W&B converts it through plotly's deprecated converter)."""

    kind = "plotly"
    table_cell_type = "plotly"

    def __init__(self, val: Any) -> None:
        self._init_blob()
        if type(val).__module__.split(".")[0] == "matplotlib":
            raise MediaError("arty.Plotly does not convert matplotlib figures",
                             hint="save it as PNG (fig.savefig('f.png')) and log arty.Image('f.png')")
        if hasattr(val, "to_plotly_json"):
            fig = val.to_plotly_json()
        elif isinstance(val, dict) and isinstance(val.get("data", []), (list, tuple)):
            fig = val
        else:
            raise MediaError(f"arty.Plotly needs a plotly figure or its dict, not {type(val).__name__}",
                             hint="arty.Plotly(plotly.graph_objects.Figure(...))")
        try:
            text = json.dumps(_jsonable(fig), allow_nan=False, separators=(",", ":"))
        except (TypeError, ValueError) as exc:
            raise MediaError(f"plotly figure is not JSON: {exc}", hint="use numbers, strings and lists in it") from None
        self._raw: bytes | None = text.encode("utf-8")

    @property
    def nbytes(self) -> int:
        return len(self._raw or b"")

    def _encode(self, store: Callable[[bytes], str]) -> dict[str, Any]:
        return {"_type": "plotly", "digest": store(self._raw or b""), "format": "json"}

    def _release(self) -> None:
        self._raw = None

    def __repr__(self) -> str:
        return "Plotly()"

