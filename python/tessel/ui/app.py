"""The Flask app factory: configuration, auth/CSRF hooks, error pages, template helpers."""
import datetime
import math
import os
import secrets

from flask import Flask, redirect, render_template, request, session, url_for
from markupsafe import Markup
from werkzeug.exceptions import HTTPException

from . import security

DEFAULT_MAX_UPLOAD = 16 * 1024 * 1024  # bytes: an image, a clip or a text, not a dataset


def create_app(store=None, serve_url=None, token=None, secret_key=None, max_upload=DEFAULT_MAX_UPLOAD,
               serve_token=None, serve_timeout=3.0):
    """The UI as a Flask app.

    store: a tessel.store.Store, a location for ts.store.open (folder or URL),
    or None for $TESSEL_STORE / ./tessel-store. serve_url: the base URL of a
    running tessel-serve (serving page, try-a-model through the server).
    token: when given, pages need it (login form, or an ``Authorization:
    Bearer`` / ``X-Tessel-Token`` header). secret_key signs the session cookie
    (random per process by default). max_upload: the largest request body in
    bytes (a larger upload gets a 413 page). serve_token: the bearer token of
    a tessel-serve started with one. serve_timeout: seconds per call to it.
    """
    from .. import store as tstore

    if store is None or isinstance(store, (str, os.PathLike)):
        store = tstore.open(store)
    if token is not None and not str(token):
        raise ValueError("create_app: token must be a non-empty string or None")
    if serve_url is not None:
        serve_url = str(serve_url).rstrip("/")
        if not serve_url.startswith(("http://", "https://")):
            raise ValueError(f"create_app: serve_url must start with http:// or https://, got {serve_url!r}")
    if int(max_upload) <= 0:
        raise ValueError(f"create_app: max_upload must be a positive number of bytes, got {max_upload!r}")

    app = Flask(__name__, static_folder="static", template_folder="templates")
    app.config.update(
        SECRET_KEY=secret_key or secrets.token_hex(32),
        MAX_CONTENT_LENGTH=int(max_upload),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        TESSEL_TOKEN=None if token is None else str(token),
        TESSEL_SERVE_URL=serve_url,
        TESSEL_SERVE_TOKEN=serve_token,
        TESSEL_SERVE_TIMEOUT=float(serve_timeout),
    )
    app.extensions["tessel_store"] = store
    app.extensions["tessel_scrapes"] = {}  # serve URL -> last /metrics sample, for request rates
    app.extensions["tessel_requests"] = {}  # id -> last try-a-model requests (download of the full JSON)

    app.before_request(security.check_request)
    app.after_request(security.security_headers)

    from . import models, pipelines, runs, serving, studies, try_model
    app.register_blueprint(runs.bp)
    app.register_blueprint(pipelines.bp)
    app.register_blueprint(studies.bp)
    app.register_blueprint(models.bp)
    app.register_blueprint(serving.bp)
    app.register_blueprint(try_model.bp)

    @app.route("/")
    def index():
        return redirect(url_for("runs.table"))

    @app.route("/login", methods=["GET", "POST"])
    def login():
        nxt = security.safe_next(request.values.get("next"))
        if not app.config["TESSEL_TOKEN"]:
            return redirect(nxt)
        error = None
        if request.method == "POST":
            if security.login_ok(request.form.get("token", "")):
                session.clear()  # a fresh session (and CSRF token) after login
                session["auth"] = True
                return redirect(nxt)
            error = "Wrong token."
        return render_template("login.html", next=nxt, error=error), (401 if error else 200)

    @app.route("/logout", methods=["POST"])
    def logout():
        session.clear()
        return redirect(url_for("login"))

    @app.errorhandler(HTTPException)
    def http_error(e):
        if e.code in (301, 302, 303, 307, 308):
            return e
        detail = e.description
        if e.code == 413:
            detail = (f"The upload is larger than this UI accepts ({_size(app.config['MAX_CONTENT_LENGTH'])}). "
                      f"Send a smaller file, or start `tessel ui` with a larger --max-upload.")
        return render_template("error.html", code=e.code, name=e.name, detail=detail), e.code

    @app.errorhandler(tstore.StoreError)
    def store_error(e):
        # A locked or unreachable database is the server's state, not the request's fault: 503, with the
        # store's own message (it names the file or URL).
        code = 404 if isinstance(e, tstore.NotFoundError) else 400 if isinstance(e, tstore.ArtifactPathError) else 503
        names = {404: "Not Found", 400: "Bad Request", 503: "Store Unavailable"}
        return render_template("error.html", code=code, name=names[code], detail=str(e)), code

    @app.route("/favicon.ico")
    def favicon():
        return "", 204

    app.jinja_env.globals.update(csrf_token=security.csrf_token, csrf_field=_csrf_field, serve_url=serve_url,
                                 auth_enabled=token is not None)
    app.jinja_env.filters.update(when=_when, num=_num, size=_size, duration=_duration, short=lambda s: (s or "")[:8])
    return app


def _csrf_field():
    return Markup(f'<input type="hidden" name="{security.CSRF_FIELD}" value="{security.csrf_token()}">')


def _when(t):
    if t is None:
        return "-"
    return datetime.datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M:%S")


def _num(v, digits=4):
    if v is None:
        return "-"
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return f"{v:.{digits}g}"
    return str(v)


def _size(n):
    if n is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def _duration(s):
    if s is None:
        return "-"
    if s < 60:
        return f"{s:.1f} s"
    if s < 3600:
        return f"{int(s // 60)} min {int(s % 60)} s"
    return f"{int(s // 3600)} h {int(s % 3600 // 60)} min"
