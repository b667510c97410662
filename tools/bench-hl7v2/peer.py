#!/usr/bin/env python3
"""Peer timing for the vigil-ingest criterion benchmark: python-hl7 (`pip install hl7`)
parsing the same ORU^R01 with 6 OBX (oru_r01_6obx.hl7), and building its ACK.

Usage: python3 tools/bench-hl7v2/peer.py [seconds per case]
"""
import os
import sys
import time

import hl7

HERE = os.path.dirname(os.path.abspath(__file__))
TEXT = open(os.path.join(HERE, "oru_r01_6obx.hl7"), encoding="utf-8").read()


def rate(fn, seconds):
    n, start = 0, time.perf_counter()
    while True:
        for _ in range(100):
            fn()
        n += 100
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return n / elapsed


def parse():
    return len(hl7.parse(TEXT))


def parse_ack():
    message = hl7.parse(TEXT)
    return len(str(message.create_ack(ack_code="AA", message_id="ACK-1")))


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 3.0
    print(f"python-hl7 {getattr(hl7, '__version__', '?')}, Python {sys.version.split()[0]}")
    for name, fn in [("parse_oru_6obx", parse), ("parse_ack_oru_6obx", parse_ack)]:
        print(f"{name}: {rate(fn, seconds):,.0f} messages/s")


if __name__ == "__main__":
    main()
