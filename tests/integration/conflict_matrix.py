"""The bind conflict matrix: every pair of an existing socket and a new bind or listen.

Shared by test_matrix.py (which runs batches in fresh namespaces and checks the agent) and by
the worker it starts inside each namespace (python3 conflict_matrix.py FIRST LAST). The kernel
decides which pairs fail; nothing here predicts it.

A worker line per pair: {"i", "port", "setup" and "setup_call" (errno name and call if the
holder could not be made),
"bind", "listen" (errno names or null), "holder" (what the holder is: state, addresses, options);
when the new socket got the port, "new" (its address) and "third" (errno of a third socket made
like the new one but without SO_REUSEADDR/SO_REUSEPORT, which the new one always refuses)}.
"""
import ctypes
import errno
import itertools
import json
import os
import socket
import sys

KINDS = ("tcp_listen", "tcp_bound", "tcp_conn", "tcp_tw", "udp")
ADDRS = ("0.0.0.0", "127.0.0.1", "::", "::/v6only", "::1", "::ffff:127.0.0.1", "::ffff:0.0.0.0")
FLAGS = (False, True)
UIDS = (0, 1000)
DEVS = ("", "lo", "v0")  # v0: one end of a veth pair in the namespace, with no address
BASE_PORT = 10000
PEER_PORT4, PEER_PORT6 = 9000, 9001
TCP_CLOSE = 7
SO_BINDTODEVICE = getattr(socket, "SO_BINDTODEVICE", 25)
SO_BINDTOIFINDEX = 62
_libc = ctypes.CDLL(None, use_errno=True)


def holders():
    """A connection through v0 would wait for a peer that is not there: none is made.
    TWSCOPE_MATRIX_EVERY=N keeps every Nth holder with all its pairs (a slow emulated kernel)."""
    every = int(os.environ.get("TWSCOPE_MATRIX_EVERY", "1"))
    return [h for h in itertools.product(KINDS, ADDRS, FLAGS, FLAGS, UIDS, DEVS)
            if not (h[0] in ("tcp_conn", "tcp_tw") and h[5] == "v0")][::every]


def news(kind):
    calls = ("bind",) if kind == "udp" else ("bind", "listen")
    return list(itertools.product(calls, ADDRS, FLAGS, FLAGS, UIDS, DEVS))


def pairs():
    """Every (holder, new) pair; a new socket has the holder's protocol."""
    out = []
    for h in holders():
        for n in news(h[0]):
            out.append((h, n))
    return out


def family_of(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def errname(e):
    return errno.errorcode.get(e.errno, str(e.errno))


def make(proto, addr, reuseaddr, reuseport, uid, dev):
    """A socket created by uid (its sk_uid comes from the creator's fsuid) with the options."""
    fam = family_of(addr)
    _libc.setfsuid(uid)
    try:
        s = socket.socket(fam, proto)
    finally:
        _libc.setfsuid(0)
    if reuseaddr:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuseport:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    if fam == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1 if addr.endswith("/v6only") else 0)
    if dev:
        s.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, dev.encode())
    return s


def bare(addr):
    return addr.split("/")[0]


def peer_of(addr):
    """Where a connected holder connects: the loopback of the family it binds."""
    a = bare(addr)
    if a.startswith("::ffff:"):
        return ("::ffff:127.0.0.1", PEER_PORT4)
    if ":" in a:
        return ("::1", PEER_PORT6)
    return ("127.0.0.1", PEER_PORT4)


class Worker:
    def __init__(self):
        self.keep = []
        self.peers = {}
        for addr, port in (("127.0.0.1", PEER_PORT4), ("::1", PEER_PORT6)):
            s = socket.socket(family_of(addr), socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((addr, port))
            s.listen(1024)
            self.peers[port] = s

    def holder(self, h, port):
        """Makes the existing socket; returns (socket or None, what it is)."""
        kind, addr, ra, rp, uid, dev = h
        proto = socket.SOCK_DGRAM if kind == "udp" else socket.SOCK_STREAM
        s = make(proto, addr, ra, rp, uid, dev)
        info = {"kind": kind}
        self.step = "bind"
        s.bind((bare(addr), port))
        if kind == "tcp_listen":
            self.step = "listen"
            s.listen(16)
        elif kind == "tcp_conn":
            paddr, pport = peer_of(addr)
            self.step = "connect"
            s.connect((paddr, pport))
            self.keep.append(self.peers[pport].accept()[0])
            info["daddr"], info["dport"] = s.getpeername()[:2]
        elif kind == "tcp_tw":
            return None, self.time_wait(s, addr, port, info)
        info["saddr"], info["sport"] = s.getsockname()[:2]
        return s, info

    def time_wait(self, ls, addr, port, info):
        """A server-side TIME_WAIT on the port: an accepted connection closed first, its
        listener (whose options it inherited) closed after: the classic restart case."""
        self.step = "listen"
        ls.listen(1)
        paddr = peer_of(addr)[0]
        c = socket.socket(family_of(paddr), socket.SOCK_STREAM)
        self.step = "connect"
        c.connect((paddr, port))
        a, _ = ls.accept()
        info["saddr"], info["sport"] = a.getsockname()[:2]
        info["daddr"], info["dport"] = a.getpeername()[:2]
        info["bound_dev"] = a.getsockopt(socket.SOL_SOCKET, SO_BINDTOIFINDEX)
        a.close()
        c.recv(1)
        c.shutdown(socket.SHUT_WR)
        # the client reaches CLOSE once the TIME_WAIT has acknowledged its FIN
        while c.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0] != TCP_CLOSE:
            pass
        c.close()
        ls.close()
        return info

    def attempt(self, n, port):

        call, addr, ra, rp, uid, dev = n
        proto = socket.SOCK_STREAM if call == "listen" or self.tcp else socket.SOCK_DGRAM
        s = make(proto, addr, ra, rp, uid, dev)
        res = {"bind": None, "listen": None}
        try:
            s.bind((bare(addr), port))
            if call == "listen":
                try:
                    s.listen(16)
                except OSError as e:
                    res["listen"] = errname(e)
        except OSError as e:
            res["bind"] = errname(e)
        return s, res

    def run(self, first, last):
        allp = pairs()
        for i in range(first, last):
            h, n = allp[i]
            port = BASE_PORT + i - first
            self.tcp = h[0] != "udp"
            line = {"i": i, "port": port}
            try:
                hs, info = self.holder(h, port)
            except OSError as e:
                line["setup"] = errname(e)
                line["setup_call"] = self.step
                print(json.dumps(line))
                continue
            s, res = self.attempt(n, port)
            third = None
            if not res["bind"] and not res["listen"]:
                # both hold the port now: a third socket like the new one without SO_REUSE*
                # is refused by it, and by the holder only if the kernel's rules say so
                line["new"] = {"saddr": s.getsockname()[0]}
                third = make(s.type, n[1], False, False, n[4], n[5])
                try:
                    third.bind((bare(n[1]), port))
                    line["third"] = None
                except OSError as e:
                    line["third"] = errname(e)
            # the holders go at once, before the agent can look at anything
            if hs is not None:
                hs.close()
            s.close()
            if third is not None:
                third.close()
            line.update(res)
            line["holder"] = info
            print(json.dumps(line))
        for s in self.keep:
            s.close()
        sys.stdout.flush()


if __name__ == "__main__":
    Worker().run(int(sys.argv[1]), int(sys.argv[2]))
