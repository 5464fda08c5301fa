"""tessel.ui: the web UI of the tracking store, the registry and tessel-serve (`tessel ui`).

    from tessel.ui import create_app
    app = create_app(store=ts.store.open("runs/"), serve_url="http://127.0.0.1:8000", token="s3cret")
    app.run("127.0.0.1", 5000)

Server-rendered Flask pages (Jinja templates, one CSS file, charts drawn as SVG
on the server); no JavaScript build step and nothing fetched from outside.
Pages: runs (table, run, compare), models (registry, aliases), serving (what a
tessel-serve holds and its /metrics) and try-a-model. See docs/tracking.md.
"""
from .app import create_app

__all__ = ["create_app"]
