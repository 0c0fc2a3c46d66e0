"""Loading the generated data set and its split as resident float tensors."""
import numpy as np
import torch

from shapes_vae.errors import PipelineError
from shapes_vae.io import load_npz

SHAPES_PATH = "data/shapes.npz"
SPLIT_PATH = "data/split.npz"


def load_shapes(path=SHAPES_PATH):
    """The data set's arrays, checked: square uint8 images of 0/1 with one label each."""
    d = load_npz(path, {"images": ("u", 3), "labels": ("u", 1)})
    images, labels = d["images"], d["labels"]
    n, h, w = images.shape
    if h != w or h % 4:
        raise PipelineError(f"{path}: images are {h}x{w}, expected square images with a side divisible by 4")
    if len(labels) != n:
        raise PipelineError(f"{path}: {n} images but {len(labels)} labels")
    if images.max(initial=0) > 1:
        raise PipelineError(f"{path}: pixel values must be 0 or 1, found {images.max()}")
    return d


def load_split(n_images, path=SPLIT_PATH):
    d = load_npz(path, {k: ("i", 1) for k in ("train", "val", "test")})
    for k in ("train", "val", "test"):
        idx = d[k]
        if len(idx) == 0 or idx.min() < 0 or idx.max() >= n_images:
            raise PipelineError(f"{path}: '{k}' indices must be non-empty and within 0..{n_images - 1}")
    return d


def as_tensor(images, device="cpu"):
    """uint8 (N, H, W) in {0, 1} -> float32 (N, 1, H, W) on `device`."""
    return torch.from_numpy(np.ascontiguousarray(images)).to(device=device, dtype=torch.float32).unsqueeze(1)


def load_labelled_subsets(names, device="cpu", shapes_path=SHAPES_PATH, split_path=SPLIT_PATH):
    """{name: (images float (N, 1, H, W), labels int64 (N,))} for the requested subsets, on device."""
    shapes = load_shapes(shapes_path)
    split = load_split(len(shapes["labels"]), split_path)
    return {k: (as_tensor(shapes["images"][split[k]], device),
                torch.from_numpy(shapes["labels"][split[k]].astype(np.int64)).to(device)) for k in names}


def load_subsets(names, device="cpu", shapes_path=SHAPES_PATH, split_path=SPLIT_PATH):
    """{name: float tensor (N, 1, H, W)} for the requested subsets of the split."""
    return {k: x for k, (x, _) in load_labelled_subsets(names, device, shapes_path, split_path).items()}
