"""The results page, written from the metrics files and the gathered experiment tables: no
number in it is typed by hand."""
import math

# The paper's reported figures and the reference notebook's last logged epoch (REFERENCE.md).
PAPER = {"standard_test_bce": 0.0346, "modified_test_bce": 0.0968, "bits_total": 10.93}
REFERENCE_LAST_EPOCH = {
    "standard": {"train_recon": 25.0, "train_kl": 12.3, "val_recon": 27.3, "val_kl": 12.2},
    "modified": {"train_recon": 95.5, "train_kl": 4.8, "val_recon": 79.2, "val_kl": 4.9},
}


def _f(v, digits=4):
    return "–" if v is None else f"{v:.{digits}f}"


def mean_sd(values):
    """(mean, sample standard deviation with ddof = 1; None for fewer than 2 values)."""
    values = [float(v) for v in values]
    if not values:
        return None, None
    m = sum(values) / len(values)
    if len(values) < 2:
        return m, None
    return m, math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1))


def _pm(values, digits=4):
    m, sd = mean_sd(values)
    if m is None:
        return "–"
    return f"{m:.{digits}f}" if sd is None else f"{m:.{digits}f} ± {sd:.{digits}f}"


def _num(v):
    """A CSV cell as a float, or None when empty."""
    return None if v in (None, "") else float(v)


def paper_rows(metrics, info, seeds=()):
    ours = {
        "standard_test_bce": metrics["standard"]["test_bce"],
        "modified_test_bce": metrics["modified"]["test_bce"],
        "bits_total": info.get("bits_total"),
    }
    labels = {
        "standard_test_bce": "Standard VAE, test BCE (paper protocol)",
        "modified_test_bce": "Modified VAE, test BCE (paper protocol)",
        "bits_total": "Bits through the modified VAE's latent (paper's estimate)",
    }
    rows = []
    for k, label in labels.items():
        ratio = "–" if ours[k] is None else f"{ours[k] / PAPER[k]:.2f}"
        spread = _pm([r[k] for r in seeds if r.get(k) not in (None, "")])
        rows.append(f"| {label} | {PAPER[k]} | {_f(ours[k])} | {ratio} | {spread} |")
    return rows


def _seeds_note(training_seeds):
    if not training_seeds:
        return ""
    return " (training seeds " + ", ".join(f"{m} {s}" for m, s in training_seeds.items()) + ")"


def quality_rows(metrics, classifier):
    s, m = metrics["standard"], metrics["modified"]
    if "prior_confident_share" not in s or "prior_confident_share" not in m:
        return ["(no sample-quality scores in the metrics files: rerun `dvc repro`)"]
    shares = lambda d: " / ".join(f"{v:.1%}" for v in d["prior_class_share"].values())
    names = " / ".join(s["prior_class_share"])
    return [
        f"A small CNN trained on the training split (stage `train_classifier`, params `classifier`) "
        f"recognises {classifier['test_accuracy']:.2%} of the test images "
        f"({', '.join(f'{k} {v:.2%}' for k, v in classifier['test_accuracy_per_class'].items() if v is not None)}). "
        f"It scores each model's decoded images (their modes: each pixel at its more probable value); "
        f"`figures/<model>/prior_samples_classified.png` shows samples with its verdicts.",
        "",
        "| Measure | Standard | Modified |",
        "|---|---|---|",
        f"| Prior samples recognised confidently (top probability >= {s['prior_confidence']:g}), of {s['prior_samples']} | "
        f"{s['prior_confident_share']:.1%} | {m['prior_confident_share']:.1%} |",
        f"| Predicted class of the prior samples, {names} | {shares(s)} | {shares(m)} |",
        f"| KL of that histogram from uniform, bits (0 = all shapes equally often, {math.log2(len(s['prior_class_share'])):.2f} = one shape only) | "
        f"{s['prior_class_kl_from_uniform_bits']:.3f} | {m['prior_class_kl_from_uniform_bits']:.3f} |",
        f"| Test reconstructions (decoded from mu) whose class is preserved | {s['recon_class_preserved']:.1%} | {m['recon_class_preserved']:.1%} |",
    ]


def seed_rows(seeds):
    """The per-seed table from sweeps/seeds.csv rows (dicts of CSV strings)."""
    if not seeds:
        return ["(no seed experiments gathered: see the commands above)"]
    params = [k for k in seeds[0] if k.startswith("models.") or k.endswith(".seed")]
    head = ["Experiment", *params, "Standard test BCE", "Modified test BCE", "Bits (paper's estimate)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in seeds:
        cells = [r["experiment"], *(r[p] for p in params),
                 *(_f(_num(r[k])) for k in ("standard_test_bce", "modified_test_bce", "bits_total"))]
        lines.append("| " + " | ".join(cells) + " |")
    summary = [_pm([r[k] for r in seeds if r.get(k) not in (None, "")])
               for k in ("standard_test_bce", "modified_test_bce", "bits_total")]
    lines.append("| **mean ± sd** | " + " | ".join("" for _ in params) + (" | " if params else "") + " | ".join(summary) + " |")
    return lines


def sweep_summary(sweep):
    """One sentence on how the rate and the paper's bits move across a sweep (None if < 2 rows)."""
    pts = [(_num(r.get("modified_rate_bits")), _num(r.get("bits_total"))) for r in sweep]
    pts = [p for p in pts if None not in p]
    if len(pts) < 2:
        return None
    rates, bits = [p[0] for p in pts], [p[1] for p in pts]
    if min(rates) <= 0 or min(bits) <= 0:
        return None
    return (f"Across these {len(pts)} runs the rate, an upper bound on I(X;Z), spans {min(rates):.2f} to "
            f"{max(rates):.2f} bits ({max(rates) / min(rates):.1f}x); the paper's estimate spans {min(bits):.2f} to "
            f"{max(bits):.2f} bits ({max(bits) / min(bits):.1f}x).")


def sweep_rows(sweep):
    """The rate-distortion table from sweeps/beta.csv rows (dicts of CSV strings)."""
    if not sweep:
        return ["(no sweep gathered: see the commands above)"]
    params = [k for k in sweep[0] if k.startswith(("models.", "architecture."))]
    head = [*params, "Rate, bits (upper bound on I(X;Z))", "I(X;Z) estimate, bits", "Distortion, nats per image",
            "KL, nats", "Test BCE (paper protocol)", "Bits (paper's estimate)", "Active units",
            "Prior samples recognised"]
    keys = ["modified_rate_bits", "modified_mi_bits", "modified_recon_nats", "modified_kl_nats",
            "modified_test_bce", "bits_total", "modified_active_units", "modified_prior_confident_share"]
    digits = [2, 2, 2, 2, 4, 2, 0, None]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in sweep:
        cells = [r[p] for p in params]
        for k, d in zip(keys, digits):
            v = _num(r.get(k))
            cells.append("–" if v is None else (f"{v:.1%}" if d is None else f"{v:.{d}f}"))
        lines.append("| " + " | ".join(cells) + " |")
    summary = sweep_summary(sweep)
    return lines + ([] if summary is None else ["", summary])


def results_markdown(metrics, info, last_epochs, classifier, seeds, sweep, sigma_sweep=(), training_seeds=None):
    """metrics: {model: metrics/<model>.json}; info: metrics/information.json;
    last_epochs: {model: {column: value}} from the last row of logs/<model>.csv;
    classifier: metrics/classifier.json; seeds, sweep: the rows of sweeps/seeds.csv and
    sweeps/beta.csv (written by shapes_vae.gather) as dicts of strings; sigma_sweep: the rows of
    sweeps/sigma.csv, the same for the noise sigma; training_seeds: {model: models.<model>.seed}
    of the committed run."""
    s, m = metrics["standard"], metrics["modified"]
    si, mi = info["standard"], info["modified"]
    k = s["iwae_k"]
    lines = [
        "# Results",
        "",
        "Written by the `report` stage from `metrics/*.json`, `logs/*.csv` and the experiment tables",
        "`sweeps/*.csv`; do not edit by hand. Rerun with `dvc repro`; compare a branch with",
        "`dvc metrics diff main --md`.",
        "",
        "## The paper's three figures",
        "",
        f"\"Ours\" is the committed run{_seeds_note(training_seeds)}; the last column is over the {len(seeds)} "
        "training seeds of `sweeps/seeds.csv` (sample sd), see [Seeds](#seeds).",
        "",
        "| Figure | Paper | Ours | Ours / paper | Mean ± sd over seeds |",
        "|---|---|---|---|---|",
        *paper_rows(metrics, info, seeds),
        "",
        "## Sounder measures on the test set",
        "",
        "| Measure | Standard | Modified |",
        "|---|---|---|",
        f"| Test BCE per pixel, decoding the mean | {_f(s['test_bce_mean_decode'])} | {_f(m['test_bce_mean_decode'])} |",
        f"| Reconstruction, nats per image | {_f(s['recon_nats'], 2)} | {_f(m['recon_nats'], 2)} |",
        f"| KL to the prior, nats per image | {_f(s['kl_nats'], 2)} | {_f(m['kl_nats'], 2)} |",
        f"| Negative ELBO (beta = 1), nats per image | {_f(s['neg_elbo_nats'], 2)} | {_f(m['neg_elbo_nats'], 2)} |",
        f"| IWAE bound on -log p(x), K = {k}, nats per image | {_f(s['iwae_nll_nats'], 2)} | {_f(m['iwae_nll_nats'], 2)} |",
        f"| Active latent units (Var of mu > 0.01) | {s['active_units']} | {m['active_units']} |",
        f"| Rate = mean KL in bits (upper bound on I(X;Z)) | {_f(si['rate_bits_upper_bound'], 2)} | {_f(mi['rate_bits_upper_bound'], 2)} |",
        f"| I(X;Z) estimate in bits (aggregate posterior, at most {info['mi_ceiling_bits']:.2f}) | "
        f"{_f(si['mi_bits_estimate'], 2)} | {_f(mi['mi_bits_estimate'], 2)} |",
    ]
    if "mi_noisy_channel_bits_estimate" in mi:
        lines.append(f"| I(X; z + noise) estimate in bits, the noisy channel | – | {_f(mi['mi_noisy_channel_bits_estimate'], 2)} |")
    if "encoder_noise_channel_bits_estimate" in mi:
        lines.append(f"| Paper's formula counting the encoder's variance as noise too, bits | – | "
                     f"{_f(mi['encoder_noise_channel_bits_estimate'], 2)} |")
    lines += [
        "",
        "## Generation quality, scored by a shape classifier",
        "",
        *quality_rows(metrics, classifier),
        "",
        "## Seeds",
        "",
        "The whole pipeline under other training seeds (`models.standard.seed`, `models.modified.seed`),",
        "queued with DVC and gathered into `sweeps/seeds.csv`:",
        "",
        "```",
        "for s in 1 11 21; do dvc exp run --queue -n seed-$s -S models.standard.seed=$s -S models.modified.seed=$((s+1)); done",
        "dvc queue start -j 1          # then watch: dvc queue status",
        "python -m shapes_vae.gather 'seed-*' --out sweeps/seeds.csv --min-rows 3",
        "```",
        "",
        *seed_rows(seeds),
        "",
        "## Rate and distortion as beta moves",
        "",
        "The modified VAE at several beta, every other setting as in `params.yaml` at the sweep's baseline",
        "commit (the `baseline` column of the CSV);",
        "rate is the mean KL to the prior in bits, distortion the test reconstruction term in nats per",
        "image (one sampled z). Gathered into `sweeps/beta.csv` and `sweeps/beta.png`:",
        "",
        "```",
        "for b in 0.5 1 2 5 10 20; do dvc exp run --queue -n beta-$b -S models.modified.beta=$b; done",
        "dvc queue start -j 1",
        "python -m shapes_vae.gather 'beta-*' --out sweeps/beta.csv --plot sweeps/beta.png --min-rows 6",
        "```",
        "",
        "![rate against distortion](sweeps/beta.png)",
        "",
        *sweep_rows(sweep),
        "",
        "## Rate and distortion as the noise sigma moves",
        "",
        "The modified VAE with other std of the Gaussian noise added to z in training, every other setting",
        "as at the sweep's baseline commit (`beta-10` of the beta sweep stands for the default sigma; the",
        "paper's bits are undefined without noise):",
        "",
        "```",
        "for s in 0 0.25 1; do dvc exp run --queue -n sigma-$s -S models.modified.noise_sigma=$s; done",
        "dvc queue start -j 1",
        "python -m shapes_vae.gather 'sigma-*' beta-10 --out sweeps/sigma.csv --plot sweeps/sigma.png --min-rows 4",
        "```",
        "",
        "![rate against distortion, noise sigma](sweeps/sigma.png)",
        "",
        *sweep_rows(list(sigma_sweep)),
        "",
        "## Last training epoch beside the reference notebook's",
        "",
        "| Model | Train recon | Train KL | Val recon | Val KL |",
        "|---|---|---|---|---|",
    ]
    for name in ("standard", "modified"):
        ours, ref = last_epochs[name], REFERENCE_LAST_EPOCH[name]
        cells = " | ".join(f"{ours[c]:.1f} (ref. {ref[c]})" for c in ("train_recon", "train_kl", "val_recon", "val_kl"))
        lines.append(f"| {name} | {cells} |")
    return "\n".join(lines) + "\n"
