"""Start the service: `python -m api [--host H] [--port P]`."""

from __future__ import annotations

import argparse

import uvicorn

from agents.logging_setup import configure_logging
from api.app import create_app
from api.auth import KeyConfigError, KeyRing, check_bind
from api.ratelimit import websocket_hard_limit
from config.settings import Settings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m api", description="Run the Centinela service.")
    parser.add_argument("--host", help="address to bind (default 127.0.0.1, or CENTINELA_HOST)")
    parser.add_argument("--port", type=int, help="TCP port (default 8000, or CENTINELA_PORT)")
    args = parser.parse_args(argv)

    overrides = {key: value for key, value in (("host", args.host), ("port", args.port)) if value is not None}
    settings = Settings(**overrides)
    configure_logging(settings)
    try:
        check_bind(settings.host, KeyRing.from_settings(settings))
    except KeyConfigError as exc:
        parser.error(str(exc))
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        log_config=None,  # keep the handlers of configure_logging (escaped text or JSON)
        ws_max_size=websocket_hard_limit(settings),
        ws_ping_interval=settings.websocket_ping_interval,
        ws_ping_timeout=settings.websocket_ping_timeout,
    )


if __name__ == "__main__":
    main()
