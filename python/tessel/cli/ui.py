"""`tessel ui`: the web UI of the tracking store, the registry and a running tessel-serve."""
import ipaddress

import click

from ._base import log, open_store

LOOPBACK_NAMES = ("localhost",)


def _is_loopback(host):
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _size(text):
    """'16M', '512k', '1G' or a byte count -> bytes."""
    s = str(text).strip().upper().removesuffix("B").removesuffix("I")
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(s[-1:], 1)
    try:
        n = int(float(s[:-1] if mult > 1 else s) * mult)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a size (e.g. 16M, 512k, 1000000)") from None
    if n <= 0:
        raise click.BadParameter(f"{text!r}: the upload limit must be positive")
    return n


@click.command("ui")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind. Anything but loopback exposes the UI to the network: give --token then.")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(0, 65535), help="Port (0: any free one).")
@click.option("--token", metavar="T", envvar="TESSEL_UI_TOKEN",
              help="Access token: pages ask for it once (login form) or take it as 'Authorization: Bearer T'. "
                   "[env: TESSEL_UI_TOKEN]")
@click.option("--serve-url", metavar="URL", help="Base URL of a running tessel-serve, for the serving and "
                                                 "try-a-model pages (e.g. http://127.0.0.1:8000).")
@click.option("--serve-token", metavar="T", envvar="TESSEL_SERVE_TOKEN",
              help="Bearer token of that tessel-serve, if it has one. [env: TESSEL_SERVE_TOKEN]")
@click.option("--max-upload", default="16M", show_default=True, help="Largest upload (try-a-model).")
@click.option("--port-file", type=click.Path(dir_okay=False), help="Write the bound port to this file once listening.")
@click.pass_context
def ui(ctx, host, port, token, serve_url, serve_token, max_upload, port_file):
    """Serve the web UI: runs (table, charts, compare), models (versions, aliases,
    lineage), serving (a tessel-serve's models and metrics) and try-a-model.

        tessel ui --port 5000 --serve-url http://127.0.0.1:8000
    """
    try:
        from werkzeug.serving import make_server

        from ..ui import create_app
    except ImportError as e:
        raise click.ClickException(f"tessel ui needs Flask and NumPy ({e}): pip install 'tessel[ui]'") from None

    if not _is_loopback(host) and not token:
        log(f"warning: binding {host} without --token: anyone who can reach this port can read the store and move "
            f"aliases")
    try:
        app = create_app(store=open_store(ctx), serve_url=serve_url, token=token, serve_token=serve_token,
                         max_upload=_size(max_upload))
    except ValueError as e:
        raise click.UsageError(str(e), ctx) from None
    try:
        server = make_server(host, port, app, threaded=True)
    except OSError as e:
        raise click.ClickException(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    bound = server.socket.getsockname()[1]
    if port_file:
        with open(port_file, "w") as f:
            f.write(str(bound))
    shown = f"[{host}]" if ":" in host else host
    log(f"tessel ui on http://{shown}:{bound}/ (store {app.extensions['tessel_store'].describe()}); Ctrl-C stops it")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
