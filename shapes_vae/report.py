"""The results page (RESULTS.md) and the README's headline table, written from the metrics files
and the gathered experiment tables: no number in either is typed by hand, and every sentence says
only what the tables beside it show.

The experiment tables arrive as pandas DataFrames of strings (a CSV cell as written, "" when
empty); means and sample standard deviations skip the empty cells."""
import math

import pandas as pd

from shapes_vae.errors import PipelineError
from shapes_vae.spread import repeats_a_point

# The paper's reported figures and the reference notebook's last logged epoch (docs/reference.md).
PAPER = {"standard_test_bce": 0.0346, "modified_test_bce": 0.0968, "bits_total": 10.93}
REFERENCE_LAST_EPOCH = {
    "standard": {"train_recon": "25.0", "train_kl": "12.3", "val_recon": "27.3", "val_kl": "12.2"},
    # Keras logged the modified model's "validation" from its last validation batch (74 images) only
    "modified": {"train_recon": "95.5", "train_kl": "4.8", "val_recon": "79.2, one batch", "val_kl": "4.9, one batch"},
}
# the same notebook at an earlier commit of its repository (identical code), another unseeded draw
REFERENCE_EARLIER_RUN = {"train_recon": "27.79", "train_kl": "13.54", "val_recon": "29.98", "val_kl": "13.49"}
# the reference notebook's own code over six seeds on this project's data, run outside the pipeline
# (docs/reference.md, "The reference's own seed spread"): mean ± sample sd
REFERENCE_SEEDS = {"standard_test_bce": "0.0383 ± 0.0066", "modified_test_bce": "0.1019 ± 0.0033",
                   "bits_total": "10.73 ± 0.17", "standard_train_recon": "28.8 ± 5.7"}

# the README's headline table sits between these two lines; the report stage rewrites what is between
HEADLINE_START = "<!-- headline table: written by the report stage (dvc repro), do not edit -->"
HEADLINE_END = "<!-- end of headline table -->"
GLOSSARY = "docs/measures.md"  # what each measure means; RESULTS.md's headings link to its sections
SEED_COLUMN = "Mean ± sd over our seeds"
REFERENCE_COLUMN = "The reference's code, 6 seeds"


def frame(rows):
    """An experiment table as a DataFrame of strings: rows may be a DataFrame already or dicts."""
    df = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    return df.fillna("").astype(str) if len(df.columns) else df


def numbers(df, column):
    """A column as floats (NaN where empty or absent)."""
    if column not in df:
        return pd.Series([math.nan] * len(df), index=df.index, dtype=float)
    return pd.to_numeric(df[column].replace("", None), errors="coerce").astype(float)


def _f(v, digits=4):
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


def _pm(values, digits=4):
    """Mean ± sample sd (ddof 1) of a numeric Series, NaN skipped (the mean alone for one value,
    "–" for none); digits None writes shares as percentages, digits 1 writes a whole mean of one
    value as an integer (active units)."""
    values = pd.Series(values, dtype=float).dropna()
    if values.empty:
        return "–"
    m = values.mean()
    sd = values.std(ddof=1) if len(values) > 1 else None
    if digits is None:
        return f"{m:.1%}" if sd is None else f"{m:.1%} ± {sd:.1%}"
    if sd is None and digits == 1 and float(m).is_integer():
        return f"{m:.0f}"
    return f"{m:.{digits}f}" if sd is None else f"{m:.{digits}f} ± {sd:.{digits}f}"


def markdown(head, rows):
    """A Markdown table: a header and rows of cell texts."""
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + ["| " + " | ".join(r) + " |" for r in rows]


def _runs(n):
    return f"{n} run" + ("" if n == 1 else "s")


def paper_table(metrics, info, roles, seeds, with_ratio=True):
    """The paper's three figures beside ours, our seed spread and the reference code's spread."""
    seeds = frame(seeds)
    std, mod = roles["paper_standard"], roles["paper_modified"]
    ours = {"standard_test_bce": metrics[std]["test_bce"], "modified_test_bce": metrics[mod]["test_bce"],
            "bits_total": info[mod].get("paper_bits_estimate")}
    labels = {"standard_test_bce": f"Standard VAE, test BCE (paper protocol): `{std}`",
              "modified_test_bce": f"Modified VAE, test BCE (paper protocol): `{mod}`",
              "bits_total": f"Bits through the modified VAE's latent (paper's estimate): `{mod}`"}
    columns = {"standard_test_bce": f"{std}_test_bce", "modified_test_bce": f"{mod}_test_bce", "bits_total": "bits_total"}
    head = ["Figure", "Paper", "Ours", *(["Ours / paper"] if with_ratio else []), SEED_COLUMN, REFERENCE_COLUMN]
    rows = []
    for k, label in labels.items():
        ratio = "–" if ours[k] is None else f"{ours[k] / PAPER[k]:.2f}"
        rows.append([label, f"{PAPER[k]}", _f(ours[k]), *([ratio] if with_ratio else []),
                     _pm(numbers(seeds, columns[k])), REFERENCE_SEEDS[k]])
    return markdown(head, rows)


def seed_spread_sentence(seeds, seed_table="[Seeds](#seeds)"):
    """Which runs the seed column is over, as the seed table (linked as seed_table) shows them."""
    n = len(frame(seeds))
    if n == 0:
        return f"No seed runs are gathered (`sweeps/seeds.csv` has no rows), so \"{SEED_COLUMN}\" is empty."
    if n == 1:
        return f"\"{SEED_COLUMN}\" is the one run of `sweeps/seeds.csv` (no spread from one run)."
    return f"\"{SEED_COLUMN}\" is over the {n} runs of `sweeps/seeds.csv` (sample sd), see {seed_table}."


def headline_markdown(metrics, info, roles, seeds, training_seeds, data=None):
    """The README's headline table: the paper's three figures, ours, our seed spread and the
    reference code's spread, with one line saying what each column is, and, from the data set's
    own numbers (metrics/data.json), how many test images are copies of a training image."""
    copies = (data or {}).get("test_with_train_copy_share")
    caveat = [] if copies is None else [
        "", f"**{_share(copies)} of the test images are exact copies of a training image**, so the test figures "
            "measure, for that share, the reconstruction of images the models trained on: "
            "[RESULTS.md](RESULTS.md#what-the-test-set-measures-copies-across-the-split) gives them on the unseen "
            "images too."]
    return [*paper_table(metrics, info, roles, seeds, with_ratio=False), "",
            f"Ours: the committed run{_seeds_note(training_seeds)}. "
            + seed_spread_sentence(seeds, "[RESULTS.md](RESULTS.md#seeds)") + f" \"{REFERENCE_COLUMN}\": the paper's own notebook rerun on this project's data "
              "([docs/reference.md](docs/reference.md#the-references-own-seed-spread)).", *caveat]


def splice_headline(readme, table_lines):
    """The README text with the lines between HEADLINE_START and HEADLINE_END replaced."""
    if readme.count(HEADLINE_START) != 1 or readme.count(HEADLINE_END) != 1:
        raise PipelineError(f"README.md: needs the line '{HEADLINE_START}' once and '{HEADLINE_END}' once after it")
    before, rest = readme.split(HEADLINE_START)
    if HEADLINE_END in before:
        raise PipelineError(f"README.md: '{HEADLINE_END}' comes before '{HEADLINE_START}'")
    after = rest.split(HEADLINE_END)[1]
    return before + HEADLINE_START + "\n" + "\n".join(table_lines) + "\n" + HEADLINE_END + after


def _seeds_note(training_seeds):
    if not training_seeds:
        return ""
    return " (training seeds " + ", ".join(f"{m} {s}" for m, s in training_seeds.items()) + ")"


def _table(names, rows):
    """A table with a measure column and one column per variant: rows are (label, {variant: text})."""
    return markdown(["Measure", *names], [[label, *(cells.get(n, "–") for n in names)] for label, cells in rows])


def sounder_rows(names, metrics, info, settings, data):
    """settings: params.yaml evaluate (its iwae_k); data: metrics/data.json (its test images bound
    the aggregate-posterior estimate at log2 of their number)."""
    m, i = metrics, info
    k = settings["iwae_k"]
    ceiling = math.log2(data["test_images"])
    per = lambda f: {n: f(n) for n in names}
    return _table(names, [
        ("Test BCE per pixel, decoding the mean", per(lambda n: _f(m[n]["test_bce_mean_decode"]))),
        ("Reconstruction, nats per image", per(lambda n: _f(m[n]["recon_nats"], 2))),
        ("KL to the prior, nats per image", per(lambda n: _f(m[n]["kl_nats"], 2))),
        ("Negative ELBO (beta = 1), nats per image", per(lambda n: _f(m[n]["neg_elbo_nats"], 2))),
        (f"IWAE bound on -log p(x), K = {k}, nats per image", per(lambda n: _f(m[n]["iwae_nll_nats"], 2))),
        ("Active latent units (Var of mu > 0.01)", per(lambda n: str(m[n]["active_units"]))),
        ("Rate = mean KL in bits (upper bound on I(X;Z))", per(lambda n: _f(i[n]["rate_bits_upper_bound"], 2))),
        (f"I(X;Z) estimate in bits (aggregate posterior, at most {ceiling:.2f})", per(lambda n: _f(i[n]["mi_bits_estimate"], 2))),
        ("I(X; z + noise) estimate in bits, the noisy channel (– without noise)",
         per(lambda n: _f(i[n].get("mi_noisy_channel_bits_estimate"), 2))),
        ("Paper's formula, bits (– without noise)", per(lambda n: _f(i[n].get("paper_bits_estimate"), 2))),
        ("Paper's formula counting the encoder's variance as noise too, bits",
         per(lambda n: _f(i[n].get("encoder_noise_channel_bits_estimate"), 2))),
    ])


def _per_class(d, prefix):
    """{class: value} of the keys `prefix<class>` of a metrics file, in the file's (sorted) order."""
    return {k.removeprefix(prefix): v for k, v in d.items() if k.startswith(prefix)}


def quality_rows(names, metrics, classifier, settings):
    """settings: params.yaml evaluate (its prior_samples and confidence)."""
    if any("prior_confident_share" not in metrics[n] for n in names):
        return ["(no sample-quality scores in the metrics files: rerun `dvc repro`)"]
    m, first = metrics, metrics[names[0]]
    shares = lambda d: " / ".join(f"{v:.1%}" for v in _per_class(d, "prior_class_share_").values())
    classes = " / ".join(_per_class(first, "prior_class_share_"))
    per = lambda f: {n: f(m[n]) for n in names}
    return [
        f"A small CNN trained on the training split (stage `train_classifier`, params `classifier`) "
        f"recognises {classifier['test_accuracy']:.2%} of the test images "
        f"({', '.join(f'{k} {v:.2%}' for k, v in _per_class(classifier, 'test_accuracy_').items())}). "
        f"It scores each model's decoded images (their modes: each pixel at its more probable value); "
        f"`figures/<variant>/prior_samples_classified.png` shows samples with its verdicts.",
        "",
        *_table(names, [
            (f"Prior samples recognised confidently (top probability >= {settings['confidence']:g}), of {settings['prior_samples']}",
             per(lambda d: f"{d['prior_confident_share']:.1%}")),
            (f"Predicted class of the prior samples, {classes}", per(shares)),
            (f"KL of that histogram from uniform, bits (0 = all shapes equally often, "
             f"{math.log2(len(_per_class(first, 'prior_class_share_'))):.2f} = one shape only)",
             per(lambda d: f"{d['prior_class_kl_from_uniform_bits']:.3f}")),
            ("Test reconstructions (decoded from mu) whose class is preserved", per(lambda d: f"{d['recon_class_preserved']:.1%}")),
        ]),
    ]


MIG_MEASURES = {"mig_channel_mean": "the mean MIG through the channel", "mig_mean": "the mean MIG on the encoder means"}


def factor_verdict(factors, roles, seeds=()):
    """Is the paper-modified variant's code more organised than the paper-standard's, by the mean
    MIG through the channel where both variants have it (else on the encoder means), in the
    committed run, and what the seed table shows of that difference's spread (None when there is
    nothing to compare)."""
    std, mod = roles["paper_standard"], roles["paper_modified"]
    if std == mod:
        return None
    key = next((k for k in MIG_MEASURES if factors[std].get(k) is not None and factors[mod].get(k) is not None), None)
    if key is None:
        return None
    a, b = factors[std][key], factors[mod][key]
    word = "more" if b > a else "less" if b < a else "as"
    verdict = f"By {MIG_MEASURES[key]}, `{mod}`'s code is {word} organised than `{std}`'s in the committed run ({b:.3f} against {a:.3f})."
    seeds = frame(seeds)
    diff = (numbers(seeds, f"{mod}_{key}") - numbers(seeds, f"{std}_{key}")).dropna()
    if len(diff) < 2:
        return verdict + (f" The seed table holds no {MIG_MEASURES[key].removeprefix('the ')} of both variants over two "
                          "or more runs, so the seed spread of this difference is not shown here.")
    lower = int((diff < 0).sum())
    return verdict + (f" Over the {len(diff)} runs of [Seeds](#seeds), `{mod}`'s {MIG_MEASURES[key].removeprefix('the ')} "
                      f"minus `{std}`'s is {_pm(diff, 3)} (mean ± sample sd), lower in {lower} of them.")


def factor_rows(names, factors, factor_names, roles, seeds=()):
    """The factor measures (metrics/factors/<variant>.json) side by side, and the heat maps;
    factor_names: the factors in their order (figures/factors/<variant>.json)."""
    if any(factors.get(n) is None for n in names):
        return ["(no factor measures: rerun `dvc repro`)"]
    rows = [("Mean MIG through the channel (sampled z, plus the training noise; 0 = none, 1 = each factor in one dimension of its own)",
             {n: _f(factors[n].get("mig_channel_mean"), 3) for n in names})]
    for f in factor_names:
        rows.append((f"MIG through the channel, {f}", {n: _f(factors[n].get(f"mig_channel_{f}"), 3) for n in names}))
    rows.append(("Mean MIG on the encoder means (the literature's; collapsed dimensions count)",
                 {n: _f(factors[n].get("mig_mean"), 3) for n in names}))
    for f in factor_names:
        rows.append((f"MIG on the means, {f}", {n: _f(factors[n].get(f"mig_{f}"), 3) for n in names}))
    for f in factor_names:
        key = "probe_accuracy_class" if f == "class" else f"probe_r2_{f}"
        what = "accuracy" if f == "class" else "R²"
        rows.append((f"Linear probe on the latent means, {f} ({what} on the test set)",
                     {n: _f(factors[n].get(key), 3) for n in names}))
    verdict = factor_verdict(factors, roles, seeds)
    return [*_table(names, rows), "", *([verdict, ""] if verdict else []),
            *[f"![{n}: normalised MI of each latent dimension with each factor, on the means and through the channel]"
              f"(figures/factors/{n}.png)" for n in names]]


def _varying(df, prefixes):
    return [c for c in df.columns if c.startswith(prefixes)]


def seed_rows(seeds, roles):
    """The per-seed table from the rows of sweeps/seeds.csv, and their mean ± sd."""
    seeds = frame(seeds)
    if seeds.empty:
        return ["(no seed experiments gathered)"]
    std, mod = roles["paper_standard"], roles["paper_modified"]
    columns = (f"{std}_test_bce", f"{mod}_test_bce", "bits_total", f"{std}_mig_channel_mean", f"{mod}_mig_channel_mean",
               f"{std}_mig_mean", f"{mod}_mig_mean")
    params = [k for k in seeds.columns if k.startswith("models.") or k.endswith(".seed")]
    head = ["Experiment", *params, f"{std} test BCE", f"{mod} test BCE", "Bits (paper's estimate)",
            f"{std} mean MIG through the channel", f"{mod} mean MIG through the channel",
            f"{std} mean MIG on the means", f"{mod} mean MIG on the means"]
    values = {k: numbers(seeds, k) for k in columns}
    rows = [[seeds.at[i, "experiment"], *(seeds.at[i, p] for p in params), *(_f(values[k][i]) for k in columns)]
            for i in seeds.index]
    rows.append(["**mean ± sd**", *("" for _ in params), *(_pm(values[k]) for k in columns)])
    return markdown(head, rows)


def sweep_points(sweep):
    """(the params that define a point, [(point values, member rows)]): the rows grouped by the
    varying params that are not repeats (seeds, runtime settings of the same computation), in
    the order each point first appears."""
    params = _varying(sweep, ("models.", "architecture.", "runtime."))
    keys = [p for p in params if not repeats_a_point(p)]
    if not keys:
        return keys, [((), sweep)]
    return keys, [(k if isinstance(k, tuple) else (k,), g) for k, g in sweep.groupby(keys, sort=False, dropna=False)]


def sweep_summary(keys, points, variant):
    """How the rate and the paper's bits move across a sweep's points, over the points where each
    is defined, naming the points where the paper's estimate is not (None with fewer than 2)."""
    mean = lambda g, c: numbers(g, c).mean()
    rate = [(p, mean(g, f"{variant}_rate_bits")) for p, g in points]
    bits = [(p, mean(g, "bits_total")) for p, g in points]
    rate = [(p, v) for p, v in rate if not math.isnan(v) and v > 0]
    defined = [(p, v) for p, v in bits if not math.isnan(v) and v > 0]
    if len(rate) < 2:
        return None
    means = " (each point the mean over its runs)" if any(len(g) > 1 for _, g in points) else ""
    span = lambda vs: f"{min(vs):.2f} to {max(vs):.2f} bits ({max(vs) / min(vs):.1f}x)"
    text = (f"Over the {len(rate)} points with a rate{means}, the rate, an upper bound on I(X;Z), spans "
            f"{span([v for _, v in rate])}")
    if len(defined) < 2:
        return text + "; the paper's estimate is defined at fewer than two points."
    missing = [", ".join(f"{k} {v}" for k, v in zip(keys, p)) for p, v in bits if not any(p == q for q, _ in defined)]
    where = "" if not missing else f" (undefined at {'; '.join(missing)}: no latent noise, or not measured)"
    return text + (f"; over the {len(defined)} points where it is defined{where}, the paper's estimate spans "
                   f"{span([v for _, v in defined])}.")


SWEEP_COLUMNS = [  # (header, column suffix or full name, digits; None: a share as a percentage)
    ("Rate, bits (upper bound on I(X;Z))", "rate_bits", 2), ("I(X;Z) estimate, bits", "mi_bits", 2),
    ("Distortion, nats per image", "recon_nats", 2), ("KL, nats", "kl_nats", 2),
    ("Test BCE (paper protocol)", "test_bce", 4), ("Bits (paper's estimate)", "bits_total", 2),
    ("Active units", "active_units", 1), ("Prior samples recognised", "prior_confident_share", None),
    ("Mean MIG on the encoder means", "mig_mean", 3), ("Class probe accuracy", "probe_accuracy_class", 3),
]


def sweep_rows(sweep, variant, base=None):
    """The rate-distortion table of `variant` from a gathered sweep: one line per point, its
    runs' mean ± sample sd where it has several. base: the variant `variant` is fine-tuned from;
    its mean MIG is subtracted run by run (a paired difference) in the last column."""
    sweep = frame(sweep)
    if sweep.empty:
        return ["(no sweep gathered)"]
    keys, points = sweep_points(sweep)
    repeated = any(len(g) > 1 for _, g in points)
    paired_of = lambda g: numbers(g, f"{variant}_mig_mean") - numbers(g, f"{base}_mig_mean")
    paired = base is not None and not paired_of(sweep).dropna().empty
    head = [*keys, *(["Runs"] if repeated else []), *(h for h, _, _ in SWEEP_COLUMNS),
            *([f"Mean MIG on the means minus {base}'s (same seeds)"] if paired else [])]
    rows = []
    for point, g in points:
        cells = [*point, *([str(len(g))] if repeated else [])]
        cells += [_pm(numbers(g, key if key == "bits_total" else f"{variant}_{key}"), digits) for _, key, digits in SWEEP_COLUMNS]
        rows.append(cells + ([_pm(paired_of(g), 3)] if paired else []))
    summary = sweep_summary(keys, points, variant)
    return markdown(head, rows) + ([] if summary is None else ["", summary])


def sweep_intro(name, sweep, variant):
    """What a gathered sweep holds, as its table shows it, and where it comes from."""
    sweep = frame(sweep)
    source = (f"Gathered into `sweeps/{name}.csv` (one row per experiment) by `python -m shapes_vae.sweep gather` "
              f"from the experiments of the sweep file `sweeps/{name}.txt`; [docs/sweeps.md](docs/sweeps.md) says how to run "
              "and gather a sweep.")
    if sweep.empty:
        return source
    keys, points = sweep_points(sweep)
    runs = sorted({len(g) for _, g in points})
    per = (f"one run each" if runs == [1] else f"{runs[0]} runs each" if len(runs) == 1
           else f"{runs[0]} to {runs[-1]} runs each (the Runs column)")
    baselines = sweep["baseline"].nunique() if "baseline" in sweep else 0
    where = ("every other setting as in `params.yaml` at the row's baseline commit (the CSV's `baseline` column"
             + (f"; these rows come from {baselines} different commits)" if baselines > 1 else ")"))
    spread = ("; a point's runs differ only in seeds or in how they ran (such as the thread count), and it shows "
              "their mean ± sample sd" if runs != [1] else "")
    return (f"`{variant}` at {len(points)} points of {', '.join(f'`{k}`' for k in keys) or 'the sweep'}, {per}{spread}; "
            f"{where}. Rate is the mean KL to the prior in bits, distortion the test reconstruction term in nats per "
            f"image (one sampled z). {source}")


def last_epoch_rows(names, last_epochs, roles):
    cols = ("train_recon", "train_kl", "val_recon", "val_kl")
    rows = []
    for name in names:
        role = next((r for r, v in (("standard", roles["paper_standard"]), ("modified", roles["paper_modified"])) if v == name), None)
        ref = REFERENCE_LAST_EPOCH.get(role, {})
        rows.append([name, *(f"{last_epochs[name][c]:.1f}" + (f" (ref. {ref[c]})" if c in ref else "") for c in cols)])
    return markdown(["Variant", "Train recon", "Train KL", "Val recon", "Val KL"], rows) + [
        "", "The reference is one run of the paper's notebook, whose shapes and initial weights were unseeded. "
        "The same notebook at an earlier commit of its repository, "
        "identical code, logged the standard model's last epoch at "
        + ", ".join(f"{REFERENCE_EARLIER_RUN[c]}" for c in cols)
        + " (same columns), and its code over six seeds on this project's data (docs/reference.md) ended at "
        f"{REFERENCE_SEEDS['standard_train_recon']} nats of train reconstruction (mean ± sd). "
        "Keras' train figures are unweighted running means of the epoch's batch losses, taken before each "
        "update (its last, smaller batch counts as much as a full one); ours are means over the epoch's "
        "images, also taken before each update. The modified model's reference \"validation\" is the last "
        "validation batch only (74 images), so it does not compare with our full-set means."]


def _heading(title, anchor):
    """A section heading whose text links to its glossary section (the heading's own anchor, from
    its text, stays the same)."""
    return f"## [{title}]({GLOSSARY}#{anchor})"


def _share(v):
    return "–" if v is None else f"{100 * v:.1f}%"


def copies_rows(names, metrics, data):
    """The data set's copies across the split (metrics/data.json) and each variant's figures on the
    test images that have no copy in the training split (metrics/<variant>.json)."""
    if not data:
        return ["(no data-set measures: rerun `dvc repro`)"]
    classes = [k.removeprefix("distinct_") for k in data if k.startswith("distinct_") and k != "distinct_images"]
    head = ["Class", "Images that differ", "Validation images with a copy in training", "Test images with a copy in training"]
    body = [[c, str(data[f"distinct_{c}"]), _share(data.get(f"val_with_train_copy_share_{c}")),
             _share(data.get(f"test_with_train_copy_share_{c}"))] for c in classes]
    body.append(["all", f"{data['distinct_images']} of {data['images']}", _share(data.get("val_with_train_copy_share")),
                 _share(data.get("test_with_train_copy_share"))])
    share = data.get("test_with_train_copy_share")
    lines = [f"Images are compared pixel for pixel (stage `split`, metrics/data.json). {_share(share)} of the test images "
             "are exact copies of a training image, so the paper's test figures below measure, for that share, how well "
             "a model reconstructs images it trained on; only the test images without a copy measure generalisation. "
             "`split.group_copies: true` keeps every copy in one part.", "", *markdown(head, body), ""]
    rows = [("Test BCE, paper protocol, every test image", {n: _f(metrics[n].get("test_bce")) for n in names}),
            ("Test BCE on the test images with no copy in training", {n: _f(metrics[n].get("test_bce_unseen")) for n in names}),
            ("Negative ELBO, nats per image, every test image", {n: _f(metrics[n].get("neg_elbo_nats"), 2) for n in names}),
            ("Negative ELBO on the test images with no copy in training",
             {n: _f(metrics[n].get("neg_elbo_nats_unseen"), 2) for n in names}),
            ("Share of the test images with no copy in training", {n: _share(None if share is None else 1 - share) for n in names})]
    for c in classes:
        rows.append((f"Test BCE, {c} test images", {n: _f(metrics[n].get(f"test_bce_{c}")) for n in names}))
    return lines + _table(names, rows)


def novelty_rows(names, novelty, data, metrics):
    """Prior samples against their nearest training image, and straight latent paths
    (metrics/novelty/<variant>.json), beside the data set's own yardsticks (metrics/data.json)."""
    if any(novelty.get(n) is None for n in names):
        return ["(no novelty measures: rerun `dvc repro`)"]
    first = novelty[names[0]]
    classes = [k.removeprefix("prior_train_copy_share_") for k in first if k.startswith("prior_train_copy_share_")]
    per_class = ", ".join(f"{c} {_f(data.get(f'test_nearest_train_pixels_median_{c}'), 1)}" for c in classes
                          if data.get(f"test_nearest_train_pixels_median_{c}") is not None)
    yardsticks = (f"For scale: a test image is {_f(data.get('test_nearest_train_pixels_median'), 1)} pixels from its nearest "
                  f"training image ({per_class}) and a training image "
                  f"{_f(data.get('train_nearest_other_train_pixels_median'), 1)} pixels from its nearest other training "
                  "image (medians; metrics/data.json).") if data else ""
    rows = [("Prior samples: pixels from the nearest training image (median)",
             {n: _f(novelty[n].get("prior_nearest_train_pixels_median"), 1) for n in names}),
            ("Prior samples that are exact copies of a training image",
             {n: _share(novelty[n].get("prior_train_copy_share")) for n in names})]
    for c in classes:
        rows.append((f"Prior samples called {c}: pixels from the nearest training image (median)",
                     {n: _f(novelty[n].get(f"prior_nearest_train_pixels_median_{c}"), 1) for n in names}))
    rows += [("Latent paths: pixels that change per step (median)", {n: _f(novelty[n].get("path_step_pixels_median"), 1) for n in names}),
             ("Latent paths: the largest step of a path (median over paths)",
              {n: _f(novelty[n].get("path_largest_step_pixels_median"), 1) for n in names}),
             ("Latent paths: changes of the classifier's verdict per path (mean)",
              {n: _f(novelty[n].get("path_verdict_changes_mean"), 2) for n in names}),
             ("Latent paths: points the classifier cannot call with confidence",
              {n: _share(novelty[n].get("path_unsure_share")) for n in names}),
             ("The paper's 2-D latent plane: pixels that change between neighbouring points (median)",
              {n: _f(novelty[n].get("plane_step_pixels_median"), 1) for n in names}),
             ("The paper's 2-D latent plane: neighbouring points the classifier calls differently",
              {n: _share(novelty[n].get("plane_verdict_change_share")) for n in names})]
    intro = ("Stage `novelty` (params `novelty`): each variant's decoded prior samples (their modes) against the nearest "
             "training image, in pixels that differ, per class as the shape classifier calls them; and straight latent "
             "paths between the encoder means of pairs of test images of different classes, decoded at evenly spaced "
             "steps, and the 2-D plane of `figures/<variant>/latent_grid.png`. " + yardsticks)
    return [intro, "", *_table(names, rows), "",
            *[f"![{n}: latent paths between test images of different classes](figures/novelty/{n}.png)" for n in names]]


def grouped_rows(metrics, info, roles, grouped):
    """The paper's three figures of the committed run (copies of an image may cross the split)
    beside those of the experiment that keeps every copy in one part (sweeps/grouped.csv)."""
    grouped = frame(grouped)
    if grouped.empty:
        return ["(no run of `sweeps/grouped.txt` in `sweeps/grouped.csv` yet: `python -m shapes_vae.sweep run sweeps/grouped.txt`, then "
                "`python -m shapes_vae.sweep gather sweeps/grouped.txt`)"]
    std, mod = roles["paper_standard"], roles["paper_modified"]
    figures = [(f"Standard VAE, test BCE (paper protocol): `{std}`", metrics[std]["test_bce"], f"{std}_test_bce", 4),
               (f"Modified VAE, test BCE (paper protocol): `{mod}`", metrics[mod]["test_bce"], f"{mod}_test_bce", 4),
               (f"Bits through the modified VAE's latent (paper's estimate): `{mod}`", info[mod].get("paper_bits_estimate"),
                "bits_total", 4)]
    head = ["Figure", "Paper", "Ours, copies may cross the split", "Ours, every copy in one part"]
    rows = [[label, str(PAPER[k]), _f(ours, d), _pm(numbers(grouped, column), d)]
            for (label, ours, column, d), k in zip(figures, PAPER)]
    return [f"The same configuration with `split.group_copies: true` ({_runs(len(grouped))} of `sweeps/grouped.txt`, "
            "gathered into `sweeps/grouped.csv`): every exact copy of an image lands in the same part of the split, "
            "so no test image has a copy in the training split. The same images cut another way, so the models train "
            "on other images too: compare a move with the seed spread of the paper's three figures above.", "", *markdown(head, rows)]


def results_markdown(names, metrics, info, factors, last_epochs, classifier, seeds, sweep, sigma_sweep, training_seeds, roles,
                     data, settings, factor_names, novelty=None, grouped=()):
    """names: the variants, in params.yaml order; metrics, info, factors: {variant: the contents of
    metrics/<variant>.json, metrics/information/<variant>.json, metrics/factors/<variant>.json};
    last_epochs: {variant: {column: value}} from the last row of logs/<variant>.csv; classifier:
    metrics/classifier.json; seeds, sweep, sigma_sweep: sweeps/seeds.csv, sweeps/beta.csv and
    sweeps/sigma.csv (written by shapes_vae.gather) as DataFrames of strings or lists of dicts;
    training_seeds: {variant: models.<variant>.seed}; roles: params.yaml report (which variants
    stand for the paper's two models); data: metrics/data.json; settings: params.yaml evaluate;
    factor_names: the factors in the order of figures/factors/<variant>.json; novelty: {variant:
    the contents of metrics/novelty/<variant>.json}; grouped: sweeps/grouped.csv (the split that
    keeps copies together)."""
    seeds, sweep, sigma_sweep = frame(seeds), frame(sweep), frame(sigma_sweep)
    novelty = novelty or {}
    std, mod = roles["paper_standard"], roles["paper_modified"]
    lines = [
        "# Results",
        "",
        "Written by the `report` stage from `metrics/`, `logs/` and the experiment tables",
        "`sweeps/*.csv`; do not edit by hand. Rerun with `dvc repro`; compare a branch with",
        f"`dvc metrics diff main --md`. One column per variant of `params.yaml` `models:`. Each heading",
        f"links to what its measures are ([{GLOSSARY}]({GLOSSARY})).",
        "",
        _heading("The paper's three figures", "the-papers-three-figures"),
        "",
        f"\"Ours\" is the committed run{_seeds_note(training_seeds)}; the variants standing for the paper's "
        f"two models are `{std}` and `{mod}` (params `report`). " + seed_spread_sentence(seeds)
        + f" \"{REFERENCE_COLUMN}\" is the reference notebook's own code over six seeds on this project's data, "
        "run outside the pipeline (docs/reference.md): compare like with like.",
        "",
        *paper_table(metrics, info, roles, seeds),
        "",
_heading("What the test set measures: copies across the split", "copies"),
        "",
        *copies_rows(names, metrics, data),
        "",
        "### When copies stay together",
        "",
        *grouped_rows(metrics, info, roles, grouped),
        "",
                _heading("Sounder measures on the test set", "sounder-measures"),
        "",
        *sounder_rows(names, metrics, info, settings, data),
        "",
        _heading("Generation quality, scored by a shape classifier", "generation-quality"),
        "",
        *quality_rows(names, metrics, classifier, settings),
        "",
_heading("Novel shapes and smooth paths", "novelty"),
        "",
        *novelty_rows(names, novelty, data, metrics),
        "",
                _heading("Does the latent code line up with the generative factors?", "factor-measures"),
        "",
        "Computed on the test set (stage `factors`, params `factors`): the Mutual Information Gap per",
        "factor (the largest minus the second-largest mutual information of the factor with one latent",
        "dimension, over the factor's entropy: 1 when one dimension alone carries the factor; histogram",
        "estimates with `factors.bins` bins, whose upward bias mostly cancels in the gap), twice: through",
        "the channel, on what the decoder receives (one sampled z per image, plus the variant's training",
        "noise), and on the encoder means as the literature computes it, where a collapsed dimension's",
        "tiny deterministic variations can look informative. The verdict below rests on the channel",
        "measure. Last, how well a linear probe fitted on the training split's means predicts each factor",
        "(R² for the continuous factors, accuracy for the class). The heat maps hatch the collapsed",
        "dimensions (variance of the mean at most 0.01).",
        "",
        *factor_rows(names, factors, factor_names, roles, seeds),
        "",
        _heading("Seeds", "seeds"),
        "",
        f"The whole pipeline under other training seeds, {_runs(len(seeds))}. " + sweep_intro("seeds", (), mod),
        "",
        *seed_rows(seeds, roles),
        "",
        _heading("Rate and distortion as beta moves", "sweeps"),
        "",
        sweep_intro("beta", sweep, mod),
        "",
        "![rate against distortion, mean and sd over seeds](sweeps/beta.png)",
        "",
        *sweep_rows(sweep, mod, std),
        "",
        _heading("Rate and distortion as the noise sigma moves", "sweeps"),
        "",
        sweep_intro("sigma", sigma_sweep, mod) + " The paper's bits are undefined without noise.",
        "",
        "![rate against distortion, noise sigma](sweeps/sigma.png)",
        "",
        *sweep_rows(sigma_sweep, mod),
        "",
        _heading("Last training epoch beside the reference notebook's", "last-epoch"),
        "",
        *last_epoch_rows(names, last_epochs, roles),
    ]
    return "\n".join(lines) + "\n"
