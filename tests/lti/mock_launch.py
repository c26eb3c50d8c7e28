"""Drives a launch from lti-provider-mock (a third-party LTI 1.3 platform) into Lectern, the way
a browser would: sign in at the platform, pick a course, auto-submit the login initiation to
Lectern, follow Lectern's redirect to the platform's authorization endpoint, and auto-submit the
platform's RS256 id_token form back to Lectern's launch URL.

The platform side keeps its cookies (httpx; `requests` breaks the mock's signed cookies). The
requests to Lectern carry no cookies at all, as in an LMS iframe whose browser blocks third-party
cookies: Lectern must keep the state itself.

Usage: mock_launch.py MOCK_BASE_URL USER_ID COURSE_ID
Prints one JSON object: the launch response's status, Location header and body.
"""

import html
import json
import re
import sys

import httpx


def form_of(page: str):
    action = re.search(r'<form[^>]*action="([^"]+)"', page)
    if action is None:
        raise SystemExit(f"no form in the page:\n{page}")
    fields = {}
    for tag in re.findall(r"<input[^>]*>", page, flags=re.S):
        name = re.search(r'name="([^"]*)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if name:
            fields[name.group(1)] = html.unescape(value.group(1)) if value else ""
    return html.unescape(action.group(1)), fields


def main():
    mock_base, user_id, course_id = sys.argv[1:4]
    platform = httpx.Client(base_url=mock_base, follow_redirects=False, timeout=30)
    signed_in = platform.post("/login", data={"userid": user_id})
    assert signed_in.status_code == 303, signed_in.text
    start = platform.get(f"/courses/{course_id}")
    assert start.status_code == 200, start.text
    login_url, login_fields = form_of(start.text)

    # The browser posts the login initiation to the tool (no cookies towards Lectern).
    initiation = httpx.post(login_url, data=login_fields, follow_redirects=False, timeout=30)
    if initiation.status_code != 302:
        print(json.dumps({"stage": "login", "status": initiation.status_code, "body": initiation.text}))
        return
    authorize = initiation.headers["location"]
    # The platform's authorization endpoint answers the auto-submitting id_token form.
    authorized = platform.get(authorize)
    assert authorized.status_code == 200, authorized.text
    launch_url, launch_fields = form_of(authorized.text)
    launch = httpx.post(launch_url, data=launch_fields, follow_redirects=False, timeout=30)
    print(
        json.dumps(
            {
                "stage": "launch",
                "authorize": authorize,
                "launch_url": launch_url,
                "status": launch.status_code,
                "location": launch.headers.get("location"),
                "body": launch.text,
            }
        )
    )


if __name__ == "__main__":
    main()
