"""Run the action server: `python -m actions [--port 5055]`.

Rasa 3.6 (Python 3.10 env) calls this rasa-sdk 3.21 server (Python 3.11 env): the webhook protocol
is the same, but rasa-sdk warns on every call that the minor versions differ. That pairing is
deliberate (rasa-sdk 3.6 does not install on 3.11) and tested end to end, so the warning is silenced
here, for this process and the Sanic workers it spawns.
"""
from __future__ import annotations

import argparse
import os
import warnings

VERSION_WARNING = "Your versions of rasa and rasa_sdk might not be compatible"


def main() -> None:
    os.environ["PYTHONWARNINGS"] = ",".join(
        filter(None, [os.environ.get("PYTHONWARNINGS"), f"ignore:{VERSION_WARNING}"]))
    warnings.filterwarnings("ignore", message=VERSION_WARNING)

    from common import logs
    from common.settings import Settings

    settings = Settings.from_env()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=settings.action_port)
    args = parser.parse_args()
    logs.configure(settings.log_level)
    os.environ.setdefault("SANIC_HOST", settings.host)

    from rasa_sdk.executor import ActionExecutor

    from actions.server import run

    executor = ActionExecutor()
    executor.register_package("actions")
    run(executor, port=args.port)


if __name__ == "__main__":
    main()
