"""Repeated runs of one configuration: which params only repeat a point of a sweep (the training
seeds, the runtime settings that run the same computation), the sweep's points, and their mean
and sample standard deviation, on pandas.

A sweep queued over beta and three seeds has 18 experiments and 6 points; each point's spread is
what the seeds (and any runtime setting that changes the last bits, such as the thread count)
make of the same configuration."""
import math

import pandas as pd

# runtime settings that run the same computation another way (at most the last bits move);
# runtime.train_precision is left out: bfloat16 training is another configuration
SAME_COMPUTATION = {"runtime.device", "runtime.backend", "runtime.threads", "runtime.progress", "runtime.resume_every"}


def repeats_a_point(key):
    """Whether a param key path only repeats a configuration rather than defining another one:
    a seed, or a runtime setting of SAME_COMPUTATION."""
    return key.endswith(".seed") or key in SAME_COMPUTATION


def _none(v):
    return None if isinstance(v, float) and math.isnan(v) else v


def group_points(rows, params):
    """[(point, members)]: rows (dicts) grouped by their values of `params` that define a point
    (repeats_a_point is false), in the order each point first appears. point: {param: value}
    as the point's first row holds it."""
    rows = list(rows)
    keys = [p for p in params if not repeats_a_point(p)]
    if not rows or not keys:
        return [({}, rows)] if rows else []
    frame = pd.DataFrame([[r.get(k) for k in keys] for r in rows], columns=keys, dtype=object)
    groups = frame.groupby(keys, sort=False, dropna=False).indices
    members = sorted(([rows[i] for i in at] for at in groups.values()), key=lambda m: rows.index(m[0]))
    return [({k: m[0].get(k) for k in keys}, m) for m in members]


def mean_sd(values):
    """(mean, sample standard deviation with ddof = 1) of the values that are not None or "";
    (None, None) for none, sd None for one."""
    s = pd.to_numeric(pd.Series([v for v in values if v not in (None, "")], dtype=object)).astype(float)
    if s.empty:
        return None, None
    return float(s.mean()), _none(float(s.std(ddof=1))) if len(s) > 1 else None


def point_spread(df, keys, columns):
    """One row per point of the table `df` (points: the values of `keys`, in the order they
    first appear): the keys, for each of `columns` its mean and `<column>_sd` (sample sd, ddof 1)
    over the point's rows that have a value (None where none or, for the sd, one has), and `runs`,
    the point's number of rows."""
    values = df[columns].apply(pd.to_numeric, errors="coerce").astype(float)
    grouped = values.groupby([df[k] for k in keys], sort=False, dropna=False)
    out = grouped.mean().join(grouped.std(ddof=1).add_suffix("_sd"))
    out["runs"] = grouped.size()
    out = out.reset_index().astype(object)
    return out.where(out.notna(), None)
