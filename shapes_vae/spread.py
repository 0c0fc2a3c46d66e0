"""Repeated runs of one configuration: which params only repeat a point of a sweep (the training
seeds, the runtime settings that run the same computation), the sweep's points, and their mean
and sample standard deviation.

A sweep queued over beta and three seeds has 18 experiments and 6 points; each point's spread is
what the seeds (and any runtime setting that changes the last bits, such as the thread count)
make of the same configuration."""
import math


# runtime settings that run the same computation another way (at most the last bits move);
# runtime.train_precision is left out: bfloat16 training is another configuration
SAME_COMPUTATION = {"runtime.device", "runtime.backend", "runtime.threads", "runtime.progress", "runtime.resume_every"}


def repeats_a_point(key):
    """Whether a param key path only repeats a configuration rather than defining another one:
    a seed, or a runtime setting of SAME_COMPUTATION."""
    return key.endswith(".seed") or key in SAME_COMPUTATION


def group_points(rows, params):
    """[(point, members)]: rows (dicts) grouped by their values of `params` that define a point
    (repeats_a_point is false), in the order each point first appears. point: {param: value}."""
    keys = [p for p in params if not repeats_a_point(p)]
    points = {}
    for r in rows:
        point = tuple(r.get(k) for k in keys)
        points.setdefault(point, []).append(r)
    return [(dict(zip(keys, point)), members) for point, members in points.items()]


def mean_sd(values):
    """(mean, sample standard deviation with ddof = 1) of the values that are not None or "";
    (None, None) for none, sd None for one."""
    values = [float(v) for v in values if v not in (None, "")]
    if not values:
        return None, None
    m = sum(values) / len(values)
    if len(values) < 2:
        return m, None
    return m, math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1))
