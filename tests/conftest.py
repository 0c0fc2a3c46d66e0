import copy
from pathlib import Path

import pytest
import yaml

from shapes_vae.tiny import make_tiny_project, tiny_params  # noqa: F401 (re-exported to the tests)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def paper_params():
    """The committed params.yaml as a dict (a fresh copy per test)."""
    return copy.deepcopy(yaml.safe_load((ROOT / "params.yaml").read_text()))


@pytest.fixture
def tiny_project(tmp_path, paper_params):
    return make_tiny_project(tmp_path / "project", tiny_params(paper_params))
