#!/usr/bin/env python3
"""Signs CloudFront URLs and cookies with botocore's CloudFrontSigner, the reference Lectern's
signer is compared against byte for byte (tests/api/cdn_conformance.rs).

Reads one JSON request on standard input:
  {"key_file": "...pem (PKCS#1)", "key_pair_id": "K...",
   "cases": [{"name": "...", "kind": "canned" | "custom", "url": "...",
              "resource": "... (custom only)", "expires": 1767290400,
              "not_before": 1767200000 (optional), "ip": "192.0.2.0/24" (optional),
              "hash": "SHA1" | "SHA256", "cookie_domain": "...", "cookie_path": "/..."}]}
and writes {"results": [{"name", "url", "policy", "set_cookies": [...]}]} on standard output.

botocore signs with whatever RSA function it is given and knows nothing of SHA-256; for SHA-256
the signature comes from the same botocore code path with a SHA-256 RSA function, and
`Hash-Algorithm=SHA256` is appended as CloudFront documents.
"""

import datetime
import json
import sys

import rsa
from botocore.signers import CloudFrontSigner


def moment(seconds):
    return datetime.datetime.fromtimestamp(seconds, tz=datetime.timezone.utc)


def sign_case(key, key_pair_id, case):
    hash_name = case.get("hash", "SHA1")
    rsa_hash = {"SHA1": "SHA-1", "SHA256": "SHA-256"}[hash_name]

    def rsa_signer(message):
        return rsa.sign(message, key, rsa_hash)

    signer = CloudFrontSigner(key_pair_id, rsa_signer)
    expires = moment(case["expires"])
    if case["kind"] == "canned":
        policy = signer.build_policy(case["url"], expires)
        url = signer.generate_presigned_url(case["url"], date_less_than=expires)
        first_cookie = ("CloudFront-Expires", str(case["expires"]))
    else:
        not_before = moment(case["not_before"]) if case.get("not_before") is not None else None
        policy = signer.build_policy(
            case["resource"], expires, date_greater_than=not_before, ip_address=case.get("ip")
        )
        url = signer.generate_presigned_url(case["url"], policy=policy)
        first_cookie = ("CloudFront-Policy", signer._url_b64encode(policy.encode("utf8")).decode("ascii"))
    if hash_name == "SHA256":
        url += "&Hash-Algorithm=SHA256"

    signature = signer._url_b64encode(rsa_signer(policy.encode("utf8"))).decode("ascii")
    pairs = [first_cookie, ("CloudFront-Signature", signature), ("CloudFront-Key-Pair-Id", key_pair_id)]
    if hash_name == "SHA256":
        pairs.append(("CloudFront-Hash-Algorithm", "SHA256"))
    attributes = ""
    if case.get("cookie_domain"):
        attributes += "; Domain=" + case["cookie_domain"]
    attributes += "; Path=" + case.get("cookie_path", "/") + "; Secure; HttpOnly"
    set_cookies = [f"{name}={value}{attributes}" for name, value in pairs]
    return {"name": case["name"], "url": url, "policy": policy, "set_cookies": set_cookies}


def main():
    request = json.load(sys.stdin)
    with open(request["key_file"], "rb") as key_file:
        key = rsa.PrivateKey.load_pkcs1(key_file.read())
    results = [sign_case(key, request["key_pair_id"], case) for case in request["cases"]]
    json.dump({"results": results}, sys.stdout)


if __name__ == "__main__":
    main()
