"""Start an experiment program with plain-HTTP access to labcoat's gateway (standard library only).

    python labcoat_forward.py PROGRAM.py [ARGS...]

Listens on 127.0.0.1 (inside the sandbox that is the sandbox's own network
namespace, reachable by nothing else), sets OPENAI_BASE_URL and
ANTHROPIC_BASE_URL to it, forks a forwarder that passes each connection on to
the gateway's Unix socket, and replaces itself with the program. So any HTTP
client, the OpenAI and Anthropic SDKs, httpx, requests or curl, reaches the
gateway with no transport of its own; the forwarder adds one local hop.
"""

import os
import selectors
import socket
import sys


def _pair(sel, client, target):
    upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        upstream.connect(target)
    except OSError:
        client.close()
        upstream.close()
        return
    client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sel.register(client, selectors.EVENT_READ, upstream)
    sel.register(upstream, selectors.EVENT_READ, client)


def _drop(sel, sock):
    for s in (sock, sel.get_key(sock).data):
        try:
            sel.unregister(s)
        except (KeyError, ValueError):
            pass
        s.close()


def serve(listener, target, parent):
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ, None)
    while os.getppid() == parent:
        for key, _ in sel.select(timeout=1.0):
            if key.data is None:
                client, _addr = listener.accept()
                _pair(sel, client, target)
                continue
            sock, peer = key.fileobj, key.data
            try:
                chunk = sock.recv(1 << 16)
                if chunk:
                    peer.sendall(chunk)
                    continue
            except OSError:
                pass
            _drop(sel, sock)


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
    if os.fork() == 0:
        # The forwarder holds none of the program's output pipes, so their readers see the end when it ends.
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        try:
            serve(listener, target, parent)
        finally:
            os._exit(0)
    listener.close()
    os.execv(sys.executable, [sys.executable, *sys.argv[1:]])


if __name__ == "__main__":
    main()
