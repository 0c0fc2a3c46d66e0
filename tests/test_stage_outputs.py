"""A stage commits its outputs whole: all from the new run, or all from the last good one."""
import importlib.util

import pytest
import yaml

from shapes_vae.errors import PipelineError
from shapes_vae.io import staged_outputs, write_bytes


def test_staged_outputs_move_in_together_or_not_at_all(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_bytes("metrics/m.json", b"old")
    write_bytes("figures/a/x.png", b"old x")
    write_bytes("figures/a/gone.png", b"a file the new run does not write")
    with pytest.raises(RuntimeError):
        with staged_outputs("figures/a", "metrics/m.json") as staged:
            write_bytes(staged("figures/a") / "x.png", b"new x")
            raise RuntimeError("failure between two writes")
    assert (tmp_path / "figures/a/x.png").read_bytes() == b"old x"
    assert (tmp_path / "metrics/m.json").read_bytes() == b"old"
    with staged_outputs("figures/a", "metrics/m.json") as staged:
        write_bytes(staged("figures/a") / "x.png", b"new x")
        write_bytes(staged("metrics/m.json"), b"new")
    assert (tmp_path / "figures/a/x.png").read_bytes() == b"new x" and (tmp_path / "metrics/m.json").read_bytes() == b"new"
    assert not (tmp_path / "figures/a/gone.png").exists()  # the folder is the new run's, whole
    assert not list(tmp_path.glob(".staged-*"))


@pytest.mark.slow
def test_evaluate_failing_between_two_writes_leaves_the_last_good_outputs(tiny_copy, monkeypatch):
    """The real evaluate stage, made to fail after it has drawn some figures: its metrics and every
    figure stay the last run's; run again without the failure, they are all replaced."""
    monkeypatch.chdir(tiny_copy)
    name = next(iter(yaml.safe_load((tiny_copy / "params.yaml").read_text())["models"]))
    outputs = [f"metrics/{name}.json", *sorted(p.relative_to(tiny_copy).as_posix() for p in (tiny_copy / "figures" / name).iterdir())]
    before = {p: (tiny_copy / p).read_bytes() for p in outputs}
    params = yaml.safe_load((tiny_copy / "params.yaml").read_text())
    params["evaluate"]["seed"] += 1  # the new run's metrics and sampled figures differ
    (tiny_copy / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    spec = importlib.util.spec_from_file_location("evaluate_stage", tiny_copy / "stages/evaluate.py")
    stage = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(stage)

    def fail(*args, **kwargs):
        raise PipelineError("injected failure after the first figures were written")

    monkeypatch.setattr(stage.figures, "plot_latent_traversal", fail)
    with pytest.raises(PipelineError, match="injected"):
        stage.main([name])
    assert {p: (tiny_copy / p).read_bytes() for p in outputs} == before
    assert not list(tiny_copy.glob(".staged-*"))
    monkeypatch.undo()
    monkeypatch.chdir(tiny_copy)
    stage.main([name])
    after = {p: (tiny_copy / p).read_bytes() for p in outputs}
    assert after[f"metrics/{name}.json"] != before[f"metrics/{name}.json"]
    assert after[f"figures/{name}/reconstructions.png"] != before[f"figures/{name}/reconstructions.png"]
