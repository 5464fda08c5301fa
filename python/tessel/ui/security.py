"""Auth token and CSRF protection, written for this app (no extension).

- Token: when the app has one, every page but /login and /static needs it,
  either per request (``Authorization: Bearer T`` or ``X-Tessel-Token: T``)
  or once through the login form, which marks the signed session cookie.
- CSRF: every session holds a random token; every POST must send it back
  (form field ``csrf_token`` or header ``X-CSRF-Token``), compared in constant
  time. Requests authenticated by a header are not sent by a browser on its
  own, so they need no CSRF token.
"""
import hmac
import secrets

from flask import abort, current_app, g, redirect, request, session, url_for

CSRF_FIELD = "csrf_token"
OPEN_ENDPOINTS = {"login", "static", "logout", "favicon"}


def csrf_token():
    """This session's CSRF token (created on first use); templates call it."""
    tok = session.get("csrf")
    if not tok:
        tok = session["csrf"] = secrets.token_urlsafe(32)
    return tok


def _same(a, b):
    return isinstance(a, str) and isinstance(b, str) and hmac.compare_digest(a.encode(), b.encode())


def header_token():
    auth = request.headers.get("Authorization", "")
    if auth.startswith("Bearer "):
        return auth[7:].strip()
    return request.headers.get("X-Tessel-Token")


def check_request():
    """before_request: auth, then CSRF on every state-changing method."""
    token = current_app.config.get("TESSEL_TOKEN")
    g.header_auth = False
    if token:
        given = header_token()
        if given is not None:
            if not _same(given, token):
                abort(401, "wrong token")
            g.header_auth = True
        elif request.endpoint not in OPEN_ENDPOINTS and not session.get("auth"):
            if request.method in ("GET", "HEAD"):
                return redirect(url_for("login", next=safe_next(request.full_path)))
            abort(401, "log in first: this UI needs its access token")
    if request.method not in ("GET", "HEAD", "OPTIONS") and not g.header_auth:
        sent = request.form.get(CSRF_FIELD) or request.headers.get("X-CSRF-Token")
        if not _same(sent, session.get("csrf")):
            abort(400, "the form's CSRF token is missing or wrong (the session may have expired): reload the page "
                       "and send the form again")
    return None


def login_ok(given):
    return _same(given, current_app.config.get("TESSEL_TOKEN"))


def safe_next(target):
    """A local path to return to after login (never another host)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target.rstrip("?") or "/"


def security_headers(resp):
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    resp.headers.setdefault("X-Frame-Options", "DENY")
    resp.headers.setdefault("Referrer-Policy", "same-origin")
    # Everything comes from this server; no inline script runs (the one script is static/tessel-ui.js).
    resp.headers.setdefault("Content-Security-Policy",
                            "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
                            "script-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
    return resp
