"""Serve the web chat page: `python -m web [--port 8080]`."""
from __future__ import annotations

import argparse

from aiohttp import web

from common import logs
from common.settings import Settings
from web.app import create_app


def main() -> None:
    settings = Settings.from_env()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=settings.web_port)
    parser.add_argument("--socket-url", default=settings.rasa_url,
                        help="where the browser reaches Rasa's socket.io channel")
    args = parser.parse_args()
    logs.configure(settings.log_level)
    web.run_app(create_app(args.socket_url), host=settings.host, port=args.port, print=None)


if __name__ == "__main__":
    main()
