"""PyTorch + Arty: gradient and parameter histograms with run.watch(model).

    pip install 'arty[torch]'
    python examples/integrations/torch_watch.py

Writes to the store Arty finds (ARTY_STORE, the nearest .arty folder, else ./.arty).
"""

import torch

import arty

torch.manual_seed(0)
model = torch.nn.Sequential(
    torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
    torch.nn.Flatten(), torch.nn.Linear(8 * 14 * 14, 10),
)
opt = torch.optim.SGD(model.parameters(), lr=0.05)
x, y = torch.randn(64, 1, 28, 28), torch.randint(0, 10, (64,))

with arty.init(project="integrations", job_type="torch", config={"lr": 0.05}) as run:
    run.watch(model, log="all", log_freq=10)   # histograms every 10th step
    for step in range(30):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad()
        run.log({"loss": loss})                 # the histograms join this row
    run.unwatch(model)
    print(f"run {run.path}: final loss {loss.item():.3f}; histograms at steps 9, 19, 29")
