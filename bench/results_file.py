"""One benchmark result as a file of bench/results/: the machine it ran on, the date, and rows of
(measure, value, unit), from which tools/performance_page.py writes docs/performance.md.

    {"title": str, "date": "YYYY-MM-DD", "machine": {"cpu": str, "isa": str, "cores": int},
     "rows": [{"measure": str, "value": number, "unit": str}, ...], "notes": str}
"""
import datetime
import json
import os
import platform
from pathlib import Path


def machine(isa=None):
    """The CPU model (from /proc/cpuinfo where there is one), its widest vector instruction set
    that matters to oneDNN here (or `isa`, what the kernels reported when capped below it), and the
    number of cores this process may use."""
    cpu, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and cpu == (platform.processor() or platform.machine()):
                cpu = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = set(value.split())
    except OSError:
        pass
    isa = isa or ("AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "other")
    return {"cpu": cpu, "isa": isa, "cores": os.cpu_count()}


def timing_arguments(doc, runs=7):
    """The command line of a timing script: --runs, --json-out (a bench/results file) and --notes."""
    import argparse

    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--runs", type=int, default=runs)
    ap.add_argument("--json-out", help="also write the result as a bench/results JSON file here")
    ap.add_argument("--notes", default="", help="a sentence on the conditions, added to the file's notes")
    return ap


def write_result(path, title, rows, notes="", isa=None):
    """rows: [(measure, value, unit)]; writes the JSON file and returns its object. isa: the
    instruction set the measured kernels ran with, where it is not simply the CPU's."""
    obj = {"title": title, "date": datetime.date.today().isoformat(), "machine": machine(isa),
           "rows": [{"measure": m, "value": v, "unit": u} for m, v, u in rows], "notes": notes}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2) + "\n")
    return obj
