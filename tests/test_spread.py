from shapes_vae.spread import group_points, mean_sd, repeats_a_point


def test_seeds_and_runtime_settings_repeat_a_point_other_params_define_one():
    assert repeats_a_point("models.standard.seed") and repeats_a_point("runtime.threads")
    assert not repeats_a_point("models.modified.beta") and not repeats_a_point("architecture.latent_dim")
    assert not repeats_a_point("runtime.train_precision")  # bfloat16 training is another configuration


def test_group_points_keeps_first_seen_order_and_every_member():
    rows = [{"b": 2, "models.m.seed": 1}, {"b": 10, "models.m.seed": 1}, {"b": 2, "models.m.seed": 11}]
    points = group_points(rows, ["b", "models.m.seed"])
    assert [p for p, _ in points] == [{"b": 2}, {"b": 10}]
    assert [len(m) for _, m in points] == [2, 1] and points[0][1][1] is rows[2]


def test_mean_sd_skips_empty_cells():
    assert mean_sd([]) == (None, None) and mean_sd(["", None]) == (None, None) and mean_sd([2.0, ""]) == (2.0, None)
    m, sd = mean_sd(["1", 2.0, 3.0, 4.0, None])
    assert m == 2.5 and abs(sd - 1.2909944487358056) < 1e-12
