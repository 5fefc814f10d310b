"""Hugging Face Transformers integration: a tiny model built from a config (nothing downloaded), a few steps."""

from __future__ import annotations

import os

import pytest

pytest.importorskip("transformers", reason="the Transformers tests need transformers (pip install -e '.[test]')")
pytest.importorskip("accelerate", reason="the Trainer needs accelerate (pip install -e '.[test]')")

import torch  # noqa: E402
from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments  # noqa: E402

import arty  # noqa: E402
from arty.errors import UsageError  # noqa: E402
from arty.integrations.transformers import ArtyCallback, rewrite_logs  # noqa: E402

QUIET = dict(console=False, system_metrics=False, code=False)


class Pairs(torch.utils.data.Dataset):
    def __init__(self, n: int) -> None:
        g = torch.Generator().manual_seed(n)
        self.ids = torch.randint(1, 30, (n, 6), generator=g)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict:
        ids = self.ids[i]
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": int(ids[0] > 15)}


def tiny_model() -> BertForSequenceClassification:
    torch.manual_seed(0)
    return BertForSequenceClassification(BertConfig(vocab_size=32, hidden_size=8, num_hidden_layers=1,
                                                    num_attention_heads=2, intermediate_size=16,
                                                    max_position_embeddings=16, num_labels=2))


def make_trainer(tmp_path, callback, **kwargs) -> Trainer:
    args = TrainingArguments(output_dir=str(tmp_path / "out"), report_to="none", use_cpu=True, max_steps=4,
                             per_device_train_batch_size=4, logging_steps=1, eval_strategy="steps", eval_steps=2,
                             save_strategy="steps", save_steps=2, disable_tqdm=True, **kwargs)
    return Trainer(model=tiny_model(), args=args, train_dataset=Pairs(16), eval_dataset=Pairs(8),
                   callbacks=[callback])


@pytest.fixture
def store_url(tmp_path):
    return str(tmp_path / "store")


def test_logs_args_metrics_and_final_model(tmp_path, store_url):
    run = arty.init(project="hf", store=store_url, config={"seed": 7}, **QUIET)
    cb = ArtyCallback(log_model="end")
    make_trainer(tmp_path, cb, load_best_model_at_end=True, metric_for_best_model="eval_loss").train()
    assert cb.run is run
    (version,) = cb.logged
    assert version.type == "model" and version.base_name == f"model-{run.id}"
    assert arty.use_artifact(f"model-{run.id}:best").number == version.number
    assert version.metadata["global_step"] == 4 and version.metadata["metric_for_best_model"] == "eval_loss"
    folder = version.download(str(tmp_path / "dl"))
    assert {"config.json", "model.safetensors"} <= set(os.listdir(folder))
    reloaded = BertForSequenceClassification.from_pretrained(folder)
    assert reloaded.config.hidden_size == 8
    run.finish()

    api_run = arty.Api(store_url).run(run.path)
    assert api_run.config["seed"] == 7
    assert api_run.config["trainer_args"]["max_steps"] == 4
    assert api_run.config["model_config"]["hidden_size"] == 8
    assert api_run.config["model_num_parameters"] == sum(p.numel() for p in tiny_model().parameters())
    rows = list(api_run.scan_history())
    train = [r for r in rows if "train/loss" in r]
    assert [r["train/global_step"] for r in train] == [1, 2, 3, 4]
    evals = [r for r in rows if "eval/loss" in r]
    assert [r["train/global_step"] for r in evals] == [2, 4]
    assert "train/train_runtime" in api_run.summary and "train/train_runtime" not in {k for r in rows for k in r}


def test_checkpoints_are_logged_as_they_are_saved(tmp_path, store_url):
    with arty.init(project="hf", store=store_url, **QUIET) as run:
        cb = ArtyCallback(run, log_model="checkpoint", model_name="tiny-bert")
        make_trainer(tmp_path, cb).train()
    assert [v.metadata["global_step"] for v in cb.logged] == [2, 4]
    assert [v.number for v in cb.logged] == [0, 1]
    files = set(os.listdir(cb.logged[0].download(str(tmp_path / "dl"))))
    assert {"config.json", "model.safetensors", "trainer_state.json"} <= files


def test_starts_a_run_when_none_is_active(tmp_path, store_url):
    cb = ArtyCallback(project="hf-auto", store=store_url, **QUIET)
    make_trainer(tmp_path, cb, run_name="tiny").train()
    assert cb.run.project == "hf-auto" and cb.run.name == "tiny" and cb.logged == []
    cb.run.finish()


def test_rewrite_logs():
    assert rewrite_logs({"loss": 1, "eval_loss": 2, "test_f1": 3}) == {"train/loss": 1, "eval/loss": 2, "test/f1": 3}


@pytest.mark.parametrize("value", ["best", 1, "all"])
def test_bad_log_model_is_refused(value):
    with pytest.raises(UsageError, match="invalid log_model"):
        ArtyCallback(log_model=value)
