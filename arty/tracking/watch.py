"""PyTorch: ``run.watch(model)`` logs per-layer gradient and parameter histograms through hooks.

::

    run = arty.init(project="cifar")
    run.watch(model, log="all", log_freq=100)     # or arty.watch(model)
    for x, y in loader:
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step(); optimizer.zero_grad()
        run.log({"loss": loss})                    # histograms join this row
    run.unwatch(model)

``log="gradients"`` (default) puts a hook on each parameter that requires a
gradient: every ``log_freq``-th backward pass it logs ``gradients/<name>``, the
histogram of the gradient that pass computed. ``log="parameters"`` puts one
forward hook on the model: every ``log_freq``-th forward pass in training mode
it logs ``parameters/<name>`` for every parameter. ``log="all"`` does both. On
the other passes a hook only counts. Histograms (:class:`arty.Histogram`) are
logged with ``commit=False``, so they join the row of the next ``run.log``.

Rules: watching a model that is already watched replaces the earlier watch (its
hooks are removed first; the counters start again), so no histogram is ever
logged twice. A model with no parameters, or, for ``"gradients"`` and
``"all"``, none that requires a gradient, is refused with :class:`UsageError`.
``run.finish()`` removes the hooks (a hook that still finds its run finished
removes itself instead of logging).

Part of the tracking layer (``Run.watch`` imports it when first called, so torch is
imported only by those who watch); ``arty.integrations.torch`` re-exports it.
"""

from __future__ import annotations

import warnings
import weakref
from typing import Any, Callable

from arty.errors import ArtyError, UsageError
from arty.tracking.media import MAX_BINS, Histogram
from arty.tracking.run import Run, current

try:
    import torch
except ImportError as _exc:  # pragma: no cover - exercised only without torch
    raise ImportError("run.watch() needs 'torch', which is not installed\n"
                      "hint: pip install 'arty[torch]'") from _exc

__all__ = ["LOG_MODES", "Watch", "unwatch", "watch", "watched"]

LOG_MODES = ("gradients", "parameters", "all")

#: model -> its watch; a model that is garbage collected drops out.
_watches: "weakref.WeakKeyDictionary[torch.nn.Module, Watch]" = weakref.WeakKeyDictionary()


class Watch:
    """The hooks that log one model's histograms to one run. Made by :func:`watch`."""

    def __init__(self, run: Run, model: torch.nn.Module, log: str, log_freq: int, num_bins: int,
                 prefix: str) -> None:
        self.run = run
        self.log = log
        self.log_freq = log_freq
        self.num_bins = num_bins
        self.prefix = prefix
        self._model = weakref.ref(model)
        self._handles: list[Any] = []
        self._forwards = 0
        self._warned = False

    @property
    def model(self) -> torch.nn.Module | None:
        return self._model()

    @property
    def active(self) -> bool:
        """True while the hooks are in place."""
        return bool(self._handles)

    def attach(self, model: torch.nn.Module) -> None:
        if self.log in ("parameters", "all"):
            self._handles.append(model.register_forward_hook(self._on_forward))
        if self.log in ("gradients", "all"):
            for name, p in model.named_parameters():
                if p.requires_grad:
                    self._handles.append(p.register_hook(self._gradient_hook(f"{self.prefix}gradients/{name}")))

    def remove(self) -> None:
        """Take the hooks off the model (safe to call twice)."""
        handles, self._handles = self._handles, []
        for h in handles:
            h.remove()
        model = self.model
        if model is not None and _watches.get(model) is self:
            del _watches[model]

    # -- hooks: on the steps that are not logged, a counter and a modulo, nothing else --------

    def _gradient_hook(self, key: str) -> Callable[[torch.Tensor], None]:
        freq = self.log_freq
        count = [0]

        def hook(grad: torch.Tensor) -> None:
            count[0] += 1
            if count[0] % freq:
                return None
            self._log({key: grad})
            return None

        return hook

    def _on_forward(self, module: torch.nn.Module, inputs: Any, output: Any) -> None:
        if not module.training:
            return
        self._forwards += 1
        if self._forwards % self.log_freq:
            return
        with torch.no_grad():
            self._log({f"{self.prefix}parameters/{name}": p for name, p in module.named_parameters()})

    def _log(self, tensors: dict[str, torch.Tensor]) -> None:
        """Histograms of ``tensors`` into the run's pending row; never raises into training."""
        if self.run._finished:
            self.remove()
            return
        try:
            row = {}
            for key, t in tensors.items():
                h = Histogram(t.detach(), num_bins=self.num_bins)
                if not h.empty:
                    row[key] = h
            if row:
                self.run.log(row, commit=False)
        except Exception as exc:  # noqa: BLE001 - training goes on without the histograms
            if not self._warned:
                self._warned = True
                warnings.warn(f"arty: watch could not log histograms ({exc}); training goes on",
                              RuntimeWarning, stacklevel=2)


def watch(model: Any, log: str = "gradients", log_freq: int = 100, *, run: Run | None = None,
          num_bins: int = 64, prefix: str = "") -> Watch | None:
    """Log histograms of ``model``'s gradients and/or parameters to ``run``
    (default: the current run) every ``log_freq`` steps; see the module docs.

    Returns the :class:`Watch` (``watch.remove()`` is :func:`unwatch` for this
    model), or None for a disabled run. Raises :class:`UsageError` for a
    ``model`` that is not a ``torch.nn.Module``, an unknown ``log``, a
    ``log_freq`` below 1, a ``num_bins`` out of 1..512, a model with no
    parameters, or (``"gradients"``, ``"all"``) none that requires a gradient.
    """
    if run is None:
        run = current()
        if run is None:
            raise ArtyError("no active run", hint="call arty.init() first, or pass run=")
    if not isinstance(model, torch.nn.Module):
        raise UsageError(f"cannot watch a {type(model).__name__}", hint="pass a torch.nn.Module")
    if log not in LOG_MODES:
        raise UsageError(f"invalid log {log!r} for watch", hint="use 'gradients', 'parameters' or 'all'")
    if isinstance(log_freq, bool) or not isinstance(log_freq, int) or log_freq < 1:
        raise UsageError(f"invalid log_freq {log_freq!r} for watch", hint="use a number of steps >= 1, e.g. 100")
    if isinstance(num_bins, bool) or not isinstance(num_bins, int) or not 1 <= num_bins <= MAX_BINS:
        raise UsageError(f"invalid num_bins {num_bins!r} for watch", hint=f"use an int from 1 to {MAX_BINS}")
    params = list(model.parameters())
    cls = type(model).__name__
    if not params:
        raise UsageError(f"model '{cls}' has no parameters to watch",
                         hint="watch the model that holds the layers (or its parent)")
    if log != "parameters" and not any(p.requires_grad for p in params):
        raise UsageError(f"model '{cls}' has no parameters that require gradients, so there are none to log",
                         hint="use log='parameters', or unfreeze layers with requires_grad_(True) before watch()")
    if getattr(run, "mode", None) == "disabled":
        return None
    previous = _watches.get(model)
    if previous is not None:
        previous.remove()
    w = Watch(run, model, log, log_freq, num_bins, prefix)
    w.attach(model)
    _watches[model] = w
    return w


def unwatch(model: Any = None, *, run: Run | None = None) -> int:
    """Remove the hooks :func:`watch` put on ``model``; with no ``model``, on every
    model watched for ``run`` (default: the current run; with no run, every model).
    A model that is not watched is left as it is. Returns how many models were unwatched."""
    if model is not None:
        w = _watches.get(model) if isinstance(model, torch.nn.Module) else None
        if w is None:
            return 0
        w.remove()
        return 1
    run = run if run is not None else current()
    found = [w for w in list(_watches.values()) if run is None or w.run is run]
    for w in found:
        w.remove()
    return len(found)


def watched(run: Run | None = None) -> list[Watch]:
    """The active watches (of ``run``, or all)."""
    return [w for w in list(_watches.values()) if run is None or w.run is run]
