#!/usr/bin/env python3
"""Checks one webhook the way README.md's "Verifying a webhook" tells receivers to.

Usage: verify.py SECRET SIGNATURE_HEADER < body
Exits 0 when the signature is valid and fresh, 1 when it is not. The `verify` function is the
README's snippet, copied verbatim: tests/api/webhooks.rs runs real deliveries through it, so the
documentation and the sender cannot drift apart.
"""
import sys

# --- README snippet begins ---
import hashlib
import hmac
import time


def verify(secret: str, signature_header: str, body: bytes, tolerance_seconds: int = 300) -> bool:
    """True when `body` (the raw request bytes) was signed by Lectern with `secret` recently."""
    timestamp, signatures = None, []
    for part in signature_header.split(","):
        name, _, value = part.partition("=")
        if name == "t":
            timestamp = value
        elif name == "v1":
            signatures.append(value)  # two while a rotated secret overlaps the new one
    try:
        timestamp = int(timestamp)
    except (TypeError, ValueError):
        return False
    if abs(time.time() - timestamp) > tolerance_seconds:
        return False  # too old (or from the future): possibly a replay
    signed = f"{timestamp}.".encode() + body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, signature) for signature in signatures)
# --- README snippet ends ---


if __name__ == "__main__":
    sys.exit(0 if verify(sys.argv[1], sys.argv[2], sys.stdin.buffer.read()) else 1)
