from shapes_vae.report import PAPER, results_markdown

NAMES = ["standard", "modified"]
ROLES = {"paper_standard": "standard", "paper_modified": "modified"}


def model_metrics(bce, confident=0.5, preserved=0.875, active=7):
    return {"test_bce": bce, "test_bce_mean_decode": bce / 2, "recon_nats": 30.0, "kl_nats": 12.0,
            "neg_elbo_nats": 42.0, "iwae_nll_nats": 40.5, "iwae_k": 20, "active_units": active,
            "prior_samples": 2000, "prior_confidence": 0.9, "prior_confident_share": confident,
            "prior_class_share": {"circle": 0.25, "triangle": 0.25, "rectangle": 0.5},
            "prior_class_kl_from_uniform_bits": 0.085, "recon_class_preserved": preserved}


def information(rate=17.3, noisy=None, paper=None, encoder=None):
    """A metrics/information/<variant>.json: the noisy-channel figures are None without noise."""
    return {"n_test_images": 2250, "mi_ceiling_bits": 11.14, "rate_bits_upper_bound": rate, "mi_bits_estimate": 10.1,
            "noise_sigma": 0.0 if paper is None else 0.5, "mi_noisy_channel_bits_estimate": noisy,
            "paper_bits_estimate": paper, "encoder_noise_channel_bits_estimate": encoder}


def factor_json(mig_mean, mig_size=0.2, r2_size=0.9):
    return {"factor_names": ["class", "size"], "latent_dim": 8, "bins": 20, "n_test": 2250, "mig_mean": mig_mean,
            "mig_class": 0.1, "mig_size": mig_size, "probe_accuracy_class": 0.95, "probe_r2_size": r2_size}


METRICS = {"standard": model_metrics(0.0346 * 2), "modified": model_metrics(0.0968, 0.25, 0.5),
           "wide": model_metrics(0.05, 0.75, 0.625, active=3)}
INFO = {"standard": information(), "modified": information(paper=12.0, noisy=5.5, encoder=6.5),
        "wide": information(rate=4.25)}
FACTORS = {"standard": factor_json(0.3), "modified": factor_json(0.4), "wide": factor_json(0.123, 0.456, 0.789)}


def page(seeds=(), sweep=(), sigma=(), names=NAMES, roles=ROLES, paper_beta=10.0):
    last = {m: {"train_recon": 1.0, "train_kl": 2.0, "val_recon": 3.0, "val_kl": 4.0} for m in names}
    classifier = {"test_accuracy": 0.9982, "test_accuracy_per_class": {"circle": 1.0, "triangle": 0.9946, "rectangle": 1.0}}
    pick = lambda d: {n: d[n] for n in names}
    return results_markdown(list(names), pick(METRICS), pick(INFO), pick(FACTORS), last, classifier, list(seeds),
                            list(sweep), list(sigma), {n: i + 1 for i, n in enumerate(names)}, roles, paper_beta)


def test_results_table_is_written_from_the_metrics():
    md = page()
    assert (f"| Standard VAE, test BCE (paper protocol): `standard` | {PAPER['standard_test_bce']} | 0.0692 | 2.00 | – |"
            in md)
    assert "| Modified VAE, test BCE (paper protocol): `modified` | 0.0968 | 0.0968 | 1.00 | – |" in md
    # the bits come from the paper-modified variant's information json
    assert "| Bits through the modified VAE's latent (paper's estimate): `modified` | 10.93 | 12.0000 | 1.10 |" in md
    assert "K = 20" in md and "at most 11.14" in md
    assert "| I(X; z + noise) estimate in bits, the noisy channel (– without noise) | – | 5.50 |" in md
    assert "| Paper's formula counting the encoder's variance as noise too, bits | – | 6.50 |" in md
    assert "| standard | 1.0 (ref. 25.0) | 2.0 (ref. 12.3) | 3.0 (ref. 27.3) | 4.0 (ref. 12.2) |" in md
    assert "recognises 99.82% of the test images" in md
    assert "(top probability >= 0.9), of 2000 | 50.0% | 25.0% |" in md
    assert '"Ours" is the committed run (training seeds standard 1, modified 2)' in md
    assert "| Predicted class of the prior samples, circle / triangle / rectangle | 25.0% / 25.0% / 50.0% |" in md
    assert "| Test reconstructions (decoded from mu) whose class is preserved | 87.5% | 50.0% |" in md
    assert "| Mean MIG (normalised by each factor's entropy; 0 = none, 1 = each factor in one dimension of its own) " \
           "| 0.300 | 0.400 |" in md
    assert "| Linear probe on the latent means, class (accuracy on the test set) | 0.950 | 0.950 |" in md
    assert "![modified: normalised MI of each latent dimension with each factor](figures/factors/modified.png)" in md


def test_a_third_variant_gets_its_own_column_and_the_paper_table_follows_the_roles():
    names = ["standard", "modified", "wide"]
    md = page(names=names)
    assert md.count("| Measure | standard | modified | wide |") == 3  # sounder, quality and factor tables
    assert "| Active latent units (Var of mu > 0.01) | 7 | 7 | 3 |" in md
    assert "| Rate = mean KL in bits (upper bound on I(X;Z)) | 17.30 | 17.30 | 4.25 |" in md
    assert "| Test reconstructions (decoded from mu) whose class is preserved | 87.5% | 50.0% | 62.5% |" in md
    assert "| MIG, size | 0.200 | 0.200 | 0.456 |" in md and "| 0.300 | 0.400 | 0.123 |" in md
    assert "| Linear probe on the latent means, size (R² on the test set) | 0.900 | 0.900 | 0.789 |" in md
    assert "figures/factors/wide.png" in md
    # no reference figures for a variant that stands for neither paper model
    assert "| wide | 1.0 | 2.0 | 3.0 | 4.0 |" in md
    assert "training seeds standard 1, modified 2, wide 3" in md

    roles = {"paper_standard": "wide", "paper_modified": "standard"}
    md = page(names=names, roles=roles)
    assert "| Standard VAE, test BCE (paper protocol): `wide` | 0.0346 | 0.0500 | 1.45 | – |" in md
    assert "| Modified VAE, test BCE (paper protocol): `standard` | 0.0968 | 0.0692 | 0.71 | – |" in md
    # `standard` has no noise, so no paper's bits: a dash, not another variant's figure
    assert "| Bits through the modified VAE's latent (paper's estimate): `standard` | 10.93 | – | – |" in md
    assert "`wide` and `standard` (params `report`)" in md
    # the reference's last epoch is shown beside the variants in those roles
    assert "| wide | 1.0 (ref. 25.0) |" in md and "| standard | 1.0 (ref. 95.5) |" in md
    assert "| modified | 1.0 | 2.0 | 3.0 | 4.0 |" in md
    # the sweep tables read the paper-modified variant's columns
    sweep = [{"experiment": "beta-2", "models.standard.beta": "2", "standard_rate_bits": "9.5", "bits_total": "3.0",
              "modified_rate_bits": "1.0"}]
    assert "| 2 | 9.50 | – | – | – | – | 3.00 | – | – |" in page(sweep=sweep, names=names, roles=roles)


def test_seed_error_bars_and_sweep_come_from_the_gathered_tables():
    seeds = [{"experiment": f"seed-{s}", "models.standard.seed": str(s), "standard_test_bce": str(b),
              "modified_test_bce": "0.1", "bits_total": str(t)}
             for s, b, t in ((1, 0.04, 10.0), (11, 0.05, 11.0), (21, 0.06, 12.0))]
    sweep = [{"experiment": "beta-2", "models.modified.beta": "2", "modified_rate_bits": "17.5", "modified_mi_bits": "8.5",
              "modified_recon_nats": "49.65", "modified_kl_nats": "12.1", "modified_test_bce": "0.0633",
              "bits_total": "12.6", "modified_active_units": "4", "modified_prior_confident_share": ""}]
    sigma = [{k.replace("beta", "noise_sigma"): v.replace("beta-2", "sigma-0.25") for k, v in sweep[0].items()}
             | {"models.modified.noise_sigma": "0.25"}]
    md = page(seeds, sweep, sigma)
    # mean and sample sd (ddof = 1) of 0.04, 0.05, 0.06 and of 10, 11, 12
    assert "| 0.0692 | 2.00 | 0.0500 ± 0.0100 |" in md and "| 12.0000 | 1.10 | 11.0000 ± 1.0000 |" in md
    assert "over the 3 runs of `sweeps/seeds.csv`" in md
    # beside ours, the reference code's own seed spread (docs/reference.md)
    assert "| 0.0500 ± 0.0100 | 0.0383 ± 0.0066 |" in md and "| 11.0000 ± 1.0000 | 10.73 ± 0.17 |" in md
    assert "ended at 28.8 ± 5.7 nats of train reconstruction" in md
    # the seed table is the beta sweep's point at the committed beta, whatever that is
    assert "gather 'beta-4.5-seed-*' --out sweeps/seeds.csv" in page(seeds, sweep, sigma, paper_beta=4.5)
    assert "| seed-11 | 11 | 0.0500 | 0.1000 | 11.0000 |" in md
    assert "| **mean ± sd** |  | 0.0500 ± 0.0100 | 0.1000 ± 0.0000 | 11.0000 ± 1.0000 |" in md
    assert "| 2 | 17.50 | 8.50 | 49.65 | 12.10 | 0.0633 | 12.60 | 4 | – |" in md
    two = sweep + [sweep[0] | {"models.modified.beta": "8", "modified_rate_bits": "3.5", "bits_total": "10.5"}]
    assert "rate, an upper bound on I(X;Z), spans 3.50 to 17.50 bits (5.0x); the paper's estimate spans 10.50 to 12.60 bits (1.2x)" in page(seeds, two)
    assert "| models.modified.noise_sigma | Rate" in md
    gap = [dict(seeds[0], bits_total="")] + seeds[1:]  # gather leaves a missing metric empty
    assert "| **mean ± sd** |  | 0.0500 ± 0.0100 | 0.1000 ± 0.0000 | 11.5000 ± 0.7071 |" in page(gap, sweep, sigma) and "| 0.25 | 17.50 | 8.50 |" in md


def test_a_sweep_over_seeds_is_one_line_per_point_with_mean_and_sd():
    row = lambda b, s, rate, units, share: {
        "experiment": f"beta-{b}-seed-{s}", "models.modified.beta": str(b), "models.standard.seed": str(s),
        "models.modified.seed": str(s + 1), "runtime.threads": "0", "modified_rate_bits": str(rate),
        "bits_total": "10.0", "modified_active_units": str(units), "modified_prior_confident_share": str(share)}
    sweep = [row(2, 1, 9.0, 4, 0.5), row(2, 11, 11.0, 5, 0.7), row(2, 21, 10.0, 6, 0.6), row(8, 1, 3.0, 2, 0.2)]
    md = page(sweep=sweep)
    assert "| models.modified.beta | Runs | Rate" in md  # the seeds and threads are the spread, not columns
    assert "| 2 | 3 | 10.00 ± 1.00 | – | – | – | – | 10.00 ± 0.00 | 5.0 ± 1.0 | 60.0% ± 10.0% |" in md
    assert "| 8 | 1 | 3.00 | – | – | – | – | 10.00 | 2 | 20.0% |" in md
    assert "Across these 2 points (means over their runs) the rate, an upper bound on I(X;Z), spans 3.00 to 10.00" in md
    # the factor measure against the model each run was fine-tuned from: a difference within each run's seeds
    for r, (mod, std) in zip(sweep, ((0.10, 0.20), (0.30, 0.35), (0.20, 0.30), (0.5, 0.1))):
        r |= {"modified_mig_mean": str(mod), "standard_mig_mean": str(std)}
    md = page(sweep=sweep, seeds=[sweep[0]])
    assert "| Mean MIG | Class probe accuracy | Mean MIG minus standard's (same seeds) |" in md
    assert "| 0.200 ± 0.100 | – | -0.083 ± 0.029 |" in md and "| 0.500 | – | 0.400 |" in md
    assert "| standard mean MIG | modified mean MIG |" in md and "| 0.2000 | 0.1000 |" in md  # the seed table


def test_factor_verdict_follows_the_roles_and_the_numbers():
    from shapes_vae.report import factor_verdict

    roles = {"paper_standard": "standard", "paper_modified": "modified"}
    f = {"standard": {"mig_mean": 0.066}, "modified": {"mig_mean": 0.034}}
    assert "`modified`'s code is less organised than `standard`'s (0.034 against 0.066)" in factor_verdict(f, roles)
    f["modified"]["mig_mean"] = 0.2
    assert "is more organised" in factor_verdict(f, roles)
    assert factor_verdict({"standard": {"mig_mean": None}, "modified": {"mig_mean": 0.1}}, roles) is None
