import pytest

from conftest import ROOT
from shapes_vae.report import PAPER, results_markdown

NAMES = ["standard", "modified"]
ROLES = {"paper_standard": "standard", "paper_modified": "modified"}


def model_metrics(bce, confident=0.5, preserved=0.875, active=7):
    return {"test_bce": bce, "test_bce_mean_decode": bce / 2, "recon_nats": 30.0, "kl_nats": 12.0,
            "neg_elbo_nats": 42.0, "iwae_nll_nats": 40.5, "active_units": active, "prior_confident_share": confident,
            "prior_class_share_circle": 0.25, "prior_class_share_rectangle": 0.5, "prior_class_share_triangle": 0.25,
            "prior_class_kl_from_uniform_bits": 0.085, "recon_class_preserved": preserved}


def information(rate=17.3, noisy=None, paper=None, encoder=None):
    """A metrics/information/<variant>.json: the noisy-channel figures are left out without noise."""
    noisy = {"mi_noisy_channel_bits_estimate": noisy, "paper_bits_estimate": paper, "encoder_noise_channel_bits_estimate": encoder}
    return {"rate_bits_upper_bound": rate, "mi_bits_estimate": 10.1, **{k: v for k, v in noisy.items() if v is not None}}


def factor_json(mig_mean, mig_size=0.2, r2_size=0.9, channel=None):
    """A factors metrics file; the channel measure, when not given, at a tenth of the means' one."""
    channel = mig_mean / 10 if channel is None else channel
    return {"mig_mean": mig_mean,
            "mig_class": 0.1, "mig_size": mig_size, "mig_channel_mean": channel, "mig_channel_class": 0.01,
            "mig_channel_size": mig_size / 2, "probe_accuracy_class": 0.95, "probe_r2_size": r2_size}


METRICS = {"standard": model_metrics(0.0346 * 2), "modified": model_metrics(0.0968, 0.25, 0.5),
           "wide": model_metrics(0.05, 0.75, 0.625, active=3)}
INFO = {"standard": information(), "modified": information(paper=12.0, noisy=5.5, encoder=6.5),
        "wide": information(rate=4.25)}
FACTORS = {"standard": factor_json(0.3), "modified": factor_json(0.4), "wide": factor_json(0.123, 0.456, 0.789)}
FACTOR_NAMES = ["class", "size"]
# metrics/data.json: 2250 test images bound the I(X;Z) estimate at log2(2250) = 11.14 bits
DATA = {"images": 15000, "test_images": 2250, "distinct_images": 5674, "distinct_circle": 486, "test_with_train_copy_share": 0.672,
        "val_with_train_copy_share": 0.673, "test_nearest_train_pixels_median": 0.0, "train_nearest_other_train_pixels_median": 0.0}
SETTINGS = {"iwae_k": 20, "prior_samples": 2000, "confidence": 0.9}  # params.yaml evaluate


def page(seeds=(), sweep=(), sigma=(), names=NAMES, roles=ROLES, grouped=()):
    last = {m: {"train_recon": 1.0, "train_kl": 2.0, "val_recon": 3.0, "val_kl": 4.0} for m in names}
    classifier = {"test_accuracy": 0.9982, "test_accuracy_circle": 1.0, "test_accuracy_rectangle": 1.0, "test_accuracy_triangle": 0.9946}
    pick = lambda d: {n: d[n] for n in names}
    return results_markdown(list(names), pick(METRICS), pick(INFO), pick(FACTORS), last, classifier, seeds,
                            sweep, sigma, {n: i + 1 for i, n in enumerate(names)}, roles, DATA, SETTINGS, FACTOR_NAMES,
                            grouped=grouped)


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
    assert "recognises 99.82% of the test images (circle 100.00%, rectangle 100.00%, triangle 99.46%)" in md
    assert "| Predicted class of the prior samples, circle / rectangle / triangle | 25.0% / 50.0% / 25.0% |" in md
    # the share of test images without a copy in training: 1 - the data's 67.2% with one
    assert "| Share of the test images with no copy in training | 32.8% | 32.8% |" in md
    assert "(top probability >= 0.9), of 2000 | 50.0% | 25.0% |" in md
    assert '"Ours" is the committed run (training seeds standard 1, modified 2)' in md
    assert "| Test reconstructions (decoded from mu) whose class is preserved | 87.5% | 50.0% |" in md
    assert "| Mean MIG on the encoder means (the literature's; collapsed dimensions count) | 0.300 | 0.400 |" in md
    assert ("| Mean MIG through the channel (sampled z, plus the training noise; 0 = none, 1 = each factor in one "
            "dimension of its own) | 0.030 | 0.040 |") in md
    assert "| MIG through the channel, size | 0.100 | 0.100 |" in md
    assert "| Linear probe on the latent means, class (accuracy on the test set) | 0.950 | 0.950 |" in md
    assert ("![modified: normalised MI of each latent dimension with each factor, on the means and through the channel]"
            "(figures/factors/modified.png)") in md


def test_a_third_variant_gets_its_own_column_and_the_paper_table_follows_the_roles():
    names = ["standard", "modified", "wide"]
    md = page(names=names)
    assert md.count("| Measure | standard | modified | wide |") == 4  # copies, sounder, quality and factor tables
    assert "| Active latent units (Var of mu > 0.01) | 7 | 7 | 3 |" in md
    assert "| Rate = mean KL in bits (upper bound on I(X;Z)) | 17.30 | 17.30 | 4.25 |" in md
    assert "| Test reconstructions (decoded from mu) whose class is preserved | 87.5% | 50.0% | 62.5% |" in md
    assert "| MIG on the means, size | 0.200 | 0.200 | 0.456 |" in md and "| 0.300 | 0.400 | 0.123 |" in md
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
    assert '"Mean ± sd over our seeds" is over the 3 runs of `sweeps/seeds.csv`' in md
    # beside ours, the reference code's own seed spread (docs/reference.md)
    assert "| 0.0500 ± 0.0100 | 0.0383 ± 0.0066 |" in md and "| 11.0000 ± 1.0000 | 10.73 ± 0.17 |" in md
    assert "ended at 28.8 ± 5.7 nats of train reconstruction" in md
    assert "| seed-11 | 11 | 0.0500 | 0.1000 | 11.0000 |" in md
    assert "| **mean ± sd** |  | 0.0500 ± 0.0100 | 0.1000 ± 0.0000 | 11.0000 ± 1.0000 |" in md
    assert "| 2 | 17.50 | 8.50 | 49.65 | 12.10 | 0.0633 | 12.60 | 4 | – |" in md
    two = sweep + [sweep[0] | {"models.modified.beta": "8", "modified_rate_bits": "3.5", "bits_total": "10.5"}]
    assert ("Over the 2 points with a rate, the rate, an upper bound on I(X;Z), spans 3.50 to 17.50 bits (5.0x); over the "
            "2 points where it is defined, the paper's estimate spans 10.50 to 12.60 bits (1.2x).") in page(seeds, two)
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
    assert ("Over the 2 points with a rate (each point the mean over its runs), the rate, an upper bound on I(X;Z), "
            "spans 3.00 to 10.00") in md
    assert "`modified` at 2 points of `models.modified.beta`, 1 to 3 runs each (the Runs column)" in md
    # the factor measure against the model each run was fine-tuned from: a difference within each run's seeds
    for r, (mod, std) in zip(sweep, ((0.10, 0.20), (0.30, 0.35), (0.20, 0.30), (0.5, 0.1))):
        r |= {"modified_mig_mean": str(mod), "standard_mig_mean": str(std)}
    md = page(sweep=sweep, seeds=[sweep[0]])
    assert "| Mean MIG on the encoder means | Class probe accuracy | Mean MIG on the means minus standard's (same seeds) |" in md
    assert "| 0.200 ± 0.100 | – | -0.083 ± 0.029 |" in md and "| 0.500 | – | 0.400 |" in md
    assert "| standard mean MIG on the means | modified mean MIG on the means |" in md and "| – | – | 0.2000 | 0.1000 |" in md  # the seed table: no channel measure in these rows


def test_factor_verdict_follows_the_roles_and_the_numbers():
    from shapes_vae.report import factor_verdict

    roles = {"paper_standard": "standard", "paper_modified": "modified"}
    f = {"standard": {"mig_mean": 0.066}, "modified": {"mig_mean": 0.034}}
    assert ("By the mean MIG on the encoder means, `modified`'s code is less organised than `standard`'s in the "
            "committed run (0.034 against 0.066)") in factor_verdict(f, roles)
    f["modified"]["mig_mean"] = 0.2
    assert "is more organised" in factor_verdict(f, roles)
    # the channel measure, where both variants have it, decides
    f = {"standard": {"mig_mean": 0.066, "mig_channel_mean": 0.02}, "modified": {"mig_mean": 0.034, "mig_channel_mean": 0.05}}
    assert "By the mean MIG through the channel, `modified`'s code is more organised" in factor_verdict(f, roles)
    assert factor_verdict({"standard": {"mig_mean": None}, "modified": {"mig_mean": 0.1}}, roles) is None


# The cases that once made the page contradict its own tables: a seed spread present or absent, a
# sweep with a point where the paper's estimate is undefined, and tables of any number of columns.

def seed_runs(*pairs, params=("models.standard.seed",)):
    """Seed rows: (standard mean MIG through the channel, modified's) per run, with `params` columns."""
    return [{"experiment": f"seed-{i}", **{p: str(i) for p in params}, "standard_test_bce": "0.04",
             "modified_test_bce": "0.1", "bits_total": "10.0", "standard_mig_channel_mean": a, "modified_mig_channel_mean": b}
            for i, (a, b) in enumerate(pairs)]


def test_the_factor_verdict_states_the_seed_spread_only_when_the_seed_table_has_it():
    absent = page()
    assert "no mean MIG through the channel of both variants over two or more runs" in absent
    assert "No seed runs are gathered (`sweeps/seeds.csv` has no rows)" in absent
    # differences 0.1 - 0.3 = -0.2, 0.3 - 0.35 = -0.05, 0.4 - 0.3 = +0.1: mean -0.05, sd 0.15
    present = page(seed_runs(("0.3", "0.1"), ("0.35", "0.3"), ("0.3", "0.4")))
    assert "not shown" not in present and "not gathered" not in present
    assert ("Over the 3 runs of [Seeds](#seeds), `modified`'s mean MIG through the channel minus `standard`'s is -0.050 ± 0.150 "
            "(mean ± sample sd), lower in 2 of them.") in present
    # a run without the measure is left out of the count, not read as zero
    assert "Over the 2 runs of [Seeds](#seeds)" in page(seed_runs(("0.3", "0.1"), ("", "0.3"), ("0.3", "0.4")))
    one = page(seed_runs(("0.3", "0.1")))
    assert '"Mean ± sd over our seeds" is the one run of `sweeps/seeds.csv`' in one and "not shown here" in one


def table_after(md, heading):
    """The first Markdown table after a heading line that starts with `heading`: a list of rows of cells."""
    lines = md.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(heading))
    rows = []
    for line in lines[start + 1:]:
        if line.startswith("|"):
            rows.append([c.strip() for c in line.strip("|").split("|")])
        elif rows:
            break
    return rows


def test_the_prose_names_the_columns_its_tables_have_whatever_their_number():
    for params in ((), ("models.standard.seed",), ("models.standard.seed", "models.modified.seed", "models.modified.beta")):
        seeds = seed_runs(("0.3", "0.1"), ("0.35", "0.3"), params=params)
        md = page(seeds)
        paper = table_after(md, "## [The paper's three figures]")
        quoted = [h for h in ("Mean ± sd over our seeds", "The reference's code, 6 seeds") if f'"{h}"' in md]
        assert len(quoted) == 2 and all(h in paper[0] for h in quoted)
        assert "last column" not in md.lower()
        seed_table = table_after(md, "## [Seeds]")
        assert seed_table[0][1:1 + len(params)] == list(params)
        assert all(len(row) == len(seed_table[0]) for row in seed_table)  # the mean row too
        assert seed_table[-1][0] == "**mean ± sd**" and seed_table[-1][1 + len(params)] == "0.0400 ± 0.0000"


def sigma_rows():
    """A sigma sweep of four points, the paper's estimate undefined at sigma 0 (no latent noise)."""
    bits = {"0": "", "0.25": "17.3", "0.5": "10.7", "1": "5.4"}
    rates = {"0": "7.28", "0.25": "6.58", "0.5": "6.47", "1": "6.37"}
    return [{"experiment": f"sigma-{s}", "baseline": "abc1234", "models.modified.noise_sigma": s,
             "modified_test_bce": "0.1", "bits_total": b, "modified_rate_bits": rates[s]} for s, b in bits.items()]


def test_a_sweep_with_a_null_point_counts_its_points_as_its_table_shows_them():
    md = page(sigma=sigma_rows())
    table = table_after(md, "## [Rate and distortion as the noise sigma moves]")
    assert len(table) - 2 == 4 and table[2][0] == "0" and table[2][6] == "–"  # header, rule, four points
    assert "`modified` at 4 points of `models.modified.noise_sigma`, one run each;" in md
    summary = next(line for line in md.splitlines() if line.startswith("Over the 4 points with a rate"))
    assert "spans 6.37 to 7.28 bits (1.1x)" in summary
    assert "over the 3 points where it is defined (undefined at models.modified.noise_sigma 0" in summary
    assert "spans 5.40 to 17.30 bits (3.2x)" in summary
    assert "mean over its runs" not in summary  # every point is one run
    # the text names the sweep by its files, with no recipe that could disagree with the table
    assert "`sweeps/sigma.csv`" in md and "`sweeps/sigma.txt`" in md and "beta-10-seed-1" not in md
    mixed = sigma_rows()
    mixed[2]["baseline"] = "def5678"
    assert "these rows come from 2 different commits" in page(sigma=mixed)
    assert "different commits" not in md


def test_a_sweep_whose_paper_estimate_is_defined_at_one_point_only_says_so():
    rows = sigma_rows()
    for r in rows[1:3]:
        r["bits_total"] = ""
    md = page(sigma=rows)
    assert "the paper's estimate is defined at fewer than two points" in md


def test_every_results_heading_links_to_its_glossary_section():
    from shapes_vae.report import GLOSSARY

    md = page(seed_runs(("0.3", "0.1"), ("0.35", "0.3")), sigma=sigma_rows())
    headings = [line for line in md.splitlines() if line.startswith("## ")]
    assert len(headings) == 10
    glossary = (ROOT / GLOSSARY).read_text()
    anchors = {"-".join("".join(c for c in line[2:].strip().lower() if c.isalnum() or c in " -").split())
               for line in glossary.splitlines() if line.startswith("#")}
    for h in headings:
        assert h.startswith("## [") and h.endswith(")"), h  # the heading's text is the link
        link = h.split(f"]({GLOSSARY}#")
        assert len(link) == 2, h
        assert link[1][:-1] in anchors, h


def test_the_readme_headline_is_spliced_between_its_markers_and_nothing_else_moves():
    from shapes_vae.errors import PipelineError
    from shapes_vae.report import HEADLINE_END, HEADLINE_START, headline_markdown, splice_headline

    table = headline_markdown(METRICS, INFO, ROLES, seed_runs(("0.3", "0.1"), ("0.35", "0.3")), {"standard": 1})
    assert table[0] == "| Figure | Paper | Ours | Mean ± sd over our seeds | The reference's code, 6 seeds |"
    assert table[2] == "| Standard VAE, test BCE (paper protocol): `standard` | 0.0346 | 0.0692 | 0.0400 ± 0.0000 | 0.0383 ± 0.0066 |"
    readme = f"# Title\n\nbefore\n{HEADLINE_START}\nan old table\n{HEADLINE_END}\nafter\n"
    out = splice_headline(readme, table)
    assert out.startswith("# Title\n\nbefore\n" + HEADLINE_START + "\n| Figure |") and out.endswith(HEADLINE_END + "\nafter\n")
    assert "an old table" not in out and splice_headline(out, table) == out  # rerunning changes nothing
    for broken in ("no markers\n", f"{HEADLINE_END}\n{HEADLINE_START}\n", f"{HEADLINE_START}\n{HEADLINE_START}\n{HEADLINE_END}\n"):
        with pytest.raises(PipelineError, match="README.md"):
            splice_headline(broken, table)


def test_the_stage_reads_an_empty_csv_cell_as_missing_not_as_zero(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("report_stage", ROOT / "stages/report.py")
    stage = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(stage)
    (tmp_path / "s.csv").write_text("experiment,bits_total,modified_test_bce\nsigma-0,,0.07\nsigma-1,5.4,0.13\n")
    table = stage.gathered(tmp_path / "s.csv", ROLES)
    assert list(table["bits_total"]) == ["", "5.4"] and list(table["experiment"]) == ["sigma-0", "sigma-1"]
    md = page(sigma=table)
    assert "| 0 |" not in md and "| sigma-0 |" not in md  # no point column: one group, the sweep itself
    (tmp_path / "empty.csv").write_text("")
    assert stage.gathered(tmp_path / "empty.csv", ROLES).empty
    (tmp_path / "bad.csv").write_text("experiment,other\nx,1\n")
    with pytest.raises(Exception, match="no 'modified_test_bce' column"):
        stage.gathered(tmp_path / "bad.csv", ROLES)


def test_the_grouped_split_section_sets_the_experiment_beside_the_committed_run():
    grouped = [{"experiment": "grouped-copies", "baseline": "abc1234", "split.group_copies": "True",
                "standard_test_bce": "0.0612", "modified_test_bce": "0.1234", "bits_total": "10.5"}]
    md = page(grouped=grouped)
    assert "| Standard VAE, test BCE (paper protocol): `standard` | 0.0346 | 0.0692 | 0.0612 |" in md
    assert "| Bits through the modified VAE's latent (paper's estimate): `modified` | 10.93 | 12.0000 | 10.5000 |" in md
    assert "(1 run of `sweeps/grouped.txt`" in md
    assert "no run of `sweeps/grouped.txt` in `sweeps/grouped.csv` yet" in page()
