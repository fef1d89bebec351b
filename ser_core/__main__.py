import os
import sys

from ser_core.cli import main

rc = main()
if rc == 130:
    # Interrupted (Ctrl-C, or SIGTERM from `jobs cancel`): the command has already closed its
    # run folder and printed why. Skip the interpreter's teardown: after an interrupt that
    # broke off training, tearing down torch's native state crashed now and then (glibc
    # "corrupted size vs. prev_size", an abort or an exit by SIGINT instead of 130, seen in
    # the job cancel test about 1 run in 3-5).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(rc)
raise SystemExit(rc)
