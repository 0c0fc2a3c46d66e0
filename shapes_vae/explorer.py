"""The latent explorer: one self-contained HTML page that runs the trained VAEs in the browser.

The page (explorer_assets/explorer.html with vae.js, explorer.js and explorer.css inlined) holds
every variant's weights and the test images as base64 inside a JSON block; vae.js encodes and
decodes with the exact function of shapes_vae.model.VAE (Keras' 'same' alignment included),
explorer.js is the page around it. It loads nothing: no network, no server, it opens from disk.

The weights are exported as float32 (the checkpoint's own values, little-endian) and the page
sums in float64, so its pixel probabilities and encoder means agree with PyTorch's float32 ones to
float32 rounding (tests/test_explorer.py checks 1e-4).
"""
import base64
import json
from pathlib import Path

import numpy as np

ASSETS = Path(__file__).with_name("explorer_assets")
# The layers of shapes_vae.model.VAE the page runs; their shapes are checked against the architecture.
LAYERS = ("enc_conv1", "enc_conv2", "enc_dense", "enc_mu", "enc_logvar",
          "dec_dense", "dec_deconv1", "dec_deconv2", "dec_out")


def _b64(array, dtype):
    return base64.b64encode(np.ascontiguousarray(array, dtype=dtype).tobytes()).decode("ascii")


def expected_shapes(architecture, image_size):
    """{parameter name: shape} of shapes_vae.model.VAE for this architecture (torch's layouts:
    Conv2d (out, in, kh, kw), ConvTranspose2d (in, out, kh, kw), Linear (out, in))."""
    c1, c2 = architecture["channels"]
    latent, hidden = architecture["latent_dim"], architecture["hidden"]
    features = c2 * (image_size // 4) ** 2
    weights = {"enc_conv1": (c1, 1, 3, 3), "enc_conv2": (c2, c1, 3, 3), "enc_dense": (hidden, features),
               "enc_mu": (latent, hidden), "enc_logvar": (latent, hidden), "dec_dense": (features, latent),
               "dec_deconv1": (c2, c2, 3, 3), "dec_deconv2": (c2, c1, 3, 3), "dec_out": (c1, 1, 3, 3)}
    bias = {"enc_conv1": c1, "enc_conv2": c2, "enc_dense": hidden, "enc_mu": latent, "enc_logvar": latent,
            "dec_dense": features, "dec_deconv1": c2, "dec_deconv2": c1, "dec_out": 1}
    out = {}
    for layer in LAYERS:
        out[f"{layer}.weight"], out[f"{layer}.bias"] = weights[layer], (bias[layer],)
    return out


def export_weights(state_dict, architecture, image_size):
    """{parameter name: {"shape": [...], "float32": base64}} of a VAE's state dict (numpy arrays or
    CPU tensors); ValueError naming the parameter if one is missing or of another shape."""
    out = {}
    for name, shape in expected_shapes(architecture, image_size).items():
        if name not in state_dict:
            raise ValueError(f"the weights have no {name}")
        value = np.asarray(state_dict[name], dtype=np.float32)
        if value.shape != shape:
            raise ValueError(f"{name} has shape {list(value.shape)}, the architecture gives {list(shape)}")
        out[name] = {"shape": list(shape), "float32": _b64(value, "<f4")}
    return out


def export_images(images):
    """Binary images (N, H, W) of 0/1 as one base64 string of packed bits, row-major, MSB first."""
    images = np.asarray(images)
    return base64.b64encode(np.packbits(images.reshape(len(images), -1).astype(bool), axis=1).tobytes()).decode("ascii")


def page_data(variants, architecture, image_size, test_images, test_labels, classes):
    """Everything the page shows. `variants`: {name: {"state_dict": ..., "beta": float,
    "noise_sigma": float, "init": str}} in the order of params.yaml `models`."""
    return {
        "architecture": {"latent_dim": architecture["latent_dim"], "channels": list(architecture["channels"]),
                         "hidden": architecture["hidden"]},
        "image_size": int(image_size),
        "variants": [{"name": name, "beta": float(v["beta"]), "noise_sigma": float(v["noise_sigma"]),
                      "init": v["init"], "weights": export_weights(v["state_dict"], architecture, image_size)}
                     for name, v in variants.items()],
        "test": {"count": len(test_images), "bits": export_images(test_images),
                 "labels": [int(x) for x in test_labels], "classes": list(classes)},
    }


def _script_safe(text):
    """Text that cannot end the <script> element it is inlined into."""
    return text.replace("</", "<\\/")


def page_html(data):
    """The explorer page: the template with its script, style and data inlined."""
    template = (ASSETS / "explorer.html").read_text(encoding="utf-8")
    parts = {
        "/*EXPLORER_CSS*/": (ASSETS / "explorer.css").read_text(encoding="utf-8"),
        "/*EXPLORER_VAE_JS*/": _script_safe((ASSETS / "vae.js").read_text(encoding="utf-8")),
        "/*EXPLORER_JS*/": _script_safe((ASSETS / "explorer.js").read_text(encoding="utf-8")),
        "/*EXPLORER_DATA*/": _script_safe(json.dumps(data, separators=(",", ":"))),
    }
    for placeholder, text in parts.items():
        if template.count(placeholder) != 1:
            raise ValueError(f"{ASSETS / 'explorer.html'}: {placeholder} must appear once")
        template = template.replace(placeholder, text)
    return template
