"""DVC stage `overview`: figures/overview.png, the README's figure, from figures/examples.png and
the reconstructions and latent grid of the two variants that stand for the paper's models
(params `report`)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from shapes_vae.errors import run_stage
from shapes_vae.overview import plot_overview
from shapes_vae.params import load_params

PARAMS = ["report"]  # exactly what dvc.yaml declares for this stage


def main(argv):
    roles = load_params(PARAMS)["report"]
    figures = Path("figures")
    panels = [(v, figures / v / "reconstructions.png", figures / v / "latent_grid.png")
              for v in dict.fromkeys((roles["paper_standard"], roles["paper_modified"]))]
    plot_overview(figures / "examples.png", panels, figures / "overview.png")
    print("overview: figures/overview.png")


if __name__ == "__main__":
    run_stage(main)
