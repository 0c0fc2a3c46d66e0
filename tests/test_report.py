from shapes_vae.report import PAPER, results_markdown


def test_results_table_is_written_from_the_metrics():
    def model_metrics(bce):
        return {"test_bce": bce, "test_bce_mean_decode": bce / 2, "recon_nats": 30.0, "kl_nats": 12.0,
                "neg_elbo_nats": 42.0, "iwae_nll_nats": 40.5, "iwae_k": 20, "active_units": 7}

    channel = {"rate_bits_upper_bound": 17.3, "mi_bits_estimate": 10.1}
    info = {"bits_total": 12.0, "mi_ceiling_bits": 11.14, "standard": channel,
            "modified": channel | {"mi_noisy_channel_bits_estimate": 5.5, "encoder_noise_channel_bits_estimate": 6.5}}
    last = {m: {"train_recon": 1.0, "train_kl": 2.0, "val_recon": 3.0, "val_kl": 4.0} for m in ("standard", "modified")}
    md = results_markdown({"standard": model_metrics(0.0346 * 2), "modified": model_metrics(0.0968)}, info, last)
    assert f"| Standard VAE, test BCE (paper protocol) | {PAPER['standard_test_bce']} | 0.0692 | 2.00 |" in md
    assert "| Modified VAE, test BCE (paper protocol) | 0.0968 | 0.0968 | 1.00 |" in md
    assert "| 10.93 | 12.0000 | 1.10 |" in md
    assert "K = 20" in md and "at most 11.14" in md and "| 5.50 |" in md
    assert "| standard | 1.0 (ref. 25.0) | 2.0 (ref. 12.3) | 3.0 (ref. 27.3) | 4.0 (ref. 12.2) |" in md
