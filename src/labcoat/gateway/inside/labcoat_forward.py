"""Start an experiment program with plain-HTTP access to labcoat's gateway (standard library only).

    python labcoat_forward.py PROGRAM.py [ARGS...]

Listens on 127.0.0.1 (inside the sandbox that is the sandbox's own network
namespace, reachable by nothing else), sets OPENAI_BASE_URL and
ANTHROPIC_BASE_URL to it, forks a forwarder that passes each connection on to
the gateway's Unix socket, and replaces itself with the program. So any HTTP
client, the OpenAI and Anthropic SDKs, httpx, requests or curl, reaches the
gateway with no transport of its own; the forwarder adds one local hop (two
threads per connection, blocking reads: one wake-up per chunk).
"""

import os
import socket
import sys
import threading
import time


def _pump(src, dst):
    try:
        while True:
            chunk = src.recv(1 << 16)
            if not chunk:
                break
            dst.sendall(chunk)
    except OSError:
        pass
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _watch(parent):
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)


def serve(listener, target, parent):
    threading.Thread(target=_watch, args=(parent,), daemon=True).start()
    while True:
        client, _addr = listener.accept()
        upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            upstream.connect(target)
        except OSError:
            client.close()
            upstream.close()
            continue
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for a, b in ((client, upstream), (upstream, client)):
            threading.Thread(target=_pump, args=(a, b), daemon=True).start()


def main():
    target = os.environ["LABCOAT_GATEWAY_SOCKET"]
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    base = "http://127.0.0.1:%d" % listener.getsockname()[1]
    os.environ["LABCOAT_GATEWAY_URL"] = base
    os.environ["OPENAI_BASE_URL"] = base + "/v1"
    os.environ["ANTHROPIC_BASE_URL"] = base
    parent = os.getpid()
    try:
        child = os.fork()
    except OSError:
        # No process to spare (sandbox.max_processes): the program still reaches the gateway through
        # labcoat_lab and the socket, only plain HTTP clients go without.
        listener.close()
        for name in ("LABCOAT_GATEWAY_URL", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL"):
            os.environ.pop(name, None)
        child = -1
    if child == 0:
        # The forwarder holds none of the program's output pipes, so their readers see the end when it ends.
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        try:
            serve(listener, target, parent)
        finally:
            os._exit(0)
    if child > 0:
        listener.close()
    os.execv(sys.executable, [sys.executable, *sys.argv[1:]])


if __name__ == "__main__":
    main()
