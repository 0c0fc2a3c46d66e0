"""Running a model for measurement rather than training."""
import contextlib

import torch


@contextlib.contextmanager
def inference(model):
    """no_grad + eval mode for the duration, restoring the model's previous training flag."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was_training)
