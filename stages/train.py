"""DVC stages `train@<variant>` and `finetune@<variant>`: python stages/train.py <variant>.

Trains the variant `models.<variant>` of params.yaml, from scratch or from the trained checkpoint
of the variant its `init` names; writes models/<variant>.pt when training completes, and after
every epoch the log logs/<variant>.csv and the last epoch's losses in
metrics/training/<variant>/metrics.json (shapes_vae.training_log), so a running experiment can be
watched. An interrupted run leaves a resumable state in .resume/ and the next run with the same
params, inputs and code continues from it.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's package
import torch

from shapes_vae.backends import build_vae
from shapes_vae.checkpoint import load_checkpoint, save_checkpoint
from shapes_vae.data import SHAPES_PATH, SPLIT_PATH, load_subsets
from shapes_vae.errors import run_stage
from shapes_vae.params import load_params, variant_argument
from shapes_vae.runtime import configure_torch
from shapes_vae.train import LOG_COLUMNS, fingerprint, fit
from shapes_vae.training_log import TrainingLog


PARAMS = ["architecture", "runtime.device", "runtime.backend", "runtime.threads", "runtime.train_precision",
          "models.{variant}"]  # exactly what dvc.yaml declares for this stage


def main(argv):
    name = variant_argument(argv, "train.py")
    p = load_params(PARAMS, variant=name, untracked=["runtime.progress", "runtime.resume_every"])
    cfg, arch, runtime = p["models"][name], p["architecture"], p["runtime"]
    device = configure_torch(runtime)
    data = load_subsets(["train", "val"], device)
    image_size = data["train"].shape[-1]
    ckpt, log, resume = Path(f"models/{name}.pt"), Path(f"logs/{name}.csv"), Path(f".resume/{name}.pt")
    live_metrics = Path(f"metrics/training/{name}")  # dvclive's folder: its metrics.json
    inputs = [Path(SHAPES_PATH), Path(SPLIT_PATH)]
    torch.manual_seed(cfg["seed"])  # weight initialisation
    if cfg["init"] == "scratch":
        model = build_vae(arch, image_size, runtime["backend"], device)
    else:  # fine-tune another trained variant with a fresh optimizer, as the reference did
        init_path = Path(f"models/{cfg['init']}.pt")
        model, _ = load_checkpoint(init_path, arch, image_size, device, runtime["backend"])
        inputs.append(init_path)
    # a saved state is resumed only by the same params, inputs, code and torch
    code = [Path(__file__), *sorted(Path(__file__).resolve().parents[1].joinpath("shapes_vae").glob("*.py"))]
    run_id = fingerprint(name, cfg, arch, runtime["device"], runtime["backend"], runtime["train_precision"],
                         torch.get_num_threads(), torch.__version__, *inputs, *code)
    training_log = TrainingLog(log, LOG_COLUMNS, live_metrics)
    rows = fit(name, model, data["train"], data["val"], cfg, runtime, training_log.update, resume, run_id)
    training_log.close()
    save_checkpoint(ckpt, model, name, arch, cfg)  # only a completed run writes a checkpoint
    last = rows[-1]
    print(f"train {name}: {cfg['epochs']} epochs, last epoch train recon {last[2]:.2f} KL {last[3]:.2f}, "
          f"val recon {last[6]:.2f} KL {last[7]:.2f} -> {ckpt}")


if __name__ == "__main__":
    run_stage(main)
