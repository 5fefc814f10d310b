"""PyTorch ``run.watch``: gradient and parameter histograms through hooks, unwatch, and bad input."""

from __future__ import annotations

import warnings

import pytest

torch = pytest.importorskip("torch", reason="the watch tests need torch (pip install -e '.[test]')")

import arty  # noqa: E402
from arty.errors import ArtyError, UsageError  # noqa: E402
from arty.integrations import torch as arty_torch  # noqa: E402

QUIET = dict(console=False, system_metrics=False, code=False)


@pytest.fixture
def store_url(tmp_path):
    return str(tmp_path / "store")


class Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 2, 3)
        self.fc = torch.nn.Linear(2 * 4 * 4, 3)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).flatten(1))


def train(model, run, steps: int, log_every_step: bool = True) -> None:
    torch.manual_seed(0)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(steps):
        x = torch.randn(4, 1, 6, 6)
        loss = model(x).pow(2).mean()
        loss.backward()
        opt.step()
        opt.zero_grad()
        if log_every_step:
            run.log({"loss": loss})


def hist_rows(store_url, run):
    rows = list(arty.Api(store_url).run(run.path).scan_history())
    return rows, [r for r in rows if any(k.startswith(("gradients/", "parameters/")) for k in r)]


PARAMS = ["conv.weight", "conv.bias", "fc.weight", "fc.bias"]


def test_gradients_every_log_freq_steps_join_the_next_row(store_url):
    run = arty.init(project="p", store=store_url, **QUIET)
    model = Net()
    w = run.watch(model, log_freq=3)
    assert w.active and arty_torch.watched(run) == [w]
    train(model, run, steps=7)
    run.finish()
    rows, with_hists = hist_rows(store_url, run)
    assert len(rows) == 7 and [r["_step"] for r in with_hists] == [2, 5]  # the 3rd and 6th backward
    row = with_hists[0]
    assert sorted(k for k in row if k.startswith("gradients/")) == sorted(f"gradients/{p}" for p in PARAMS)
    assert not any(k.startswith("parameters/") for k in row) and "loss" in row
    h = row["gradients/fc.weight"]
    assert h["_type"] == "histogram" and len(h["bins"]) == 65 and len(h["values"]) == 64
    assert sum(h["values"]) == 3 * 2 * 4 * 4  # every element of fc.weight's gradient
    assert "gradients/fc.weight" not in arty.Api(store_url).run(run.path).summary


def test_parameters_histograms_match_the_weights(store_url):
    run = arty.init(project="p", store=store_url, **QUIET)
    model = Net()
    arty.watch(model, log="parameters", log_freq=2, num_bins=8)
    train(model, run, steps=1)
    model.eval()
    with torch.no_grad():
        for _ in range(5):
            model(torch.randn(1, 1, 6, 6))  # evaluation passes are not counted
    model.train()
    weights = model.conv.weight.detach().clone()
    model(torch.randn(1, 1, 6, 6))  # 2nd training forward: logged
    run.log({"done": 1})
    run.finish()
    _, with_hists = hist_rows(store_url, run)
    assert len(with_hists) == 1
    row = with_hists[0]
    assert sorted(k for k in row if k.startswith("parameters/")) == sorted(f"parameters/{p}" for p in PARAMS)
    assert not any(k.startswith("gradients/") for k in row)
    h = row["parameters/conv.weight"]
    assert len(h["values"]) == 8 and sum(h["values"]) == weights.numel()
    assert h["bins"][0] == pytest.approx(weights.min().item()) and h["bins"][-1] == pytest.approx(weights.max().item())


def test_log_all_and_a_prefix(store_url):
    run = arty.init(project="p", store=store_url, **QUIET)
    model = Net()
    run.watch(model, log="all", log_freq=1, prefix="net/")
    train(model, run, steps=2)
    run.finish()
    rows, with_hists = hist_rows(store_url, run)
    assert with_hists == []  # every key is under the prefix
    with_hists = [r for r in rows if any(k.startswith("net/") for k in r)]
    assert len(with_hists) == 2
    keys = {k for k in with_hists[0] if k.startswith("net/")}
    assert keys == {f"net/{kind}/{p}" for kind in ("gradients", "parameters") for p in PARAMS}


def test_frozen_layers_get_no_gradient_hooks(store_url):
    run = arty.init(project="p", store=store_url, **QUIET)
    model = Net()
    model.conv.requires_grad_(False)
    run.watch(model, log_freq=1)
    train(model, run, steps=1)
    run.finish()
    _, with_hists = hist_rows(store_url, run)
    assert sorted(k for k in with_hists[0] if k.startswith("gradients/")) == ["gradients/fc.bias", "gradients/fc.weight"]


def test_unwatch_removes_every_hook(store_url):
    run = arty.init(project="p", store=store_url, **QUIET)
    model = Net()
    run.watch(model, log="all", log_freq=1)
    assert model._forward_hooks and model.fc.weight._backward_hooks
    assert run.unwatch(model) == 1
    assert not model._forward_hooks and not model.fc.weight._backward_hooks
    assert run.unwatch(model) == 0  # not watched any more: nothing to do
    train(model, run, steps=2)
    other = Net()
    run.watch(model, log_freq=1)
    run.watch(other, log_freq=1)
    assert arty.unwatch() == 2 and arty_torch.watched() == []
    run.finish()
    _, with_hists = hist_rows(store_url, run)
    assert with_hists == []


def test_watching_twice_replaces_the_first_watch(store_url):
    run = arty.init(project="p", store=store_url, **QUIET)
    model = Net()
    first = run.watch(model, log="all", log_freq=1)
    second = run.watch(model, log="gradients", log_freq=2)
    assert not first.active and second.active and arty_torch.watched(run) == [second]
    assert not model._forward_hooks  # the first watch's parameter hook is gone
    assert all(len(p._backward_hooks) == 1 for p in model.parameters())  # one gradient hook each, not two
    train(model, run, steps=2)
    run.finish()
    _, with_hists = hist_rows(store_url, run)
    assert [r["_step"] for r in with_hists] == [1]
    assert not any(k.startswith("parameters/") for k in with_hists[0])


def test_finish_takes_the_hooks_off(store_url):
    run = arty.init(project="p", store=store_url, **QUIET)
    model = Net()
    w = run.watch(model, log="all", log_freq=1)
    train(model, run, steps=1, log_every_step=False)  # histograms pending, no row committed yet
    run.finish()
    assert not w.active and not model._forward_hooks and not model.fc.weight._backward_hooks
    assert arty_torch.watched() == []
    _, with_hists = hist_rows(store_url, run)
    assert len(with_hists) == 1  # the pending row was committed by finish()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "log() after finish()" warning from any hook
        train(model, run=arty.init(project="p", store=store_url, **QUIET), steps=1)
    arty.finish()


def test_disabled_run_watches_nothing():
    run = arty.init(project="p", mode="disabled")
    model = Net()
    assert run.watch(model) is None and arty.watch(model) is None
    assert not model.fc.weight._backward_hooks
    assert run.unwatch() == 0
    run.finish()


# -- bad input ------------------------------------------------------------------------------


def test_model_without_gradients_is_refused(store_url):
    run = arty.init(project="p", store=store_url, **QUIET)
    frozen = Net().requires_grad_(False)
    for log in ("gradients", "all"):
        with pytest.raises(UsageError, match="model 'Net' has no parameters that require gradients") as info:
            run.watch(frozen, log=log)
        assert "log='parameters'" in info.value.hint
    assert not frozen._forward_hooks and arty_torch.watched(run) == []
    assert run.watch(frozen, log="parameters").active  # its weights can still be watched
    with pytest.raises(UsageError, match="model 'ReLU' has no parameters to watch"):
        run.watch(torch.nn.ReLU())
    run.finish()


@pytest.mark.parametrize("kwargs, match", [
    (dict(log="weights"), "invalid log 'weights' for watch"),
    (dict(log_freq=0), "invalid log_freq 0 for watch"),
    (dict(log_freq=2.5), "invalid log_freq 2.5 for watch"),
    (dict(num_bins=0), "invalid num_bins 0 for watch"),
])
def test_bad_settings_are_refused(store_url, kwargs, match):
    run = arty.init(project="p", store=store_url, **QUIET)
    model = Net()
    with pytest.raises(UsageError, match=match):
        run.watch(model, **kwargs)
    assert not model._forward_hooks and not model.fc.weight._backward_hooks
    run.finish()


def test_not_a_module_and_no_run():
    with pytest.raises(ArtyError, match="no active run"):
        arty.watch(Net())
    with pytest.raises(ArtyError, match="no active run"):
        arty_torch.watch(Net())
    assert arty.unwatch() == 0
    run = arty.init(project="p", mode="offline", **QUIET)
    with pytest.raises(UsageError, match="cannot watch a dict"):
        run.watch({"w": torch.zeros(2)})
    run.finish()
