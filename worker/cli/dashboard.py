"""``mediflux dashboard``: the operator's web page on 127.0.0.1 (Procfile line ``dashboard:``)."""

from __future__ import annotations

import signal

import click

from worker.cli.context import local_runtime
from worker.dashboard.server import HOST, DashboardApp, make_dashboard_server


@click.command()
@click.option(
    "--port", type=click.IntRange(0, 65535), default=None, help="Port on 127.0.0.1 (default: MEDIFLUX_DASHBOARD_PORT)."
)
def dashboard(port: int | None) -> None:
    """Serve the dashboard on 127.0.0.1: queue, documents, cache, periodic jobs and the
    retention audit. Read-only unless MEDIFLUX_DASHBOARD_ACTIONS=1 (then each action needs
    MEDIFLUX_DASHBOARD_TOKEN). Ctrl-C stops it."""
    runtime = local_runtime()
    settings = runtime.settings
    app = DashboardApp(settings, runtime.database, runtime.huey)
    try:
        server = make_dashboard_server(app, settings.dashboard_port if port is None else port)
    except OSError as exc:
        raise click.ClickException(
            f"cannot listen on {HOST}:{port or settings.dashboard_port}: {exc.strerror}"
        ) from None
    mode = "actions enabled (token required)" if app.actions_on else "read-only"
    click.echo(f"dashboard on http://{HOST}:{server.server_port}/ ({mode})", err=True)
    signal.signal(signal.SIGTERM, _stop)  # honcho/systemd stop: leave like Ctrl-C
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def _stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
