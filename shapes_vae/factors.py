"""How the latent code relates to each image's generative factors, in the disentanglement style.

Factor-labelled shape sets (dSprites) are scored by how much each latent dimension tells about each
factor. This module gives two such measures, as pure functions of arrays (numpy arrays or torch
tensors), on scikit-learn's estimators:

- the Mutual Information Gap (Chen et al. 2018), computed as disentanglement_lib does (Locatello et
  al. 2019): each latent dimension cut into equal-width bins (`discretise`), the plug-in MI of the
  bins with each factor by `sklearn.metrics.mutual_info_score`, and per factor the largest minus the
  second-largest MI over the latent dimensions, divided by the factor's entropy (the MI of the
  factor with itself, as disentanglement_lib's `discrete_entropy`);
- probes fitted on the training split's codes and scored on the test split's, on standardised codes
  (`StandardScaler` of the training codes): `Ridge` for each continuous factor (R^2), a multinomial
  `LogisticRegression` for the class (accuracy).

Which code is measured. `factor_measures` takes the encoder means, the code the literature scores
(so `mig_*` can be compared with published MIG), and optionally the channel code: what the decoder
receives, one sampled z = mu + sigma * eps per image plus, for a variant trained through a noisy
channel, its training noise (`shapes_vae.latents.channel_latents`). The two differ on collapsed
dimensions (posterior near the prior, KL near 0): their means vary a little, deterministically, with
the image, so on the means the equal-width bins spread over that tiny range and can show a large MI
with a factor, although the decoder reads those dimensions through unit-variance noise and gets
almost nothing of it. `mig_channel_*` counts only what passes the channel; the analysis of what the
models learned rests on it, and `mig_*` stays for comparison with the literature.

Units: every MI and entropy here is in nats (natural log), as Locatello et al.'s
`discrete_mutual_info`; the normalised figures (MI / H, MIG) are unitless, in [0, 1].

Discretisation (`discretise`): a latent dimension is always cut into `bins` equal-width bins over
its observed range [min, max] (the last bin closed, as numpy's histogram); a factor is cut the same
way unless it has at most `bins` distinct values, which then keep their own values (so the class,
or a radius with 6 values, is not merged or split by the bin edges).

Undefined values: a constant factor has entropy 0, so its normalised MI and its MIG are NaN (not a
division by zero); `mig`'s mean is over the factors with entropy > 0 (NaN if none has). R^2 on a
constant test target is NaN. `factor_measures` turns every NaN into None (JSON null).

Bias and other caveats of these estimators (read before comparing two models' numbers):
- Plug-in MI from a contingency table is biased upward. For independent variables with A and B
  occupied cells, E[MI] is about (A - 1)(B - 1) / (2 N) nats (Miller-Madow, first order): with
  20 x 20 bins and N = 2,250 test images that is 361 / 4,500 = 0.080 nats. Measured with this
  module (means over 200 draws of an 8-dimensional code; tests/test_factors.py checks the first
  case over 20 draws):
  a uniform code against a uniform factor shows 0.084 nats (the first-order formula slightly
  understates it), a Gaussian code 0.077 (its outer equal-width bins are nearly empty, so fewer
  cells count), a Gaussian code against a Gaussian factor 0.066. Against the class (3 values) the
  bias is only about (19 x 2) / 4,500 = 0.008 nats (measured 0.009). Divided by H(v_k) (about 3
  nats for a 20-bin factor) the normalised MI of an independent code is about 0.03, not 0. The
  bias mostly cancels in the gap (the largest and the second-largest MI both carry it), so an
  independent code's MIG is about 0.001 (at most 0.007 in those 200 draws).
- The numbers depend on `bins`: more bins raise both the MI a real dependence shows and the bias;
  compare models only at equal `bins` and equal N.
- On the encoder means, MIG ignores the encoder's variance (a dimension whose mean tracks a factor
  but whose posterior is wide still scores high) and the noisy variant's channel noise: the
  channel measure (above) includes both.
- Equal-width bins over the observed range are sensitive to outliers in the code: one far-out mean
  stretches the range and squeezes the rest into few bins, lowering that dimension's MI.
- MIG rewards one dimension per factor; a factor spread evenly over two rotated dimensions has a
  small gap although the code holds it (the probes see that case).
- Probe scores measure decodability, not disentanglement: a linear probe on all dimensions can
  score 1 on an entangled (rotated) code.
"""
import math

import numpy as np
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import mutual_info_score, r2_score
from sklearn.preprocessing import StandardScaler

CATEGORICAL_FACTORS = ("class",)  # factors scored by classification accuracy; the rest by R^2
PROBE_RIDGE = 1e-6  # per-sample L2 on the standardised linear-probe weights: stability only
LOGISTIC_L2 = 1e-4  # per-sample L2 on the logistic weights: keeps separable classes bounded


def _np(a, dtype=np.float64):
    """numpy array from an array-like or a torch tensor (detached, on the CPU)."""
    if hasattr(a, "detach"):
        a = a.detach().cpu().numpy()
    return np.asarray(a, dtype=dtype)


# ---------------------------------------------------------------------------------------------
# Factors every image has


def image_factors(images, labels):
    """The factors read off each image: {"class", "centroid_x", "centroid_y", "area"}.

    images: (N, H, W) or (N, 1, H, W), a pixel counts when it is nonzero; labels: (N,) ints.
    class: int64 labels; centroid_x / centroid_y: float64 mean column / row of the 1-pixels
    (pixel centres at integer coordinates, as render.py), an empty image gets the image centre
    ((W - 1) / 2, (H - 1) / 2); area: int64 pixel count. Per-class factors (a circle's radius, a
    rectangle's side) are left out: they are undefined (-1) on two thirds of the images, and MIG
    over a class-dependent subset would not be comparable with the other factors."""
    pixels = _np(images, np.float64)
    if pixels.ndim == 4 and pixels.shape[1] == 1:
        pixels = pixels[:, 0]
    labels = _np(labels, np.int64)
    if pixels.ndim != 3 or labels.shape != (pixels.shape[0],):
        raise ValueError(f"expected images (N, H, W) and labels (N,), got {pixels.shape}, {labels.shape}")
    on = (pixels != 0).astype(np.float64)
    _, h, w = on.shape
    area = on.sum(axis=(1, 2))
    safe_area = np.maximum(area, 1.0)  # empty images are overwritten with the centre below
    cx = (on.sum(axis=1) * np.arange(w)).sum(axis=1) / safe_area
    cy = (on.sum(axis=2) * np.arange(h)).sum(axis=1) / safe_area
    empty = area == 0
    cx[empty], cy[empty] = (w - 1) / 2, (h - 1) / 2
    return {"class": labels, "centroid_x": cx, "centroid_y": cy, "area": area.astype(np.int64)}


# ---------------------------------------------------------------------------------------------
# Discretised mutual information and MIG


def _factor_columns(factors):
    """(names, (N, K) float64) from a dict name -> (N,) or from an (N, K) / (N,) array."""
    if isinstance(factors, dict):
        names = list(factors)
        columns = np.stack([_np(factors[k]) for k in names], axis=1) if names else None
    else:
        columns = _np(factors)
        columns = columns[:, None] if columns.ndim == 1 else columns
        names = [f"factor_{k}" for k in range(columns.shape[1])]
    if columns is None or columns.ndim != 2 or columns.shape[1] == 0:
        raise ValueError("factors must hold at least one factor of shape (N,)")
    return names, columns


def _codes_2d(codes):
    codes = _np(codes)
    codes = codes[:, None] if codes.ndim == 1 else codes
    if codes.ndim != 2 or codes.shape[1] == 0:
        raise ValueError(f"codes must be (N, d) with d >= 1, got {codes.shape}")
    return codes


def _equal_width_bins(values, bins):
    """Bin index 0..bins-1 of each value, equal-width bins over [min, max] (Locatello et al.'s
    np.histogram edges + np.digitize; the maximum falls in the last bin)."""
    edges = np.histogram_bin_edges(values, bins=bins)
    return np.digitize(values, edges[1:-1])


def discretise(values, bins, keep_few_values=False):
    """(N,) values -> (N,) int64 bin indices.

    Equal-width bins over the observed range; with keep_few_values, a variable with at most `bins`
    distinct values keeps them instead (index = rank among its distinct values)."""
    values = _np(values)
    if values.ndim != 1:
        raise ValueError(f"expected a 1-D array, got shape {values.shape}")
    if int(bins) < 1:
        raise ValueError(f"bins must be >= 1, got {bins}")
    if not np.all(np.isfinite(values)):
        raise ValueError("cannot discretise non-finite values (NaN or inf in the codes or factors)")
    if keep_few_values:
        distinct, index = np.unique(values, return_inverse=True)
        if len(distinct) <= bins:
            return index.astype(np.int64)
    return _equal_width_bins(values, int(bins)).astype(np.int64)


def _discretised(codes, factor_columns, bins):
    latent = np.stack([discretise(codes[:, j], bins) for j in range(codes.shape[1])], axis=1)
    factor = np.stack([discretise(factor_columns[:, k], bins, keep_few_values=True)
                       for k in range(factor_columns.shape[1])], axis=1)
    return latent, factor


def _entropy_nats(index):
    """H of a discrete variable in nats: its MI with itself (disentanglement_lib's discrete_entropy)."""
    return float(mutual_info_score(index, index))


def _mi_nats(a, b):
    """Plug-in MI of two discrete variables from their contingency table, in nats."""
    return max(float(mutual_info_score(a, b)), 0.0)  # rounding can leave -1e-17 for independent tables


def _check_lengths(codes, factor_columns):
    if len(codes) != len(factor_columns):
        raise ValueError(f"codes have {len(codes)} rows but factors {len(factor_columns)}")
    if len(codes) == 0:
        raise ValueError("no samples")


def mutual_information_matrix(codes, factors, bins=20):
    """Discretised MI in nats, (d, K): entry (j, k) = I(bin(z_j); bin(v_k)).

    codes: encoder means (N, d) (or (N,) for one dimension); factors: dict name -> (N,) (its order
    is the column order) or an (N, K) array. Plug-in estimate, biased upward (module docstring)."""
    codes = _codes_2d(codes)
    _, columns = _factor_columns(factors)
    _check_lengths(codes, columns)
    latent, factor = _discretised(codes, columns, bins)
    return np.array([[_mi_nats(latent[:, j], factor[:, k]) for k in range(factor.shape[1])]
                     for j in range(latent.shape[1])])


def factor_entropies(factors, bins=20):
    """H(bin(v_k)) in nats, (K,), each factor discretised as in `mutual_information_matrix`."""
    _, columns = _factor_columns(factors)
    return np.array([_entropy_nats(discretise(columns[:, k], bins, keep_few_values=True))
                     for k in range(columns.shape[1])])


def normalised_mi(mi, entropies):
    """MI / H(v_k) column-wise, (d, K); NaN in the columns of constant factors (H = 0)."""
    mi, entropies = _np(mi), _np(entropies)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(entropies[None, :] > 0, mi / np.where(entropies > 0, entropies, 1.0), np.nan)


def _gaps(mi):
    """Largest minus second-largest MI per factor (column); with one dimension, the MI itself."""
    if mi.shape[0] == 1:
        return mi[0].copy()
    top_two = np.sort(mi, axis=0)[-2:]
    return top_two[1] - top_two[0]


def mig(codes, factors, bins=20):
    """Mutual Information Gap: (per-factor MIG (K,), mean MIG).

    MIG_k = (largest - second-largest over the latent dimensions of I(z_j; v_k)) / H(v_k), both
    discretised as in `mutual_information_matrix`. With a 1-dimensional code there is no second
    dimension, and the gap is the single MI over H(v_k). A constant factor (H = 0) gets NaN; the
    mean is over the other factors (NaN when every factor is constant)."""
    return _mig_from(mutual_information_matrix(codes, factors, bins), factor_entropies(factors, bins))


def _mig_from(mi, entropies):
    per_factor = normalised_mi(_gaps(mi)[None, :], entropies)[0]
    defined = per_factor[np.isfinite(per_factor)]
    return per_factor, float(defined.mean()) if len(defined) else math.nan


# ---------------------------------------------------------------------------------------------
# Probes: how well the code predicts each factor on held-out images


def _probe_inputs(train_codes, test_codes):
    """Both splits' codes standardised with the training codes' mean and std (a constant dimension
    keeps scale 1, so it stays 0)."""
    train_codes, test_codes = _codes_2d(train_codes), _codes_2d(test_codes)
    if train_codes.shape[1] != test_codes.shape[1]:
        raise ValueError(f"train codes have {train_codes.shape[1]} dimensions, test codes {test_codes.shape[1]}")
    scaler = StandardScaler().fit(train_codes)
    return scaler.transform(train_codes), scaler.transform(test_codes)


def probe_r2(train_codes, train_y, test_codes, test_y, ridge=PROBE_RIDGE):
    """Test-split R^2 of a linear probe y ~ w . z + b fitted on the training split.

    scikit-learn's Ridge on standardised codes, minimising ||y - Xw - b||^2 + ridge * N_train *
    ||w||^2 (b unpenalised; the penalty is for stability only). R^2 = 1 - SSE / SST with SST about
    the test mean: 1 is perfect, 0 is no better than the test mean, and it can be negative. NaN
    when the test target is constant (SST = 0)."""
    x_train, x_test = _probe_inputs(train_codes, test_codes)
    y_train, y_test = _np(train_y), _np(test_y)
    if len(y_train) != len(x_train) or len(y_test) != len(x_test):
        raise ValueError("each split needs as many targets as codes")
    if np.all(y_test == y_test[0]):
        return math.nan
    probe = Ridge(alpha=ridge * len(x_train)).fit(x_train, y_train)
    return float(r2_score(y_test, probe.predict(x_test)))


def probe_accuracy(train_codes, train_y, test_codes, test_y, l2=LOGISTIC_L2):
    """Test-split accuracy of a multinomial logistic-regression probe fitted on the training split.

    scikit-learn's LogisticRegression (L-BFGS) on standardised codes, minimising the mean
    cross-entropy + l2 * ||W||^2 (the bias unpenalised): in its own terms C = 1 / (2 * l2 * N_train).
    Deterministic: no sampling. Chance is the test share of the commonest class (about 1/3 for this
    project's classes)."""
    x_train, x_test = _probe_inputs(train_codes, test_codes)
    y_train, y_test = _np(train_y, np.int64), _np(test_y, np.int64)
    if len(y_train) != len(x_train) or len(y_test) != len(x_test):
        raise ValueError("each split needs as many labels as codes")
    if len(np.unique(y_train)) < 2:  # one class: every prediction is that class
        return float((y_test == y_train[0]).mean())
    probe = LogisticRegression(C=1.0 / (2.0 * l2 * len(x_train)), max_iter=1000, tol=1e-8)
    return float(probe.fit(x_train, y_train).score(x_test, y_test))


# ---------------------------------------------------------------------------------------------
# Everything, as one JSON-ready dict


def _json_number(v):
    """A plain float, or None for NaN / inf (JSON has no NaN)."""
    v = float(v)
    return v if math.isfinite(v) else None


def _probe_scores(train_codes, train_factors, test_codes, test_factors):
    scores = {}
    for name in train_factors:
        args = (train_codes, train_factors[name], test_codes, test_factors[name])
        if name in CATEGORICAL_FACTORS:
            scores[f"probe_accuracy_{name}"] = _json_number(probe_accuracy(*args))
        else:
            scores[f"probe_r2_{name}"] = _json_number(probe_r2(*args))
    return scores


def factor_measures(train_codes, train_factors, test_codes, test_factors, bins=20, channel_codes=None):
    """MIG, probe scores and the normalised MI matrices, as one flat JSON-ready dict.

    train_factors / test_factors: dicts name -> (N,) (as `image_factors` gives), with the same
    names in the same order; codes: encoder means (N, d); channel_codes: the test split's channel
    code (N, d) (module docstring), or None. MIG and the MI matrices use the test split only; the
    probes are fitted on the training split's means and scored on the test split's. Keys:
      factor_names  list of the factor names, the column order of mi_normalised
      mig_mean      mean normalised MIG over the factors with entropy > 0, on the encoder means
      mig_<name>    normalised MIG of each factor, on the encoder means
      mig_channel_mean, mig_channel_<name>  the same on the channel code (with channel_codes)
      entropy_nats_<name>  H(bin(v)) of each factor on the test split, nats
      probe_accuracy_<name>  for the class (CATEGORICAL_FACTORS); probe_r2_<name> for the others
      mi_normalised d lists of K values: I(z_j; v_k) / H(v_k) on the means, row j = dimension j
      mi_channel_normalised  the same on the channel code (with channel_codes)
    Every NaN (a constant factor, a constant test target) is None."""
    if list(train_factors) != list(test_factors):
        raise ValueError(f"train and test factors differ: {list(train_factors)} vs {list(test_factors)}")
    names = list(test_factors)
    codes = _codes_2d(test_codes)
    entropies = factor_entropies(test_factors, bins)
    out = {"factor_names": names}
    matrices = {"": mutual_information_matrix(codes, test_factors, bins)}
    if channel_codes is not None:
        channel = _codes_2d(channel_codes)
        if channel.shape != codes.shape:
            raise ValueError(f"channel codes are {channel.shape}, the test means {codes.shape}")
        matrices["channel_"] = mutual_information_matrix(channel, test_factors, bins)
    for prefix, mi in matrices.items():
        per_factor, mean = _mig_from(mi, entropies)
        out[f"mig_{prefix}mean"] = _json_number(mean)
        out.update({f"mig_{prefix}{name}": _json_number(v) for name, v in zip(names, per_factor)})
    out.update({f"entropy_nats_{name}": _json_number(v) for name, v in zip(names, entropies)})
    out.update(_probe_scores(train_codes, train_factors, test_codes, test_factors))
    for prefix, mi in matrices.items():
        out[f"mi_{prefix}normalised"] = [[_json_number(v) for v in row] for row in normalised_mi(mi, entropies)]
    return out


MEASURE_PREFIXES = ("mig_", "probe_")  # the keys of factor_measures that score a code; the rest describe the factors


def split_measures(measures):
    """factor_measures' dict as (the scores of the code, its metrics file: MIG and probes, None
    where undefined, which io.write_metrics leaves out; one record per (latent dimension, factor), in the factors' order,
    with the normalised MI on the means and, where measured, through the channel, and the
    factor's entropy H(bin(v)) in nats that normalises them: the factors stage's plot data)."""
    scores = {k: v for k, v in measures.items() if k.startswith(MEASURE_PREFIXES)}
    names, means = measures["factor_names"], measures["mi_normalised"]
    channel = measures.get("mi_channel_normalised")
    records = [{"dimension": j, "factor": name, "mi_normalised_means": means[j][k],
                **({} if channel is None else {"mi_normalised_channel": channel[j][k]}),
                "factor_entropy_nats": measures[f"entropy_nats_{name}"]}
               for j in range(len(means)) for k, name in enumerate(names)]
    return scores, records
