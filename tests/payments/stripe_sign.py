"""Signs webhook bodies with the official Stripe SDK's own test helper and says what the SDK's own
verifier makes of each case, so Lectern's verification can be compared with it.

Reads JSON from stdin: {"cases": [{"name", "body", "sign_with": [secrets], "timestamp",
"verify_body"?, "verify_with": [secrets], "tolerance"}]}. Writes, per case, the header and
whether stripe.WebhookSignature.verify_header accepts it against any of `verify_with`.
"""
import json
import sys

import stripe
from stripe import WebhookSignature


def sdk_accepts(body, header, secrets, tolerance):
    for secret in secrets:
        try:
            WebhookSignature.verify_header(body, header, secret, tolerance=tolerance)
            return True
        except stripe.SignatureVerificationError:
            continue
    return False


def main():
    request = json.load(sys.stdin)
    out = []
    for case in request["cases"]:
        parts = []
        timestamp = case["timestamp"]
        for secret in case["sign_with"]:
            header = WebhookSignature.generate_signature_header(case["body"], secret, timestamp=timestamp)
            parts.append(header.split(",", 1)[1])
        header = f"t={timestamp}," + ",".join(parts)
        body = case.get("verify_body", case["body"])
        out.append({
            "name": case["name"],
            "header": header,
            "sdk_accepts": sdk_accepts(body, header, case["verify_with"], case["tolerance"]),
            "sdk_version": stripe.VERSION,
        })
    json.dump(out, sys.stdout)


main()
