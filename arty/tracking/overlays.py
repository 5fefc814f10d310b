"""Masks, boxes and classes of an :class:`arty.Image`, in W&B's shapes, checked at construction.

::

    arty.Image(pixels,
               masks={"predictions": {"mask_data": class_ids, "class_labels": {1: "cat"}}},
               boxes={"predictions": {"box_data": [{"position": {"minX": 0.1, "maxX": 0.4,
                                                                 "minY": 0.2, "maxY": 0.5},
                                                    "class_id": 1, "box_caption": "cat",
                                                    "scores": {"acc": 0.9}}],
                                      "class_labels": {1: "cat"}}})

* a mask is ``{"mask_data": 2-D array of class ids (0..255), "class_labels": {id: name}}``
  or ``{"path": PNG or other image file of class ids, ...}``, the size of the image; it is
  stored as an 8-bit PNG blob;
* a box set is ``{"box_data": [box, ...], "class_labels": {id: name}}``; a box has a
  ``"position"`` (``{"minX", "maxX", "minY", "maxY"}`` or ``{"middle": [x, y], "width",
  "height"}``), an optional ``"domain"`` (``"pixel"``: pixels; otherwise fractions of the
  image), a ``"class_id"`` (int), optional ``"box_caption"`` (str) and ``"scores"``
  (``{name: number}``); boxes are kept as JSON in the image's dict, normalised;
* ``classes`` is W&B's list of ``{"id": int, "name": str}`` (or an object with
  ``_class_set``, as ``wandb.Classes`` has).

Anything else raises :class:`OverlayError`, a :class:`UsageError` and a ``ValueError``
(W&B raises ``ValueError`` or ``TypeError``), before anything is logged.
"""

from __future__ import annotations

import io
import math
import os
from typing import Any

from arty.errors import UsageError

__all__ = ["OverlayError", "check_boxes", "check_classes", "check_masks", "mask_png"]

_MASKS_HINT = "masks={'predictions': {'mask_data': 2-D array of class ids, 'class_labels': {1: 'cat'}}}"
_BOXES_HINT = ("boxes={'predictions': {'box_data': [{'position': {'minX': .1, 'maxX': .4, 'minY': .2, 'maxY': .5}, "
               "'class_id': 1}], 'class_labels': {1: 'cat'}}}")


class OverlayError(UsageError, ValueError):
    """A mask, box or class list of an image that does not have W&B's shape."""


def _labels(value: Any, where: str) -> dict[str, str]:
    """``{id: name}`` with int ids, stored with string keys (JSON)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise OverlayError(f"{where}: class_labels must be a dict of int to str, not {type(value).__name__}",
                           hint="class_labels={1: 'cat', 2: 'dog'}")
    out = {}
    for k, v in value.items():
        try:
            key = int(k)
            if isinstance(k, float) or (isinstance(k, str) and str(key) != k.strip()):
                raise ValueError
        except (TypeError, ValueError):
            raise OverlayError(f"{where}: class label id {k!r} is not an int",
                               hint="class_labels={1: 'cat', 2: 'dog'}") from None
        out[str(key)] = str(v)
    return out


def _numpy() -> Any:
    from arty.tracking.media import _numpy as numpy

    return numpy()


def check_masks(masks: Any, width: int, height: int) -> dict[str, tuple[Any, dict[str, str]]]:
    """``{name: (mask, class labels)}``; ``mask`` is a uint8 array or the PNG bytes read
    from ``path`` (see :func:`mask_png`). The mask must be ``height`` x ``width``."""
    if masks is None:
        return {}
    if not isinstance(masks, dict) or not masks:
        raise OverlayError("image masks must be a non-empty dict of name to mask", hint=_MASKS_HINT)
    out = {}
    for name, mask in masks.items():
        where = f"image mask '{name}'"
        if not isinstance(name, str) or not name:
            raise OverlayError(f"image mask name {name!r} is not a non-empty string", hint=_MASKS_HINT)
        if hasattr(mask, "_val") and isinstance(getattr(mask, "_val"), dict):  # an ImageMask-like object
            mask = mask._val
        if not isinstance(mask, dict):
            raise OverlayError(f"{where} must be a dict, not {type(mask).__name__}", hint=_MASKS_HINT)
        unknown = set(mask) - {"mask_data", "path", "class_labels"}
        if unknown:
            raise OverlayError(f"{where} has unknown keys: {', '.join(sorted(map(str, unknown)))}", hint=_MASKS_HINT)
        if ("mask_data" in mask) == ("path" in mask):
            raise OverlayError(f"{where} needs either 'mask_data' or 'path'", hint=_MASKS_HINT)
        labels = _labels(mask.get("class_labels"), where)
        data = _mask_from_path(mask["path"], where) if "path" in mask else mask["mask_data"]
        arr = _mask_array(data, where)
        if arr.shape != (height, width):
            raise OverlayError(f"{where} is {arr.shape[1]}x{arr.shape[0]}, the image {width}x{height}",
                               hint="a mask has one class id per pixel of the image")
        out[name] = (arr, labels)
    return out


def _mask_from_path(path: Any, where: str) -> Any:
    from arty.tracking.media import _pil

    if not isinstance(path, (str, os.PathLike)):
        raise OverlayError(f"{where}: path must be a file name, not {type(path).__name__}", hint=_MASKS_HINT)
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as exc:
        raise OverlayError(f"{where}: cannot read '{os.fspath(path)}': {exc.strerror or exc}",
                           hint="check the path") from None
    try:
        img = _pil().open(io.BytesIO(raw))
        img.load()
    except Exception as exc:  # noqa: BLE001 - Pillow raises several kinds
        raise OverlayError(f"{where}: '{os.fspath(path)}' is not an image: {exc}",
                           hint="a mask file is a PNG of class ids") from None
    if img.mode not in ("L", "P", "1", "I", "I;16"):
        raise OverlayError(f"{where}: '{os.fspath(path)}' has mode {img.mode}, not one channel of class ids",
                           hint="save the mask as a greyscale or palette PNG")
    return _numpy().asarray(img)


def _mask_array(data: Any, where: str) -> Any:
    from arty.tracking.media import array_copy

    np = _numpy()
    try:
        arr = array_copy(data)
    except (TypeError, ValueError) as exc:
        raise OverlayError(f"{where}: mask_data is not an array: {exc}", hint=_MASKS_HINT) from None
    if arr.ndim != 2:
        raise OverlayError(f"{where}: mask_data has shape {tuple(arr.shape)}, not 2-D (height, width)",
                           hint=_MASKS_HINT)
    if arr.dtype.kind == "b":
        arr = arr.astype(np.uint8)
    elif arr.dtype.kind in "f":
        if arr.size and not (np.isfinite(arr).all() and (arr == np.round(arr)).all()):
            raise OverlayError(f"{where}: mask_data holds non-integer values", hint="a mask holds class ids 0..255")
    elif arr.dtype.kind not in "iu":
        raise OverlayError(f"{where}: mask_data of type {arr.dtype} is not class ids", hint=_MASKS_HINT)
    if arr.size and (arr.min() < 0 or arr.max() > 255):
        raise OverlayError(f"{where}: class ids must be 0..255 (found {arr.min()}..{arr.max()})",
                           hint="a mask is stored as an 8-bit PNG")
    return arr.astype(np.uint8)


def mask_png(arr: Any) -> bytes:
    """The 8-bit greyscale PNG of a checked mask array (pixel value = class id)."""
    from arty.tracking.media import PNG_COMPRESS_LEVEL, _pil

    buf = io.BytesIO()
    _pil().fromarray(arr, mode="L").save(buf, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    return buf.getvalue()


def _number(v: Any, what: str, where: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) and not hasattr(v, "item"):
        raise OverlayError(f"{where}: {what} must be a number, not {type(v).__name__}", hint=_BOXES_HINT)
    f = float(v.item() if hasattr(v, "item") else v)
    if not math.isfinite(f):
        raise OverlayError(f"{where}: {what} is {f}", hint="box coordinates are finite numbers")
    return f


def _position(pos: Any, where: str) -> dict[str, Any]:
    if not isinstance(pos, dict):
        raise OverlayError(f"{where}: position must be a dict, not {type(pos).__name__}", hint=_BOXES_HINT)
    if set(pos) >= {"minX", "maxX", "minY", "maxY"}:
        out = {k: _number(pos[k], k, where) for k in ("minX", "maxX", "minY", "maxY")}
        if out["minX"] > out["maxX"] or out["minY"] > out["maxY"]:
            raise OverlayError(f"{where}: minX/minY must not be above maxX/maxY", hint=_BOXES_HINT)
        return out
    if set(pos) >= {"middle", "width", "height"}:
        mid = pos["middle"]
        if not isinstance(mid, (list, tuple)) or len(mid) != 2:
            raise OverlayError(f"{where}: middle must be [x, y]", hint=_BOXES_HINT)
        out = {"middle": [_number(mid[0], "middle x", where), _number(mid[1], "middle y", where)],
               "width": _number(pos["width"], "width", where), "height": _number(pos["height"], "height", where)}
        if out["width"] < 0 or out["height"] < 0:
            raise OverlayError(f"{where}: width and height must not be negative", hint=_BOXES_HINT)
        return out
    raise OverlayError(f"{where}: position needs minX, maxX, minY, maxY or middle, width, height "
                       f"(got {', '.join(sorted(map(str, pos))) or 'nothing'})", hint=_BOXES_HINT)


def _box(box: Any, where: str) -> dict[str, Any]:
    if not isinstance(box, dict):
        raise OverlayError(f"{where} must be a dict, not {type(box).__name__}", hint=_BOXES_HINT)
    if "position" not in box:
        raise OverlayError(f"{where} has no position", hint=_BOXES_HINT)
    out: dict[str, Any] = {"position": _position(box["position"], where)}
    domain = box.get("domain")
    if domain not in (None, "pixel"):
        raise OverlayError(f"{where}: domain {domain!r} is not 'pixel' or None",
                           hint="'pixel' for pixel coordinates; leave it out for fractions of the image")
    out["domain"] = domain
    cid = box.get("class_id")
    if isinstance(cid, bool) or not isinstance(cid, int) and not (hasattr(cid, "item") and
                                                                 isinstance(cid.item(), int)):
        raise OverlayError(f"{where}: class_id must be an int, not {type(cid).__name__}", hint=_BOXES_HINT)
    out["class_id"] = int(cid)
    caption = box.get("box_caption")
    if caption is not None and not isinstance(caption, str):
        raise OverlayError(f"{where}: box_caption must be a string", hint=_BOXES_HINT)
    out["box_caption"] = caption
    scores = box.get("scores")
    if scores is not None:
        if not isinstance(scores, dict):
            raise OverlayError(f"{where}: scores must be a dict of name to number", hint="scores={'acc': 0.9}")
        out["scores"] = {str(k): _number(v, f"score '{k}'", where) for k, v in scores.items()}
    return out


def check_boxes(boxes: Any) -> dict[str, dict[str, Any]]:
    """``{name: {"box_data": [normalised boxes], "class_labels": {id: name}}}``."""
    if boxes is None:
        return {}
    if not isinstance(boxes, dict) or not boxes:
        raise OverlayError("image boxes must be a non-empty dict of name to box set", hint=_BOXES_HINT)
    out = {}
    for name, group in boxes.items():
        where = f"image box set '{name}'"
        if not isinstance(name, str) or not name:
            raise OverlayError(f"image box set name {name!r} is not a non-empty string", hint=_BOXES_HINT)
        if hasattr(group, "_val") and isinstance(getattr(group, "_val"), dict):  # a BoundingBoxes2D-like object
            group = group._val
        if not isinstance(group, dict) or not isinstance(group.get("box_data"), (list, tuple)):
            raise OverlayError(f"{where} needs 'box_data', a list of boxes", hint=_BOXES_HINT)
        out[name] = {"box_data": [_box(b, f"{where} box {i}") for i, b in enumerate(group["box_data"])],
                     "class_labels": _labels(group.get("class_labels"), where)}
    return out


def check_classes(classes: Any) -> list[dict[str, Any]]:
    """W&B's class list as ``[{"id": int, "name": str}]``."""
    if classes is None:
        return []
    if hasattr(classes, "_class_set"):  # wandb.Classes
        classes = classes._class_set
    if not isinstance(classes, (list, tuple)):
        raise OverlayError(f"image classes must be a list of {{'id', 'name'}} dicts, not {type(classes).__name__}",
                           hint="classes=[{'id': 1, 'name': 'cat'}]")
    out = []
    for c in classes:
        if not isinstance(c, dict) or isinstance(c.get("id"), bool) or not isinstance(c.get("id"), int) \
                or not isinstance(c.get("name"), str):
            raise OverlayError(f"image class {c!r} is not {{'id': int, 'name': str}}",
                               hint="classes=[{'id': 1, 'name': 'cat'}]")
        out.append({"id": c["id"], "name": c["name"]})
    return out
