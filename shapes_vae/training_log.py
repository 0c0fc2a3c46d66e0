"""What a training run writes after every epoch, so that it can be watched while it trains.

- logs/<variant>.csv: one row per epoch so far (shapes_vae.train.LOG_COLUMNS), DVC's plot of the
  run; `dvc plots show` and DVC's VS Code extension draw it while the run goes on. It is rewritten
  whole each epoch through a temporary file, so a reader never sees half a row.
- metrics/training/<variant>/metrics.json: the last epoch's train and validation loss and `step`,
  the number of epochs done, written by dvclive, DVC's logger. `dvc exp show` shows it for a
  running or queued experiment (DVC reads a running queued experiment's metrics from its
  temporary workspace), and dvclive tells DVC's VS Code extension that a step completed.
Both are written from the rows alone, so a run resumed from a saved state ends with exactly the
files of an uninterrupted one.
"""
from pathlib import Path

from shapes_vae.io import write_csv_log

# what dvc exp show gets per training stage; the rest of each epoch's row is in the CSV log
SUMMARY_COLUMNS = ("train_loss", "val_loss")


class TrainingLog:
    """`update(rows)` after every epoch writes the CSV log of `rows` (lists in `columns` order,
    the epoch number first) to log_path and dvclive's summary of the last row to metrics_dir.
    dvclive is imported here only: it opens the DVC project around the working directory."""

    def __init__(self, log_path, columns, metrics_dir):
        from dvclive import Live

        self.log_path, self.columns = Path(log_path), list(columns)
        # no dvc.yaml of its own (the stage declares its outputs), no experiment of its own (DVC
        # makes the experiment), no report
        self.live = Live(dir=str(metrics_dir), dvcyaml=False, save_dvc_exp=False, report=None)

    def update(self, rows):
        write_csv_log(self.log_path, self.columns, rows)
        last = dict(zip(self.columns, rows[-1]))
        self.live.summary = {c: last[c] for c in SUMMARY_COLUMNS}
        self.live.step = last["epoch"]  # dvclive writes it as `step` beside the summary
        self.live.next_step()

    def close(self):
        # next_step has written the summary and moved dvclive's step on; end() rewrites the summary
        # with the step it last wrote and clears the VS Code extension's step signal
        self.live.end()
