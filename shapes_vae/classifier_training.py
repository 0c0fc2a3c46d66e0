"""Training the shape classifier (stage `train_classifier`); the model is in classifier.py."""
import math

import torch
import torch.nn.functional as F

from shapes_vae.classifier import accuracy
from shapes_vae.errors import PipelineError
from shapes_vae.optim import Adam
from shapes_vae.progress import EpochProgress
from shapes_vae.runtime import seeded_generator


def fit_classifier(model, train_x, train_y, val_x, val_y, cfg, progress="never"):
    """Adam on the mean cross-entropy, seeded shuffles (one stream per epoch, as the VAE trainer).
    Returns one row per epoch: [epoch, train_loss, train_accuracy, val_accuracy]."""
    device = next(model.parameters()).device
    optimizer = Adam(model.parameters(), cfg["learning_rate"])
    n, rows = len(train_x), []
    epochs = EpochProgress("classifier", 0, cfg["epochs"], progress)
    for epoch in epochs:
        model.train()
        order = torch.randperm(n, generator=seeded_generator("cpu", cfg["seed"], epoch, "classifier"))
        loss_sum, correct = torch.zeros((), device=device), torch.zeros((), device=device)
        for idx in order.split(cfg["batch_size"]):
            idx = idx.to(device)
            logits = model(train_x[idx])
            loss = F.cross_entropy(logits, train_y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            loss_sum += loss.detach() * len(idx)
            correct += (logits.detach().argmax(1) == train_y[idx]).sum()
        train_loss = float(loss_sum) / n
        if not math.isfinite(train_loss):
            raise PipelineError(f"classifier: loss became {train_loss} at epoch {epoch + 1} "
                                f"(classifier.learning_rate {cfg['learning_rate']:g})")
        rows.append([epoch + 1, train_loss, float(correct) / n, accuracy(model, val_x, val_y)])
        epochs.done(epoch, train_loss=train_loss, train_accuracy=rows[-1][2], val_accuracy=rows[-1][3])
    model.eval()
    return rows
