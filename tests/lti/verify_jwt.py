"""Verifies a JWT the way an LTI platform verifies the tool's messages: fetch the tool's JWKS,
pick the key by `kid`, check the RS256 signature, `iss`, `aud` and the times with PyJWT.

Usage: verify_jwt.py JWKS_URL JWT AUDIENCE ISSUER
Prints the verified claims as JSON; exits non-zero with PyJWT's reason otherwise.
"""

import json
import sys

import jwt


def main():
    jwks_url, token, audience, issuer = sys.argv[1:5]
    signing_key = jwt.PyJWKClient(jwks_url).get_signing_key_from_jwt(token)
    claims = jwt.decode(
        token,
        signing_key.key,
        algorithms=["RS256"],
        audience=audience,
        issuer=issuer,
        options={"require": ["exp", "iat", "iss", "aud", "nonce"]},
    )
    print(json.dumps(claims))


if __name__ == "__main__":
    main()
