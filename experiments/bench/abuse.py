"""Hostile clients against `trainer serve` on loopback (run by abuse.sh; Python's standard
library only). Prints the server's peak memory and how it answered:

1. memory: 32 concurrent posts of the largest images the limits admit (blank 4096x4096 RGBA PNG,
   blank 4096x4096 BMP with RLE8 compression: a few hundred KB each, up to 64 MiB decoded), and
   32 of the 8192x8192 PNG of the original report; meanwhile a normal predict must answer in < 1 s;
2. connections: 1000 clients that send one byte of a request, and 100 that send a header byte a
   second; how many are still open after 5, 10, 15 and 30 s, and a normal predict meanwhile.

Every request loop is bounded in count and time; only 127.0.0.1 is contacted.

    python3 abuse.py URL SERVER_PID DIGIT_PNG
"""

import http.client
import socket
import struct
import sys
import threading
import time
import zlib
from urllib.parse import urlparse


def png(width, height):
    """A blank (white) RGBA PNG, compressed."""
    row = b"\x00" + b"\xff" * (4 * width)
    data = zlib.compress(row * height, 9)

    def chunk(kind, body):
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data)
            + chunk(b"IEND", b""))


def bmp_rle8(width, height):
    """A blank 8-bit palette BMP with RLE8 compression: runs of 255 white pixels."""
    rows = bytearray()
    for _ in range(height):
        left = width
        while left:
            n = min(255, left)
            rows += bytes([n, 1])  # n pixels of palette index 1 (white)
            left -= n
        rows += b"\x00\x00"  # end of line
    rows += b"\x00\x01"  # end of bitmap
    palette = b"\x00\x00\x00\x00" + b"\xff\xff\xff\x00" + b"\x00" * 4 * 254
    offset = 14 + 40 + len(palette)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 8, 1, len(rows), 2835, 2835, 256, 0)
    head = b"BM" + struct.pack("<IHHI", offset + len(rows), 0, 0, offset)
    return head + info + palette + bytes(rows)


def memory(pid):
    """(current, peak) resident memory of the server, MiB."""
    fields = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def post(host, port, body, content_type="image/png", timeout=120):
    """(status, seconds) of one POST /api/predict."""
    started = time.monotonic()
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request("POST", "/api/predict", body, {"Content-Type": content_type})
        response = connection.getresponse()
        response.read()
        status = response.status
    except OSError as error:
        status = f"{type(error).__name__}"
    finally:
        connection.close()
    return status, time.monotonic() - started


def burst(host, port, body, content_type, clients, digit):
    """`clients` concurrent posts of `body`, and one normal predict in their midst."""
    results = [None] * clients

    def client(i):
        results[i] = post(host, port, body, content_type)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    time.sleep(0.05)
    normal = post(host, port, digit)
    for thread in threads:
        thread.join()
    statuses = {}
    for status, _ in results:
        statuses[status] = statuses.get(status, 0) + 1
    return statuses, time.monotonic() - started, normal


def main():
    url, pid, digit_path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    address = urlparse(url)
    host, port = address.hostname, address.port
    with open(digit_path, "rb") as f:
        digit = f.read()
    print(f"server at start: {memory(pid)[0]:.0f} MiB resident")

    print("\n## Memory: 32 concurrent requests of the largest images the limits admit")
    cases = [
        ("blank 4096x4096 RGBA PNG", png(4096, 4096), "image/png"),
        ("blank 4096x4096 RLE8 BMP", bmp_rle8(4096, 4096), "image/bmp"),
        ("blank 8192x8192 RGBA PNG (the report's)", png(8192, 8192), "image/png"),
    ]
    for name, body, content_type in cases:
        statuses, seconds, normal = burst(host, port, body, content_type, 32, digit)
        now, peak = memory(pid)
        print(f"{name}, {len(body) / 1024:.0f} KiB: answers {statuses} in {seconds:.1f} s; "
              f"a normal predict meanwhile: {normal[0]} in {normal[1] * 1000:.0f} ms; "
              f"server peak so far {peak:.0f} MiB, now {now:.0f} MiB")

    print("\n## Connections: 1000 that send one byte, 100 that send a header byte a second")
    stalled = []
    for _ in range(1000):
        s = socket.create_connection((host, port))
        s.sendall(b"P")
        stalled.append(s)
    trickling = []
    stop = time.monotonic() + 32

    def trickle():
        s = socket.create_connection((host, port))
        trickling.append(s)
        for byte in (b"POST /api/predict HTTP/1.1\r\nX-Slow: " + b"a" * 64)[:40]:
            if time.monotonic() > stop:
                return
            try:
                s.sendall(bytes([byte]))
            except OSError:
                return
            time.sleep(1)

    threads = [threading.Thread(target=trickle) for _ in range(100)]
    for thread in threads:
        thread.start()
    started = time.monotonic()
    status, seconds = post(host, port, digit)
    print(f"a normal predict with 1100 bad connections open: {status} in {seconds * 1000:.0f} ms")

    def still_open(sockets):
        open_count = 0
        for s in sockets:
            s.setblocking(False)
            try:
                data = s.recv(4096)
                open_count += 0 if data == b"" else 1
            except BlockingIOError:
                open_count += 1
            except OSError:
                pass
        return open_count

    for mark in (5, 10, 15, 30):
        time.sleep(max(0.0, started + mark - time.monotonic()))
        status, seconds = post(host, port, digit)
        print(f"after {mark:2d} s: one-byte connections still open {still_open(stalled)}/1000, "
              f"trickling {still_open(trickling)}/100; a normal predict {status} in "
              f"{seconds * 1000:.0f} ms")
    for thread in threads:
        thread.join()
    for s in stalled + trickling:
        s.close()
    now, peak = memory(pid)
    print(f"\nserver at the end: {now:.0f} MiB resident, peak {peak:.0f} MiB")


if __name__ == "__main__":
    main()
