"""Models: the registry's models, versions (signature, metrics, lineage) and aliases (promote, roll back)."""
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for

from ..store import NotFoundError

bp = Blueprint("models", __name__)


def store():
    return current_app.extensions["tessel_store"]


def _or_abort(fn, *args):
    try:
        return fn(*args)
    except NotFoundError as e:
        abort(404, str(e))
    except (ValueError, TypeError) as e:
        abort(400, str(e))


@bp.route("/models")
def index():
    return render_template("models.html", models=store().list_models())


@bp.route("/models/<name>")
def model(name):
    st = store()
    versions = _or_abort(st.list_versions, name)
    aliases = st.get_aliases(name)
    history = {a: st.alias_history(name, a) for a in aliases}
    mkeys = sorted({k for v in versions for k in v["metrics"]})
    return render_template("model.html", name=name, versions=versions, aliases=aliases, history=history, mkeys=mkeys)


@bp.route("/models/<name>/versions/<version>")
def version(name, version):
    st = store()
    v = _or_abort(st.get_model_version, name, version)
    lineage = st.lineage(name, v["version"])
    run = None
    if v["run_id"]:
        try:
            run = st.get_run(v["run_id"])
        except NotFoundError:
            run = None
    return render_template("version.html", v=v, lineage=lineage, run=run)


@bp.route("/models/<name>/alias", methods=["POST"])
def set_alias(name):
    """Promote: point an alias at a version (form fields alias, version)."""
    alias = request.form.get("alias", "").strip()
    ver = request.form.get("version", "").strip()
    if not alias or not ver:
        abort(400, "promote needs an alias and a version")
    v = _or_abort(store().set_alias, name, alias, ver)
    flash(f"{alias} -> version {v}")
    return redirect(url_for("models.model", name=name))


@bp.route("/models/<name>/alias/<alias>/rollback", methods=["POST"])
def rollback(name, alias):
    v = _or_abort(store().rollback_alias, name, alias)
    flash(f"{alias} rolled back to " + (f"version {v}" if v is not None else "no version (alias removed)"))
    return redirect(url_for("models.model", name=name))
