"""Expected failures (bad params, damaged inputs) and the stage entry-point wrapper.

A stage raises PipelineError with a one-line message naming the setting or file at fault;
`run_stage` prints it as `error: ...` and exits 2 without a traceback. Set SHAPES_VAE_DEBUG=1
(or pass --debug) to see the traceback of an expected failure too.
"""
import os
import sys


class PipelineError(Exception):
    """A failure the user can fix: bad params, a missing or damaged input file."""


def run_stage(main, argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = os.environ.get("SHAPES_VAE_DEBUG", "") not in ("", "0") or "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    try:
        main(argv)
    except PipelineError as e:
        if debug:
            raise
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        sys.exit(130)
