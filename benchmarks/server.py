"""A moto server in a child process, with a seeding channel on stdin.

`python -m benchmarks.server` starts moto's threaded server on a free loopback
port, prints the port, then runs one seeding command (a JSON line, see
`benchmarks.seed`) per input line and answers with a JSON line. Running moto
in its own process keeps its allocations out of the memory the benchmarks
measure on the handler's side.
"""

from __future__ import annotations

import json
import logging
import os
import sys

from benchmarks.deploy import FAKE_AWS


def main() -> None:
    os.environ.update(FAKE_AWS)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    from moto.server import ThreadedMotoServer

    from benchmarks import seed
    from benchmarks.motofast import faster_moto
    from consentry.local import free_port

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    print(port, flush=True)
    try:
        with faster_moto():
            for line in sys.stdin:
                try:
                    answer = {"ok": seed.apply(json.loads(line))}
                except Exception as err:  # reported to the parent, which raises
                    answer = {"error": f"{type(err).__name__}: {err}"}
                print(json.dumps(answer), flush=True)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
