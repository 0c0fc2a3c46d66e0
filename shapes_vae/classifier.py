"""A small CNN shape classifier: the yardstick for what the VAEs generate.

Trained on the training split's clean binary images, it reads a binary image (for a decoded one,
its mode: see sample_quality.py) and says which shape it sees. sample_quality.py uses it to turn
"the prior samples show no triangles" into a number. It is deliberately separate from the VAE
code: its own params group (`classifier`), stage and checkpoint. Its training loop is in
classifier_training.py, so the stages that only use a trained classifier do not depend on it.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from shapes_vae.inference import inference
from shapes_vae.io import read_torch_file, torch_bytes, write_bytes

FORMAT = "shapes-vae-classifier-1"


class ShapeClassifier(nn.Module):
    """conv 3x3 -> ReLU -> max-pool 2, twice, then a hidden dense layer and one logit per class."""

    def __init__(self, n_classes, channels=(16, 32), hidden=64, image_size=28):
        super().__init__()
        if image_size % 4:
            raise ValueError(f"image_size must be a multiple of 4, got {image_size}")
        c1, c2 = channels
        self.conv1 = nn.Conv2d(1, c1, 3, padding=1)
        self.conv2 = nn.Conv2d(c1, c2, 3, padding=1)
        self.dense = nn.Linear(c2 * (image_size // 4) ** 2, hidden)
        self.out = nn.Linear(hidden, n_classes)

    def forward(self, x):
        """x: (N, 1, H, W) in [0, 1] -> class logits (N, n_classes)."""
        h = F.max_pool2d(F.relu(self.conv1(x)), 2)
        h = F.max_pool2d(F.relu(self.conv2(h)), 2)
        return self.out(F.relu(self.dense(h.flatten(1))))


def build_classifier(cfg, n_classes, image_size):
    return ShapeClassifier(n_classes, tuple(cfg["channels"]), cfg["hidden"], image_size)


def predict_proba(model, x, batch_size=1000):
    """Softmax class probabilities (N, n_classes), float32 on the CPU, in eval mode."""
    dev = next(model.parameters()).device
    with inference(model):
        out = [F.softmax(model(x[i : i + batch_size].to(dev)), dim=1).cpu() for i in range(0, len(x), batch_size)]
    return torch.cat(out) if out else torch.empty(0, model.out.out_features)


def accuracy(model, x, y, batch_size=1000):
    """Share of images whose most probable class is the label y (N,)."""
    return float((predict_proba(model, x, batch_size).argmax(1) == y.cpu()).double().mean())


def save_classifier(path, model, classes, cfg, image_size):
    state = {
        "format": FORMAT,
        "classes": list(classes),
        "config": dict(cfg),
        "image_size": image_size,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }
    write_bytes(path, torch_bytes(state))


def load_classifier(path, device="cpu"):
    """(model, class names) from a checkpoint written by save_classifier; loaded without pickle."""
    state = read_torch_file(path, FORMAT, "classifier")
    model = build_classifier(state["config"], len(state["classes"]), state["image_size"])
    model.load_state_dict(state["state_dict"])
    return model.to(device).eval(), state["classes"]
