from shapes_vae.verify import compare


def lock(**hashes):
    return {"stages": {"s": {"outs": [{"path": p, "md5": h} for p, h in hashes.items()]}}}


METRICS = {"metrics/standard.json": {"test_bce": 0.0350, "active_units": 8},
           "metrics/information.json": {"bits_total": 10.9, "bits_per_dim": [1.2, 1.4]}}


def test_identical_hashes():
    assert compare(lock(a="1", b="2"), lock(a="1", b="2"), METRICS, METRICS)[0] == "IDENTICAL"


def test_small_float_differences_are_within_tolerance():
    new = {"metrics/standard.json": {"test_bce": 0.03502, "active_units": 8},
           "metrics/information.json": {"bits_total": 10.91, "bits_per_dim": [1.2, 1.401]}}
    verdict, lines = compare(lock(a="1"), lock(a="9"), METRICS, new)
    assert verdict == "WITHIN TOLERANCE" and any("test_bce" in line for line in lines)


def test_a_moved_metric_is_different():
    new = {"metrics/standard.json": {"test_bce": 0.05, "active_units": 8},
           "metrics/information.json": METRICS["metrics/information.json"]}
    assert compare(lock(a="1"), lock(a="9"), METRICS, new)[0] == "DIFFERENT"
    missing = {"metrics/standard.json": {"active_units": 8}, "metrics/information.json": {}}
    assert compare(lock(a="1"), lock(a="9"), METRICS, missing)[0] == "DIFFERENT"
