"""Hugging Face Transformers + Arty: Trainer metrics and the final model as an artifact.

    pip install 'arty[transformers]'
    python examples/integrations/transformers_example.py

The model is a tiny BERT built from a config in this process: nothing is downloaded.
Writes to the store Arty finds (ARTY_STORE, the nearest .arty folder, else ./.arty).
"""

import tempfile

import torch
from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments

import arty
from arty.integrations.transformers import ArtyCallback


class Tokens(torch.utils.data.Dataset):
    """Random token sequences; the label says whether the first token is in the upper half."""

    def __init__(self, n: int, seed: int) -> None:
        self.ids = torch.randint(1, 64, (n, 8), generator=torch.Generator().manual_seed(seed))

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict:
        ids = self.ids[i]
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": int(ids[0] >= 32)}


torch.manual_seed(0)
model = BertForSequenceClassification(BertConfig(vocab_size=64, hidden_size=32, num_hidden_layers=2,
                                                 num_attention_heads=2, intermediate_size=64,
                                                 max_position_embeddings=16, num_labels=2))
args = TrainingArguments(output_dir=tempfile.mkdtemp(prefix="hf-"), report_to="none", use_cpu=True,
                         num_train_epochs=2, per_device_train_batch_size=16, learning_rate=1e-3,
                         logging_steps=4, eval_strategy="epoch", save_strategy="epoch",
                         load_best_model_at_end=True, metric_for_best_model="eval_loss", disable_tqdm=True)

with arty.init(project="integrations", job_type="transformers") as run:
    trainer = Trainer(model=model, args=args, train_dataset=Tokens(64, 1), eval_dataset=Tokens(32, 2),
                      callbacks=[ArtyCallback(log_model="end")])
    trainer.train()
    best = arty.use_artifact(f"model-{run.id}:best")
    print(f"run {run.path}: best model {best.qualified_name} (eval_loss {best.metadata['best_metric']:.4f})")
