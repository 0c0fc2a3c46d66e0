"""Generation quality, measured with the shape classifier.

The classifier reads binary images, as it was trained on, so a decoded image is scored by its
mode: each pixel at its more probable value under the decoder, sigmoid(logits) > 0.5, i.e.
logits > 0. (Fed the grey Bernoulli means instead, a classifier trained on crisp shapes calls most
blurry blobs "rectangle": on the committed standard VAE's test reconstructions, class preserved
fell from 90% to 63%, every loss a circle or triangle taken for a rectangle.) Two scores per VAE:

- prior samples, z ~ N(0, I): the share the classifier recognises confidently (top probability
  >= `confidence`), the histogram of its predicted (most probable) class over all samples, and that
  histogram's KL divergence from uniform in bits, log2(K) - H(p): 0 when all K shapes are drawn
  equally often, log2(K) = 1.58 bits for K = 3 when only one shape is ever drawn;
- test reconstructions, decoding the posterior mean: the share whose predicted class is the
  image's true class.
"""
import numpy as np
import torch

from shapes_vae.classifier import predict_proba
from shapes_vae.latents import encode_all
from shapes_vae.inference import inference


def decode_modes(vae, z, batch_size=500):
    """The most probable binary image for each z (N, d): 1.0 where decode(z) > 0 (sigmoid > 0.5),
    else 0.0; (N, 1, H, W) float32 on the CPU, decoded in batches."""
    dev = next(vae.parameters()).device
    with inference(vae):
        return torch.cat([(vae.decode(z[i : i + batch_size].to(dev)) > 0).float().cpu()
                          for i in range(0, len(z), batch_size)])


def prior_samples(vae, n, seed, batch_size=500):
    """Modes of n prior samples; z = randn((n, d)) from Generator().manual_seed(seed)."""
    z = torch.randn((n, vae.latent_dim), generator=torch.Generator().manual_seed(int(seed)))
    return decode_modes(vae, z, batch_size)


def kl_from_uniform_bits(counts):
    """KL(p || uniform) in bits of the histogram `counts` (K,), with 0 log 0 = 0."""
    counts = np.asarray(counts, dtype=np.float64)
    if counts.ndim != 1 or counts.sum() <= 0:
        raise ValueError(f"expected a non-empty histogram, got {counts}")
    p = counts / counts.sum()
    nz = p > 0
    return float((p[nz] * np.log2(p[nz] * len(p))).sum())


def score_prior(probs, class_names, confidence):
    """Scores of classifier probabilities (N, K) of prior samples (see the module docstring)."""
    probs = torch.as_tensor(probs)
    top, predicted = probs.max(1)
    counts = np.bincount(predicted.numpy(), minlength=len(class_names))
    return {
        "prior_confident_share": float((top >= confidence).double().mean()),
        **{f"prior_class_share_{name}": float(c / len(probs)) for name, c in zip(class_names, counts)},
        "prior_class_kl_from_uniform_bits": kl_from_uniform_bits(counts),
    }


def reconstruction_class_preserved(vae, classifier, x, labels, batch_size=500):
    """Share of images x whose reconstruction (the mode decoded from mu) is classified as their label."""
    mu, _ = encode_all(vae, x, batch_size)
    predicted = predict_proba(classifier, decode_modes(vae, mu, batch_size), batch_size).argmax(1)
    return float((predicted == torch.as_tensor(labels).cpu()).double().mean())


def sample_quality(vae, classifier, class_names, test_x, test_labels, n_prior, seed, confidence, batch_size=500):
    """All generation-quality keys of one VAE, for its metrics file, and the prior samples scored
    (images, probabilities) for the figure."""
    samples = prior_samples(vae, n_prior, seed, batch_size)
    probs = predict_proba(classifier, samples, batch_size)
    out = {**score_prior(probs, class_names, confidence),
           "recon_class_preserved": reconstruction_class_preserved(vae, classifier, test_x, test_labels, batch_size)}
    return out, samples, probs
