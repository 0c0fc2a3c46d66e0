"""The results page, written from the metrics files and the gathered experiment tables: no
number in it is typed by hand."""
import math

from shapes_vae.spread import group_points, mean_sd

# The paper's reported figures and the reference notebook's last logged epoch (docs/reference.md).
PAPER = {"standard_test_bce": 0.0346, "modified_test_bce": 0.0968, "bits_total": 10.93}
REFERENCE_LAST_EPOCH = {
    "standard": {"train_recon": "25.0", "train_kl": "12.3", "val_recon": "27.3", "val_kl": "12.2"},
    # Keras logged the modified model's "validation" from its last validation batch (74 images) only
    "modified": {"train_recon": "95.5", "train_kl": "4.8", "val_recon": "79.2, one batch", "val_kl": "4.9, one batch"},
}
# the same notebook at an earlier commit (identical code), another unseeded draw
REFERENCE_EARLIER_RUN = {"train_recon": "27.79", "train_kl": "13.54", "val_recon": "29.98", "val_kl": "13.49"}
# the reference notebook's own code over six seeds on this project's data, run outside the pipeline
# (docs/reference.md, "The reference's own seed spread"): mean ± sample sd
REFERENCE_SEEDS = {"standard_test_bce": "0.0383 ± 0.0066", "modified_test_bce": "0.1019 ± 0.0033",
                   "bits_total": "10.73 ± 0.17", "standard_train_recon": "28.8 ± 5.7"}


def _f(v, digits=4):
    return "–" if v is None else f"{v:.{digits}f}"


def _pm(values, digits=4):
    """Mean ± sample sd of the values that are not None or "" (the mean alone for one value, "–"
    for none); digits None writes shares as percentages, digits 1 writes a whole mean of one
    value as an integer (active units)."""
    m, sd = mean_sd(values)
    if m is None:
        return "–"
    if digits is None:
        return f"{m:.1%}" if sd is None else f"{m:.1%} ± {sd:.1%}"
    if sd is None and digits == 1 and float(m).is_integer():
        return f"{m:.0f}"
    return f"{m:.{digits}f}" if sd is None else f"{m:.{digits}f} ± {sd:.{digits}f}"


def _num(v):
    """A CSV cell as a float, or None when empty."""
    return None if v in (None, "") else float(v)


def paper_rows(metrics, info, roles, seeds=()):
    ours = {
        "standard_test_bce": metrics[roles["paper_standard"]]["test_bce"],
        "modified_test_bce": metrics[roles["paper_modified"]]["test_bce"],
        "bits_total": info[roles["paper_modified"]].get("paper_bits_estimate"),
    }
    labels = {
        "standard_test_bce": f"Standard VAE, test BCE (paper protocol): `{roles['paper_standard']}`",
        "modified_test_bce": f"Modified VAE, test BCE (paper protocol): `{roles['paper_modified']}`",
        "bits_total": f"Bits through the modified VAE's latent (paper's estimate): `{roles['paper_modified']}`",
    }
    rows = []
    for k, label in labels.items():
        ratio = "–" if ours[k] is None else f"{ours[k] / PAPER[k]:.2f}"
        column = {"standard_test_bce": f"{roles['paper_standard']}_test_bce",
                  "modified_test_bce": f"{roles['paper_modified']}_test_bce", "bits_total": "bits_total"}[k]
        spread = _pm([r.get(column) for r in seeds])
        rows.append(f"| {label} | {PAPER[k]} | {_f(ours[k])} | {ratio} | {spread} | {REFERENCE_SEEDS[k]} |")
    return rows


def _seeds_note(training_seeds):
    if not training_seeds:
        return ""
    return " (training seeds " + ", ".join(f"{m} {s}" for m, s in training_seeds.items()) + ")"


def _table(names, rows):
    """A Markdown table with a measure column and one column per variant: rows are
    (label, {variant: cell text})."""
    lines = ["| Measure | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    lines += [f"| {label} | " + " | ".join(cells.get(n, "–") for n in names) + " |" for label, cells in rows]
    return lines


def sounder_rows(names, metrics, info):
    m, i = metrics, info
    k = m[names[0]]["iwae_k"]
    ceiling = i[names[0]]["mi_ceiling_bits"]
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


def quality_rows(names, metrics, classifier):
    if any("prior_confident_share" not in metrics[n] for n in names):
        return ["(no sample-quality scores in the metrics files: rerun `dvc repro`)"]
    m, first = metrics, metrics[names[0]]
    shares = lambda d: " / ".join(f"{v:.1%}" for v in d["prior_class_share"].values())
    classes = " / ".join(first["prior_class_share"])
    per = lambda f: {n: f(m[n]) for n in names}
    return [
        f"A small CNN trained on the training split (stage `train_classifier`, params `classifier`) "
        f"recognises {classifier['test_accuracy']:.2%} of the test images "
        f"({', '.join(f'{k} {v:.2%}' for k, v in classifier['test_accuracy_per_class'].items() if v is not None)}). "
        f"It scores each model's decoded images (their modes: each pixel at its more probable value); "
        f"`figures/<variant>/prior_samples_classified.png` shows samples with its verdicts.",
        "",
        *_table(names, [
            (f"Prior samples recognised confidently (top probability >= {first['prior_confidence']:g}), of {first['prior_samples']}",
             per(lambda d: f"{d['prior_confident_share']:.1%}")),
            (f"Predicted class of the prior samples, {classes}", per(shares)),
            (f"KL of that histogram from uniform, bits (0 = all shapes equally often, "
             f"{math.log2(len(first['prior_class_share'])):.2f} = one shape only)",
             per(lambda d: f"{d['prior_class_kl_from_uniform_bits']:.3f}")),
            ("Test reconstructions (decoded from mu) whose class is preserved", per(lambda d: f"{d['recon_class_preserved']:.1%}")),
        ]),
    ]


def factor_verdict(factors, roles):
    """One sentence: is the paper-modified variant's code more organised than the paper-standard's?"""
    std, mod = roles["paper_standard"], roles["paper_modified"]
    a, b = factors[std].get("mig_mean"), factors[mod].get("mig_mean")
    if a is None or b is None or std == mod:
        return None
    word = "more" if b > a else "less" if b < a else "as"
    return (f"By the mean MIG, `{mod}`'s code is {word} organised than `{std}`'s ({b:.3f} against {a:.3f}). "
            "Each figure is from one training seed; the seed spread of these measures is not gathered yet, "
            "so a difference of this size is not known to exceed it.")


def factor_rows(names, factors, roles):
    """The factor measures (metrics/factors/<variant>.json) side by side, and the heat maps."""
    if any(factors.get(n) is None for n in names):
        return ["(no factor measures: rerun `dvc repro`)"]
    first = factors[names[0]]
    rows = [("Mean MIG (normalised by each factor's entropy; 0 = none, 1 = each factor in one dimension of its own)",
             {n: _f(factors[n].get("mig_mean"), 3) for n in names})]
    for f in first["factor_names"]:
        rows.append((f"MIG, {f}", {n: _f(factors[n].get(f"mig_{f}"), 3) for n in names}))
    for f in first["factor_names"]:
        key = "probe_accuracy_class" if f == "class" else f"probe_r2_{f}"
        what = "accuracy" if f == "class" else "R²"
        rows.append((f"Linear probe on the latent means, {f} ({what} on the test set)",
                     {n: _f(factors[n].get(key), 3) for n in names}))
    verdict = factor_verdict(factors, roles)
    return [*_table(names, rows), "", *([verdict, ""] if verdict else []),
            *[f"![{n}: normalised MI of each latent dimension with each factor](figures/factors/{n}.png)" for n in names]]


def seed_rows(seeds, roles):
    """The per-seed table from sweeps/seeds.csv rows (dicts of CSV strings)."""
    std, mod = roles["paper_standard"], roles["paper_modified"]
    columns = (f"{std}_test_bce", f"{mod}_test_bce", "bits_total", f"{std}_mig_mean", f"{mod}_mig_mean")
    if not seeds:
        return ["(no seed experiments gathered: see the commands above)"]
    params = [k for k in seeds[0] if k.startswith("models.") or k.endswith(".seed")]
    head = ["Experiment", *params, f"{std} test BCE", f"{mod} test BCE", "Bits (paper's estimate)",
            f"{std} mean MIG", f"{mod} mean MIG"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in seeds:
        cells = [r["experiment"], *(r[p] for p in params),
                 *(_f(_num(r.get(k))) for k in columns)]
        lines.append("| " + " | ".join(cells) + " |")
    summary = [_pm([r.get(k) for r in seeds]) for k in columns]
    lines.append("| **mean ± sd** | " + " | ".join("" for _ in params) + (" | " if params else "") + " | ".join(summary) + " |")
    return lines


def sweep_summary(points, variant):
    """One sentence on how the rate and the paper's bits move across a sweep's points (None if < 2)."""
    pts = [(mean_sd(r.get(f"{variant}_rate_bits") for r in members)[0], mean_sd(r.get("bits_total") for r in members)[0])
           for _, members in points]
    pts = [p for p in pts if None not in p]
    if len(pts) < 2:
        return None
    rates, bits = [p[0] for p in pts], [p[1] for p in pts]
    if min(rates) <= 0 or min(bits) <= 0:
        return None
    over = "points" if len(pts) == len(points) and all(len(m) == 1 for _, m in points) else "points (means over their runs)"
    return (f"Across these {len(pts)} {over} the rate, an upper bound on I(X;Z), spans {min(rates):.2f} to "
            f"{max(rates):.2f} bits ({max(rates) / min(rates):.1f}x); the paper's estimate spans {min(bits):.2f} to "
            f"{max(bits):.2f} bits ({max(bits) / min(bits):.1f}x).")


SWEEP_COLUMNS = [  # (header, column suffix or full name, digits; None: a share as a percentage)
    ("Rate, bits (upper bound on I(X;Z))", "rate_bits", 2), ("I(X;Z) estimate, bits", "mi_bits", 2),
    ("Distortion, nats per image", "recon_nats", 2), ("KL, nats", "kl_nats", 2),
    ("Test BCE (paper protocol)", "test_bce", 4), ("Bits (paper's estimate)", "bits_total", 2),
    ("Active units", "active_units", 1), ("Prior samples recognised", "prior_confident_share", None),
    ("Mean MIG", "mig_mean", 3), ("Class probe accuracy", "probe_accuracy_class", 3),
]


def _paired(r, a, b):
    """r[a] - r[b] of one run (a paired difference: both models of the same seeds), or None."""
    x, y = _num(r.get(a)), _num(r.get(b))
    return None if x is None or y is None else x - y


def sweep_rows(sweep, variant, base=None):
    """The rate-distortion table of `variant` from sweeps/beta.csv rows (dicts of CSV strings): one
    line per point of the sweep, its runs' mean ± sample sd where it has several (other seeds or
    runtime settings, shapes_vae.spread). base: the variant `variant` is fine-tuned from; its mean
    MIG is subtracted run by run (a paired difference) in the last column."""
    if not sweep:
        return ["(no sweep gathered: see the commands above)"]
    params = [k for k in sweep[0] if k.startswith(("models.", "architecture.", "runtime."))]
    points = group_points(sweep, params)
    repeated = any(len(members) > 1 for _, members in points)
    shown = list(points[0][0])
    paired = base is not None and any(_paired(r, f"{variant}_mig_mean", f"{base}_mig_mean") is not None for r in sweep)
    head = [*shown, *(["Runs"] if repeated else []), *(h for h, _, _ in SWEEP_COLUMNS),
            *([f"Mean MIG minus {base}'s (same seeds)"] if paired else [])]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for point, members in points:
        cells = [point[p] for p in shown] + ([str(len(members))] if repeated else [])
        for _, key, digits in SWEEP_COLUMNS:
            column = key if key == "bits_total" else f"{variant}_{key}"
            cells.append(_pm([r.get(column) for r in members], digits))
        if paired:
            cells.append(_pm([_paired(r, f"{variant}_mig_mean", f"{base}_mig_mean") for r in members], 3))
        lines.append("| " + " | ".join(cells) + " |")
    summary = sweep_summary(points, variant)
    return lines + ([] if summary is None else ["", summary])


def last_epoch_rows(names, last_epochs, roles):
    lines = ["| Variant | Train recon | Train KL | Val recon | Val KL |", "|---|---|---|---|---|"]
    cols = ("train_recon", "train_kl", "val_recon", "val_kl")
    for name in names:
        role = next((r for r, v in (("standard", roles["paper_standard"]), ("modified", roles["paper_modified"])) if v == name), None)
        ref = REFERENCE_LAST_EPOCH.get(role, {})
        cells = " | ".join(f"{last_epochs[name][c]:.1f}" + (f" (ref. {ref[c]})" if c in ref else "") for c in cols)
        lines.append(f"| {name} | {cells} |")
    lines += ["", "The reference is one run of the paper's notebook, whose shapes and initial weights were unseeded. "
              "The same notebook at an earlier commit, "
              "identical code, logged the standard model's last epoch at "
              + ", ".join(f"{REFERENCE_EARLIER_RUN[c]}" for c in cols)
              + " (same columns), and its code over six seeds on this project's data (docs/reference.md) ended at "
              f"{REFERENCE_SEEDS['standard_train_recon']} nats of train reconstruction (mean ± sd). "
              "Keras' train figures are unweighted running means of the epoch's batch losses, taken before each "
              "update (its last, smaller batch counts as much as a full one); ours are means over the epoch's "
              "images, also taken before each update. The modified model's reference \"validation\" is the last "
              "validation batch only (74 images), so it does not compare with our full-set means."]
    return lines


def results_markdown(names, metrics, info, factors, last_epochs, classifier, seeds, sweep, sigma_sweep, training_seeds, roles,
                     paper_beta):
    """names: the variants, in params.yaml order; metrics, info, factors: {variant: the contents of
    metrics/<variant>.json, metrics/information/<variant>.json, metrics/factors/<variant>.json};
    last_epochs: {variant: {column: value}} from the last row of logs/<variant>.csv; classifier:
    metrics/classifier.json; seeds, sweep, sigma_sweep: the rows of sweeps/seeds.csv,
    sweeps/beta.csv and sweeps/sigma.csv (written by shapes_vae.gather) as dicts of strings;
    training_seeds: {variant: models.<variant>.seed}; roles: params.yaml report (which variants
    stand for the paper's two models); paper_beta: the beta of the paper-modified variant (the
    sweep's point that gives the seed table)."""
    std, mod = roles["paper_standard"], roles["paper_modified"]
    lines = [
        "# Results",
        "",
        "Written by the `report` stage from `metrics/`, `logs/` and the experiment tables",
        "`sweeps/*.csv`; do not edit by hand. Rerun with `dvc repro`; compare a branch with",
        "`dvc metrics diff main --md`. One column per variant of `params.yaml` `models:`.",
        "",
        "## The paper's three figures",
        "",
        f"\"Ours\" is the committed run{_seeds_note(training_seeds)}; the variants standing for the paper's "
        f"two models are `{std}` and `{mod}` (params `report`). The last column is over the {len(seeds)} "
        "runs of `sweeps/seeds.csv` (sample sd), see [Seeds](#seeds); beside it, the reference notebook's own code "
        "over six seeds on this project's data, run outside the pipeline (docs/reference.md): compare like with like.",
        "",
        "| Figure | Paper | Ours | Ours / paper | Mean ± sd over seeds | The reference's code, 6 seeds |",
        "|---|---|---|---|---|---|",
        *paper_rows(metrics, info, roles, seeds),
        "",
        "## Sounder measures on the test set",
        "",
        *sounder_rows(names, metrics, info),
        "",
        "## Generation quality, scored by a shape classifier",
        "",
        *quality_rows(names, metrics, classifier),
        "",
        "## Does the latent code line up with the generative factors?",
        "",
        "Computed on the test set from the encoder means (stage `factors`, params `factors`): the",
        "Mutual Information Gap per factor (the largest minus the second-largest mutual information of",
        "the factor with one latent dimension, over the factor's entropy: 1 when one dimension alone",
        "carries the factor; histogram estimates with `factors.bins` bins, whose upward bias mostly",
        "cancels in the gap), and how well a linear probe fitted on the training split predicts each",
        "factor from the code (R² for the continuous factors, accuracy for the class).",
        "",
        *factor_rows(names, factors, roles),
        "",
        "## Seeds",
        "",
        f"The whole pipeline under three training seeds: the points of the beta sweep below at the committed beta "
        f"(`models.{mod}.beta` = {paper_beta:g}), gathered into `sweeps/seeds.csv`:",
        "",
        "```",
        f"python -m shapes_vae.gather 'beta-{paper_beta:g}-seed-*' --out sweeps/seeds.csv --min-rows 3",
        "```",
        "",
        *seed_rows(seeds, roles),
        "",
        "## Rate and distortion as beta moves",
        "",
        f"`{mod}` at six beta, each under three training seeds applied to both models (the seed of `{std}`, which "
        f"`{mod}` is fine-tuned from, and `{mod}`'s own), every other setting as in `params.yaml` at the sweep's "
        "baseline commit (the `baseline` column of the CSV). DVC's run cache trains each seed's "
        f"`{std}` once, and restores any experiment already run. Rate is the mean KL to the prior in bits, "
        "distortion the test reconstruction term in nats per image (one sampled z); each point is the mean "
        "± sample sd over its runs, which differ only in seeds (or in how they ran, such as the thread count). Gathered into "
        "`sweeps/beta.csv` (one row per experiment) and `sweeps/beta.png`:",
        "",
        "```",
        "for s in 1 11 21; do for b in 0.5 1 2 5 10 20; do",
        f"  dvc exp run --queue -n beta-$b-seed-$s -S models.{mod}.beta=$b -S models.{std}.seed=$s -S models.{mod}.seed=$((s+1))",
        "done; done",
        "dvc queue start -j 1          # then watch: dvc queue status (or follow one: dvc queue logs -f beta-5-seed-11)",
        "python -m shapes_vae.gather 'beta-*-seed-*' --out sweeps/beta.csv --plot sweeps/beta.png --min-rows 18",
        "```",
        "",
        "![rate against distortion, mean and sd over seeds](sweeps/beta.png)",
        "",
        *sweep_rows(sweep, mod, std),
        "",
        "## Rate and distortion as the noise sigma moves",
        "",
        f"`{mod}` with other std of the Gaussian noise added to z in training, every other setting",
        "as at the sweep's baseline commit (`beta-10-seed-1` of the beta sweep stands for the default sigma; the",
        "paper's bits are undefined without noise):",
        "",
        "```",
        f"for s in 0 0.25 1; do dvc exp run --queue -n sigma-$s -S models.{mod}.noise_sigma=$s; done",
        "dvc queue start -j 1",
        "python -m shapes_vae.gather 'sigma-*' beta-10-seed-1 --out sweeps/sigma.csv --plot sweeps/sigma.png --min-rows 4",
        "```",
        "",
        "![rate against distortion, noise sigma](sweeps/sigma.png)",
        "",
        *sweep_rows(list(sigma_sweep), mod),
        "",
        "## Last training epoch beside the reference notebook's",
        "",
        *last_epoch_rows(names, last_epochs, roles),
    ]
    return "\n".join(lines) + "\n"
