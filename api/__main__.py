"""Start the service: `python -m api [--host H] [--port P]`."""

from __future__ import annotations

import argparse
import logging

import uvicorn

from api.app import create_app
from config.settings import Settings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m api", description="Run the Centinela service.")
    parser.add_argument("--host", help="address to bind (default 127.0.0.1, or CENTINELA_HOST)")
    parser.add_argument("--port", type=int, help="TCP port (default 8000, or CENTINELA_PORT)")
    args = parser.parse_args(argv)

    overrides = {key: value for key, value in (("host", args.host), ("port", args.port)) if value is not None}
    settings = Settings(**overrides)
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level=settings.log_level.lower())


if __name__ == "__main__":
    main()
