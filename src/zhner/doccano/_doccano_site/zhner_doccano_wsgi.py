"""Doccano's WSGI app plus one route that proves which server this is (run by gunicorn).

GET /zhner/identity?challenge=C answers HMAC-SHA256(instance key, C). The key is random per
start, handed over in this process's environment (readable only by its user) and kept in the
private run/server.json, so only the server zhner started can answer, and a client sends its
credentials only after checking the answer: a process that took the port after our server
stopped cannot, and a recorded answer is useless against a fresh challenge.
"""

import hashlib
import hmac
import json
import os
from urllib.parse import parse_qs

from config.wsgi import application as doccano

_KEY = bytes.fromhex(os.environ["ZHNER_INSTANCE_KEY"])
PATH = "/zhner/identity"


def application(environ, start_response):
    if environ.get("PATH_INFO") != PATH:
        return doccano(environ, start_response)
    challenge = parse_qs(environ.get("QUERY_STRING", "")).get("challenge", [""])[0]
    if not 16 <= len(challenge) <= 256:
        start_response("400 Bad Request", [("Content-Type", "text/plain")])
        return [b"challenge of 16 to 256 characters required\n"]
    proof = hmac.new(_KEY, challenge.encode("utf-8"), hashlib.sha256).hexdigest()
    body = json.dumps({"proof": proof}).encode("ascii")
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
