"""DVC stage `factors@<variant>`: does the variant's latent code line up with the generative factors?

Encodes the training and test splits (encoder means), computes the Mutual Information Gap per
factor on the test split and linear probes fitted on the training split (shapes_vae.factors),
and writes metrics/factors/<variant>.json and the heat map figures/factors/<variant>.png.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from shapes_vae.checkpoint import load_checkpoint
from shapes_vae.data import load_shapes, load_split, as_tensor
from shapes_vae.errors import run_stage
from shapes_vae.latents import encode_all
from shapes_vae.factors import factor_measures, image_factors
from shapes_vae.io import staged_outputs, write_json
from shapes_vae.params import load_params, variant_argument
from shapes_vae.plotting import plot_factor_heatmap
from shapes_vae.runtime import configure_torch


# exactly what dvc.yaml declares for this stage; the variant's own settings because its
# checkpoint changes with them anyway
PARAMS = ["architecture", "runtime.device", "runtime.backend", "runtime.threads", "factors", "models.{variant}"]


def main(argv):
    name = variant_argument(argv, "factors.py")
    p = load_params(PARAMS, variant=name)
    device = configure_torch(p["runtime"])
    shapes = load_shapes()
    split = load_split(len(shapes["labels"]))
    model, _ = load_checkpoint(f"models/{name}.pt", p["architecture"], shapes["images"].shape[-1], device,
                               p["runtime"]["backend"])
    codes, factors = {}, {}
    for part in ("train", "test"):
        images, labels = shapes["images"][split[part]], shapes["labels"][split[part]]
        codes[part] = encode_all(model, as_tensor(images, device))[0].numpy()
        factors[part] = image_factors(images, labels)
    result = factor_measures(codes["train"], factors["train"], codes["test"], factors["test"], p["factors"]["bins"])
    metrics_path, figure_path = Path(f"metrics/factors/{name}.json"), Path(f"figures/factors/{name}.png")
    with staged_outputs(metrics_path, figure_path) as staged:
        plot_factor_heatmap(result["mi_normalised"], result["factor_names"], staged(figure_path),
                            f"{name} VAE: I(z_j; factor) / H(factor), test set")
        write_json(staged(metrics_path), result)
    mig = result["mig_mean"]
    print(f"factors {name}: mean MIG {'undefined' if mig is None else f'{mig:.3f}'}, "
          f"class probe accuracy {result.get('probe_accuracy_class')}")


if __name__ == "__main__":
    run_stage(main)
