"""The results table, written from the metrics files: no number in it is typed by hand."""

# The paper's reported figures and the reference notebook's last logged epoch (REFERENCE.md).
PAPER = {"standard_test_bce": 0.0346, "modified_test_bce": 0.0968, "bits_total": 10.93}
REFERENCE_LAST_EPOCH = {
    "standard": {"train_recon": 25.0, "train_kl": 12.3, "val_recon": 27.3, "val_kl": 12.2},
    "modified": {"train_recon": 95.5, "train_kl": 4.8, "val_recon": 79.2, "val_kl": 4.9},
}


def _f(v, digits=4):
    return "–" if v is None else f"{v:.{digits}f}"


def paper_rows(metrics, info):
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
        rows.append(f"| {label} | {PAPER[k]} | {_f(ours[k])} | {ratio} |")
    return rows


def results_markdown(metrics, info, last_epochs):
    """metrics: {model: metrics/<model>.json}; info: metrics/information.json;
    last_epochs: {model: {column: value}} from the last row of logs/<model>.csv."""
    s, m = metrics["standard"], metrics["modified"]
    si, mi = info["standard"], info["modified"]
    k = s["iwae_k"]
    lines = [
        "# Results",
        "",
        "Written by the `report` stage from `metrics/*.json` and `logs/*.csv`; do not edit by hand.",
        "Rerun with `dvc repro`; compare a branch with `dvc metrics diff main --md`.",
        "",
        "## The paper's three figures",
        "",
        "| Figure | Paper | Ours | Ours / paper |",
        "|---|---|---|---|",
        *paper_rows(metrics, info),
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
