"""The trainer: epochs of seeded mini-batches over a resident tensor, validation, a row of losses
per epoch, and a resumable state so an interrupted run continues where it stopped.

Determinism: each epoch's shuffle and sampling noise come from generators seeded by
(model seed, epoch) alone, so a run resumed at epoch k draws exactly what an uninterrupted run
draws, and with the saved optimizer state ends with bit-identical weights. Bit-identity holds
for the same machine type, torch version and thread count; other CPUs or thread counts can
change the order of floating-point sums and so the last bits (see README, "What you can rely on").
"""
import hashlib
import json
import math
import sys
from pathlib import Path

import torch

from shapes_vae.errors import PipelineError
from shapes_vae.inference import inference
from shapes_vae.io import torch_bytes, write_bytes
from shapes_vae.objectives import vae_loss
from shapes_vae.progress import EpochProgress
from shapes_vae.runtime import seeded_generator
from shapes_vae.optim import Adam
from shapes_vae.train_step import epoch_batches, train_step

LOG_COLUMNS = [
    "epoch",
    "train_loss", "train_recon", "train_kl", "train_neg_elbo",
    "val_loss", "val_recon", "val_kl", "val_neg_elbo",
]


def validation_terms(model, x, beta, generator, batch_size=250):
    """Mean (loss, recon, KL) per image on x, decoding one sampled z without extra noise.

    250 images per batch keeps the largest activation (25 MB) under the 32 MiB that
    runtime.keep_freed_memory has malloc reuse, so a validation pass does not page-fault its
    buffers in afresh as larger batches do."""
    sums = torch.zeros(3, dtype=torch.float64)
    with inference(model):
        for i in range(0, len(x), batch_size):
            xb = x[i : i + batch_size]
            logits, mu, logvar, _ = model(xb, 0.0, generator)
            total, recon, kl = vae_loss(logits, xb, mu, logvar, beta)
            sums += torch.stack([total, recon, kl]).double().cpu() * len(xb)
    return (sums / len(x)).tolist()


def fingerprint(*parts):
    """A hash of everything a training run depends on: a saved state is resumed only if equal."""
    h = hashlib.sha256()
    for p in parts:
        if isinstance(p, Path):
            h.update(p.read_bytes())
        else:
            h.update(json.dumps(p, sort_keys=True).encode())
    return h.hexdigest()


def fit(name, model, train_x, val_x, cfg, runtime, on_epoch=None, resume_path=None, run_id=""):
    """Train `model` in place with the settings `cfg` (one `models.<name>` group); returns the
    rows of losses, one per epoch, in LOG_COLUMNS order.

    on_epoch(rows), if given, is called after every epoch with the rows so far (a resumed run's
    first call includes the epochs it resumed). If resume_path is given, a resumable state
    (weights, optimizer, rows) is saved there every runtime.resume_every epochs and picked up by
    a rerun with the same run_id (a fingerprint of params and inputs).
    """
    device = next(model.parameters()).device
    # torch's fused kernel: one kernel per step for all parameters instead of about a dozen ops per
    # parameter. The update rule is the default one in another order of float operations, so the
    # last bits differ from the per-parameter form; on a CUDA device every op saved is a launch saved
    optimizer = Adam(model.parameters(), cfg["learning_rate"], fused=True)
    rows, start = [], 0
    resume_path = Path(resume_path) if resume_path else None
    if resume_path and resume_path.exists():
        try:
            state = torch.load(resume_path, map_location=device, weights_only=True)
            ok = state.get("run_id") == run_id
        except Exception:  # a damaged state is not worth failing over: start afresh
            ok = False
        if ok:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            rows, start = [list(r) for r in state["rows"]], state["epoch"]
            print(f"{name}: resuming after epoch {start} from {resume_path}", file=sys.stderr)
        else:
            resume_path.unlink()
    n = len(train_x)
    epochs = EpochProgress(name, start, cfg["epochs"], runtime["progress"])
    model.train()
    for epoch in epochs:
        # shuffle, training samples and validation samples: each from its own (seed, epoch) stream
        shuffle_gen = seeded_generator("cpu", cfg["seed"], epoch, "shuffle")
        sample_gen = seeded_generator(device, cfg["seed"], epoch, "train")
        batch_losses, sums = [], torch.zeros(3, device=device)
        batches = epochs.batches(epoch_batches(n, cfg["batch_size"], shuffle_gen), math.ceil(n / cfg["batch_size"]))
        for b, idx in enumerate(batches):
            xb = train_x[idx.to(device)]
            total, recon, kl = train_step(model, optimizer, xb, cfg["beta"], cfg["noise_sigma"], sample_gen,
                                          runtime["train_precision"])
            batch_losses.append(total)
            sums += torch.stack([total, recon, kl]) * len(idx)
            if epochs.mode == "bars" and b % 10 == 0:
                batches.set_postfix(loss=f"{total.item():.2f}")
        # one check per epoch instead of a device sync per batch: find the first bad batch
        finite = torch.isfinite(torch.stack(batch_losses))
        if not bool(finite.all()):
            bad = int((~finite).nonzero()[0])
            raise PipelineError(
                f"model {name}: loss became {batch_losses[bad].item()} at epoch {epoch + 1}, batch {bad + 1} "
                f"(learning rate {cfg['learning_rate']:g}, beta {cfg['beta']:g}); no checkpoint written"
            )
        train_loss, train_recon, train_kl = (sums / n).tolist()
        val_loss, val_recon, val_kl = validation_terms(model, val_x, cfg["beta"], seeded_generator(device, cfg["seed"], epoch, "val"))
        rows.append([epoch + 1, train_loss, train_recon, train_kl, train_recon + train_kl,
                     val_loss, val_recon, val_kl, val_recon + val_kl])
        epochs.done(epoch, train_loss=train_loss, val_loss=val_loss)
        if on_epoch:
            on_epoch(rows)
        every = runtime["resume_every"]
        if resume_path and every and (epoch + 1) % every == 0 and epoch + 1 < cfg["epochs"]:
            write_bytes(resume_path, torch_bytes({"run_id": run_id, "epoch": epoch + 1, "rows": rows,
                                                  "model": model.state_dict(), "optimizer": optimizer.state_dict()}))
    if resume_path:
        resume_path.unlink(missing_ok=True)
    model.eval()
    return rows
