"""The process infra/deploy.sh starts for each fake `az`, `sqlcmd`, `func`, `curl` and `company-activity` call: it
hands the call to the fake tool server of this deployment run (fake_azure_cli.py --serve, one process per run) and
prints what the server answers, with its exit code.

Why a client and a server: a deployment makes about 60 tool calls, and a Python process that imports the fake cloud
costs about 90 ms; this client runs with `python -I -S` in about 10 ms. It imports only built-in modules (`json`
and `socket` would double that): calls travel in `marshal`, the interpreter's own format, which the server reads
with the same interpreter. What only this process can see travels with the call: its environment, its working
directory, the text of a `/dev/fd/N` argument (a process substitution such as `--file <(printf ...)`) and, for
`curl --header @-`, its standard input.
"""

import _socket
import marshal
import os
import sys


def main() -> int:
    argv = sys.argv[1:]
    call = {"tool": os.environ["FAKE_TOOL"], "argv": argv, "env": dict(os.environ), "cwd": os.getcwd()}
    call["files"] = {a: _read(a) for a in argv if a.startswith("/dev/fd/")}
    if "@-" in argv:  # curl reads a header from stdin; other tools never read it (a loop's input stays untouched)
        call["stdin"] = sys.stdin.read()
    server = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        server.connect(os.environ["FAKE_AZ_SOCKET"])
        server.sendall(marshal.dumps(call))
        server.shutdown(_socket.SHUT_WR)
        answer = marshal.loads(receive(server))
    finally:
        server.close()
    sys.stdout.write(answer["stdout"])
    sys.stderr.write(answer["stderr"])
    return int(answer["code"])


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as file:
        return file.read()


def receive(connection: "_socket.socket") -> bytes:
    """Everything the other end sends until it shuts down its side."""
    chunks = []
    while chunk := connection.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


if __name__ == "__main__":
    sys.exit(main())
