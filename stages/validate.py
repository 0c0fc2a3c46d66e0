"""DVC stage `validate`: the whole of params.yaml, and its agreement with dvc.yaml, checked before
any other stage runs.

DVC removes a stage's outputs before it runs the stage's command, so a bad setting found by the
stage that reads it would already have cost that stage's last good results. This stage depends on
params.yaml as a file (any edit reruns it, in under a second) and every other stage
depends on its output through `generate`, so DVC runs it first; a bad edit stops `dvc repro` or
`dvc exp run` here, with every output of the last good run still in place. Its one output is
`persist`ed (DVC does not remove it) and never changes, so a good edit reruns only the stages whose
own params changed.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from shapes_vae.errors import run_stage
from shapes_vae.io import write_bytes
from shapes_vae.params import load_params

PARAMS = []  # params.yaml is a file dependency of this stage: every setting is read and checked
CHECKED = Path("data/params.checked")
CONTENT = b"params.yaml and dvc.yaml passed validation (stages/validate.py); every stage runs after this check\n"


def main(argv):
    load_params(PARAMS, complete=True)
    if not CHECKED.exists() or CHECKED.read_bytes() != CONTENT:
        write_bytes(CHECKED, CONTENT)
    print("validate: params.yaml and dvc.yaml are valid")


if __name__ == "__main__":
    run_stage(main)
