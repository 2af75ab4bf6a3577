"""`make run`: train if needed, start every service under one supervisor, stop all on Ctrl-C."""
from __future__ import annotations

import signal
import sys
import time

from common.settings import ConfigError, Settings
from knowledge.corpus import CorpusError
from ops.knowledge import ensure_index
from ops.services import build_services
from ops.supervisor import StartupError, Supervisor
from ops.training import ensure_model
from orders.factory import ensure_seeded
from orders.fixture import FixtureError


def _raise_interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    model = ensure_model()
    try:
        ensure_index(settings)
    except CorpusError as exc:
        print(f"error in the FAQ corpus: {exc}\nfix it (python -m knowledge validate lists every problem)",
              file=sys.stderr)
        return 1
    try:
        seeded = ensure_seeded(settings)
    except FixtureError as exc:
        print(f"error in the demo orders fixture: {exc}", file=sys.stderr)
        return 1
    if seeded:
        print(f"==> orders: seeded {seeded} demo orders into {settings.order_db}", flush=True)
    from handoff.__main__ import demo_agents

    demo_agents(settings)  # first run only: demo agent accounts, passwords in var/secrets/
    specs = build_services(settings, model)
    supervisor = Supervisor(specs, settings.var_dir, settings.host)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    signal.signal(signal.SIGHUP, _raise_interrupt)
    print("==> starting services (Rasa takes about 20-40 s to load its model)", flush=True)
    try:
        supervisor.start()
    except StartupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\n==> interrupted during start-up; everything stopped")
        return 130
    by_name = {s.name: s for s in specs}
    print(
        "\n"
        f"  Web chat:        {by_name['web'].url}/\n"
        f"  Rasa server:     {by_name['rasa'].url}   (REST: POST /webhooks/rest/webhook, socket.io)\n"
        f"  Action server:   {by_name['actions'].url}\n"
        f"  Agent console:   {by_name['handoff'].url}   (demo logins: {settings.var_dir}/secrets/demo-agents.txt)\n"
        f"  Logs:            {supervisor.log_dir}/\n"
        "\nPress Ctrl-C to stop.\n", flush=True)
    code = 0
    try:
        while True:
            time.sleep(0.5)
            dead = supervisor.exited()
            if dead:
                print(f"error: {dead.name} stopped unexpectedly:\n{supervisor.log_tail(dead.name)}",
                      file=sys.stderr)
                code = 1
                break
    except KeyboardInterrupt:
        print("\n==> stopping", flush=True)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up short
        supervisor.stop()
        print("==> all services stopped", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
