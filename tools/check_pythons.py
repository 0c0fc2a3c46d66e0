"""Does every pinned dependency publish a wheel for the lowest and the highest Python that
pyproject.toml's requires-python names? Asks the package index for each pin, for each of the two
versions (`pip install --dry-run --no-deps --only-binary=:all: --python-version X`: the index's
metadata only, no wheel is downloaded), on this machine's platform or the one named.

    python tools/check_pythons.py [--platform manylinux_2_28_x86_64]

Prints one line per version and pin; exits 1 when any pin has no wheel for a version.
"""
import argparse
import re
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def python_range(requires):
    """(lowest, highest) minor versions of a requires-python of the form '>=3.A,<3.B'."""
    low = re.search(r">=\s*3\.(\d+)", requires)
    high = re.search(r"<\s*3\.(\d+)", requires)
    if not (low and high):
        raise SystemExit(f"requires-python {requires!r}: expected '>=3.A,<3.B'")
    return f"3.{low.group(1)}", f"3.{int(high.group(1)) - 1}"


def pins(project):
    """Every exactly pinned requirement: the dependencies and every optional group."""
    reqs = list(project["dependencies"])
    for group in project.get("optional-dependencies", {}).values():
        reqs += group
    return [r for r in reqs if "==" in r]


def has_wheel(pin, version, platform):
    with tempfile.TemporaryDirectory() as target:
        cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--ignore-installed", "--no-deps",
               "--only-binary=:all:", "--python-version", version, "--target", target, pin]
        if platform:
            cmd[-1:-1] = ["--platform", platform]
        r = subprocess.run(cmd, capture_output=True, text=True)
    return r.returncode == 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--platform", help="a wheel platform tag (default: this machine's)")
    args = ap.parse_args()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    missing = []
    for version in python_range(project["requires-python"]):
        for pin in pins(project):
            ok = has_wheel(pin, version, args.platform)
            print(f"Python {version}  {pin:<28} {'wheel found' if ok else 'NO WHEEL'}", flush=True)
            missing += [] if ok else [f"{pin} on Python {version}"]
    if missing:
        print("error: no wheel for " + "; ".join(missing), file=sys.stderr)
        sys.exit(1)
    print("every pin has a wheel for the lowest and the highest Python of requires-python")


if __name__ == "__main__":
    main()
