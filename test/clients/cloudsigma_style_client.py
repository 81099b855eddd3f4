#!/usr/bin/python3
"""Log in to sigma-accounts and edit the profile the way CloudSigma's Python client does.

CloudSigma's client (pycloudsigma, session login) posts the credentials as JSON to
``accounts/action/?do=login``, takes the ``csrftoken`` cookie from the response and then sends it in
an ``X-CSRFToken`` header, with a ``Referer`` of the API base, on every request of its
``requests.Session``. A profile update sends back the whole profile it read, with fields changed.

Usage: cloudsigma_style_client.py BASE_URL USERNAME PASSWORD

Prints one JSON object with the status and body of every response. Exits with status 0 whenever the
server responded, so that the caller judges the results. A network failure raises an exception.
"""

import json
import sys

import requests

NEW_COMPANY = 'Python Client Company'
TIMEOUT_SECONDS = 30


def body_of(response):
    """Return the JSON body of a response, or its text when it is not JSON."""
    try:
        return response.json()
    except ValueError:
        return response.text


def main(argv):
    if len(argv) != 4:
        sys.stderr.write('usage: cloudsigma_style_client.py BASE_URL USERNAME PASSWORD\n')
        return 2

    base_url, username, password = argv[1:]
    api = base_url.rstrip('/') + '/api/2.0/'
    headers = {'Content-Type': 'application/json', 'User-Agent': 'CloudSigma turlo client'}
    results = {}

    session = requests.Session()
    # Proxy settings from the environment must not send loopback test traffic anywhere else.
    session.trust_env = False

    login = session.post(
        api + 'accounts/action/',
        params={'do': 'login'},
        data=json.dumps({'username': username, 'password': password}),
        headers=headers,
        timeout=TIMEOUT_SECONDS,
    )
    results['login'] = {'status': login.status_code, 'body': body_of(login)}

    csrf_token = login.cookies.get('csrftoken')
    results['csrftoken_received'] = bool(csrf_token)
    results['csrftoken_in_session'] = session.cookies.get('csrftoken') == csrf_token
    session.headers.update({'X-CSRFToken': csrf_token or '', 'Referer': api})

    profile = session.get(api + 'profile/', headers=headers, timeout=TIMEOUT_SECONDS)
    results['get_before'] = {'status': profile.status_code, 'body': body_of(profile)}

    updated_profile = dict(profile.json()) if profile.status_code == 200 else {}
    updated_profile['company'] = NEW_COMPANY
    update = session.put(
        api + 'profile/', data=json.dumps(updated_profile), headers=headers, timeout=TIMEOUT_SECONDS
    )
    results['put'] = {'status': update.status_code, 'body': body_of(update)}

    profile_after = session.get(api + 'profile/', headers=headers, timeout=TIMEOUT_SECONDS)
    results['get_after'] = {'status': profile_after.status_code, 'body': body_of(profile_after)}

    # The same session cookie without the CSRF header, which the server must reject.
    without_token = requests.Session()
    without_token.trust_env = False
    without_token.cookies.update(session.cookies)
    rejected = without_token.put(
        api + 'profile/',
        data=json.dumps({'company': 'Without CSRF Token'}),
        headers=headers,
        timeout=TIMEOUT_SECONDS,
    )
    results['put_without_csrf_token'] = {'status': rejected.status_code, 'body': body_of(rejected)}

    print(json.dumps(results))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
