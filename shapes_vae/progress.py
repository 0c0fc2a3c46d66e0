"""Progress of a training loop where the user looks: tqdm bars on a terminal, one flushed line per
epoch elsewhere (a DVC queue's log, CI), nothing with runtime.progress: never."""
import sys
import time

from tqdm import tqdm


def progress_mode(setting, stream=None):
    """runtime.progress -> "bars", "lines" or "off". auto: bars on a terminal, lines elsewhere;
    always: bars even off a terminal. stream: sys.stderr at the call (where the lines go)."""
    stream = sys.stderr if stream is None else stream
    if setting == "never":
        return "off"
    if setting == "always" or stream.isatty():
        return "bars"
    return "lines"


class EpochProgress:
    """Iterate the epochs start..total of `name`; report each with `done(...)`."""

    def __init__(self, name, start, total, setting):
        self.name, self.total, self.mode = name, total, progress_mode(setting)
        self.bar = tqdm(range(start, total), desc=name, initial=start, total=total, unit="epoch",
                        disable=self.mode != "bars")
        self.started = time.perf_counter()

    def __iter__(self):
        for epoch in self.bar:
            self.started = time.perf_counter()
            yield epoch

    def batches(self, batches, total):
        """The epoch's batches, with an inner bar in "bars" mode."""
        return tqdm(batches, total=total, leave=False, unit="batch", disable=self.mode != "bars")

    def done(self, epoch, **values):
        """After epoch (0-based): the bar's postfix, or one line such as
        `standard: epoch 3/50 train_loss 41.20 val_loss 43.01 (4.1 s)`."""
        shown = {k: f"{v:.4g}" if isinstance(v, float) else v for k, v in values.items()}
        if self.mode == "bars":
            self.bar.set_postfix(shown)
        elif self.mode == "lines":
            cells = " ".join(f"{k} {v}" for k, v in shown.items())
            print(f"{self.name}: epoch {epoch + 1}/{self.total} {cells} ({time.perf_counter() - self.started:.1f} s)",
                  file=sys.stderr, flush=True)
