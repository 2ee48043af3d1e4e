"""A stand-in for an operator's pipeline, driven by its first argument (tests/engine/test_command_runner.py).

  echo                       print {"stdin": <product read from stdin>, "env": {...}, "argv": [...]}
  fail CODE [LINE...]        write each LINE to stderr, exit CODE
  die LINE                   write LINE to stderr, then SIGKILL itself
  print TEXT                 print TEXT on stdout, exit 0
  phases NAME...             INDEXLAB_PHASE NAME on stderr for each, then an outcome
  stderr N                   N numbered stderr lines, then an outcome
  chatty BYTES               BYTES of stderr lines and an outcome holding BYTES of text on stdout
  sleep MARKER               touch MARKER, then sleep (until killed)
  background DIR             start a grandchild (writes DIR/grandchild.pid), wait for its pid, exit 0
  stubborn DIR               ignore SIGTERM, start a grandchild that ignores it too; each writes its
                             pid to DIR/child.pid or DIR/grandchild.pid; then both sleep
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

IDLE_SECONDS = 60  # a job that sleeps until killed
POLL_SECONDS = 0.01  # how often a job looks for its grandchild's pid file


def _outcome(**extra):
    print(json.dumps({"fields": {}, "coverage": 1.0, **extra}))


def _sleep_forever():
    while True:
        time.sleep(IDLE_SECONDS)


def _write_pid(path):
    tmp = Path(f"{path}.tmp")
    tmp.write_text(str(os.getpid()))
    tmp.rename(path)  # readers never see a half-written pid


def main(mode, *args):
    if mode == "echo":
        env = {k: v for k, v in os.environ.items() if k.startswith("INDEXLAB_")}
        print(json.dumps({"stdin": json.loads(sys.stdin.read()), "env": env, "argv": list(args)}))
    elif mode == "fail":
        for line in args[1:]:
            print(line, file=sys.stderr)
        sys.exit(int(args[0]))
    elif mode == "die":
        print(args[0], file=sys.stderr, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    elif mode == "print":
        sys.stdout.write(args[0])
    elif mode == "phases":
        for name in args:
            print(f"INDEXLAB_PHASE {name}", file=sys.stderr, flush=True)
        _outcome()
    elif mode == "stderr":
        for i in range(int(args[0])):
            print(f"line {i}", file=sys.stderr)
        _outcome()
    elif mode == "chatty":
        size = int(args[0])
        sys.stderr.write(("x" * 99 + "\n") * (size // 100))
        sys.stderr.flush()
        _outcome(blob="y" * size)
    elif mode == "sleep":
        Path(args[0]).touch()
        _sleep_forever()
    elif mode == "background":
        subprocess.Popen([sys.executable, __file__, "grandchild", args[0]])
        pid_file = Path(args[0]) / "grandchild.pid"
        while not pid_file.exists():
            time.sleep(POLL_SECONDS)
        _outcome(background=True)
    elif mode == "stubborn":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # inherited by the grandchild through exec
        subprocess.Popen([sys.executable, __file__, "grandchild", args[0]])
        _write_pid(Path(args[0]) / "child.pid")
        _sleep_forever()
    elif mode == "grandchild":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        _write_pid(Path(args[0]) / "grandchild.pid")
        _sleep_forever()
    else:
        sys.exit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(*sys.argv[1:])
