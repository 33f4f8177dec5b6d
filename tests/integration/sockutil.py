"""Socket helpers for snippets that run inside a test's network namespace."""
import errno
import json
import socket
import sys


def say(**kw):
    print(json.dumps(kw), flush=True)


def wait_go():
    """Blocks until the orchestrator writes a line to our stdin (or closes it)."""
    sys.stdin.readline()


def make_socket(family=socket.AF_INET, reuseaddr=False, reuseport=False, v6only=None,
                proto=socket.SOCK_STREAM):
    s = socket.socket(family, proto)
    if reuseaddr:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuseport:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    if v6only is not None:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1 if v6only else 0)
    return s


def listener(port, addr="127.0.0.1", family=socket.AF_INET, reuseaddr=True, reuseport=False,
             v6only=None, backlog=128, proto=socket.SOCK_STREAM):
    s = make_socket(family, reuseaddr, reuseport, v6only, proto)
    s.bind((addr, port))
    if proto == socket.SOCK_STREAM and backlog:
        s.listen(backlog)
    return s


def try_bind(port, addr="127.0.0.1", family=socket.AF_INET, reuseaddr=False, reuseport=False,
             listen=False, v6only=None, proto=socket.SOCK_STREAM):
    """bind (and listen); returns (socket or None, errno name or None)."""
    s = make_socket(family, reuseaddr, reuseport, v6only, proto)
    try:
        s.bind((addr, port))
        if listen:
            s.listen(16)
        return s, None
    except OSError as e:
        s.close()
        return None, errno.errorcode.get(e.errno, str(e.errno))
