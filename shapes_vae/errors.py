"""Expected failures (bad params, damaged inputs) and the stage entry-point wrapper.

A stage raises PipelineError with a one-line message naming the setting or file at fault;
`run_stage` prints it as `error: ...` and exits 2 without a traceback. Set SHAPES_VAE_DEBUG=1
(or pass --debug) to see the traceback of an expected failure too.
"""
import argparse
import os
import sys


class PipelineError(Exception):
    """A failure the user can fix: bad params, a missing or damaged input file."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse for the `python -m shapes_vae.*` commands: --help prints usage and exits 0, a bad
    or unknown argument is one line on stderr and exit status 2."""

    def error(self, message):
        print(f"error: {self.prog}: {message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(2)


def where_the_log_is():
    """For a stage run by DVC's queue (in a temporary copy of the repository, DVC_ROOT naming the
    user's), where the user finds the run's whole output; empty otherwise."""
    name, root = os.environ.get("DVC_EXP_NAME"), os.environ.get("DVC_ROOT")
    if not name or not root or os.path.realpath(root) == os.path.realpath(os.getcwd()):
        return ""
    return f" (experiment {name}; its whole log: dvc queue logs {name})"


def run_stage(main, argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = os.environ.get("SHAPES_VAE_DEBUG", "") not in ("", "0") or "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    try:
        main(argv)
    except PipelineError as e:
        if debug:
            raise
        print(f"error: {e}{where_the_log_is()}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        sys.exit(130)
