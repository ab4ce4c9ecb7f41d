"""Write small, exact pcap files for tests: Ethernet/IPv4 or IPv6/TCP or UDP
conversations with correct lengths (checksums are not verified by the
decoder and are left zero).  Standard library only."""
import ipaddress
import struct


def _ip4(src, dst, proto, payload):
    total = 20 + len(payload)
    hdr = struct.pack(">BBHHHBBH4s4s", 0x45, 0, total, 0, 0x4000, 64, proto, 0,
                      ipaddress.IPv4Address(src).packed, ipaddress.IPv4Address(dst).packed)
    return b"\x08\x00", hdr + payload


def _ip6(src, dst, proto, payload):
    hdr = struct.pack(">IHBB16s16s", 6 << 28, len(payload), proto, 64,
                      ipaddress.IPv6Address(src).packed, ipaddress.IPv6Address(dst).packed)
    return b"\x86\xdd", hdr + payload


def tcp(sport, dport, flags, data=b"", seq=0, ack=0):
    bits = {"F": 1, "S": 2, "R": 4, "P": 8, "A": 16}
    f = sum(bits[c] for c in flags)
    return struct.pack(">HHIIBBHHH", sport, dport, seq, ack, 5 << 4, f, 65535, 0, 0) + data


def udp(sport, dport, data=b""):
    return struct.pack(">HHHH", sport, dport, 8 + len(data), 0) + data


class Pcap:
    """Collects frames; `save(path)` writes a microsecond pcap, DLT_EN10MB."""

    def __init__(self, t0=1764000000.0):
        self.t = t0
        self.frames = []

    def packet(self, src, dst, proto, l4, dt=0.001):
        self.t += dt
        v6 = ":" in src
        etype, ip = (_ip6 if v6 else _ip4)(src, dst, proto, l4)
        eth = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + etype
        self.frames.append((self.t, eth + ip))
        return len(ip)

    def save(self, path):
        with open(path, "wb") as f:
            f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
            for t, fr in self.frames:
                sec = int(t)
                usec = int(round((t - sec) * 1e6))
                f.write(struct.pack("<IIII", sec, usec, len(fr), len(fr)))
                f.write(fr)


def tcp_session(pc, cli, sport, srv, dport, send=0, recv=0, chunk=1400):
    """A whole TCP connection: handshake, `send` bytes from the client and
    `recv` bytes back in `chunk`-sized segments, FIN both ways.  Returns
    (packets, ip bytes) sent by the client and by the server."""
    out = {"c": [0, 0], "s": [0, 0]}

    def c(fl, data=b""):
        n = pc.packet(cli, srv, 6, tcp(sport, dport, fl, data))
        out["c"][0] += 1
        out["c"][1] += n

    def s(fl, data=b""):
        n = pc.packet(srv, cli, 6, tcp(dport, sport, fl, data))
        out["s"][0] += 1
        out["s"][1] += n

    c("S"); s("SA"); c("A")
    while send > 0:
        n = min(chunk, send); c("PA", b"x" * n); send -= n
    while recv > 0:
        n = min(chunk, recv); s("PA", b"y" * n); recv -= n
    c("FA"); s("FA"); c("A")
    return out
