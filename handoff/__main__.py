"""The handoff service and its administration.

  python -m handoff serve [--port N]            run the service (agent console at /console/)
  python -m handoff add-agent ID --name NAME --skills general,orders [--role agent|supervisor|editor]
                              [--capacity 3]    add an agent; password from CS_AGENT_PASSWORD or asked
                                                (editors edit the FAQ and see no conversations: no skills)
  python -m handoff demo-agents                 add demo agents (passwords generated, written to
                                                var/secrets/demo-agents.txt) unless agents exist
  python -m handoff assign-advisor CUSTOMER AGENT
                                                make AGENT the customer's dedicated advisor (offered
                                                their handoffs first); AGENT '-' removes it
"""
from __future__ import annotations

import argparse
import getpass
import os
import secrets
import sys

from common import logs
from common.settings import ConfigError, Settings
from handoff import routing

DEMO_AGENTS = (
    ("lin", "林晓", "agent", "general,orders,after_sales"),
    ("chen", "陈静", "agent", "orders,after_sales,complaints"),
    ("vip-wang", "王芳", "agent", "vip,complaints,general"),
    ("sup", "Supervisor", "supervisor", "vip,complaints,after_sales,orders,general"),
)


def _skills(text: str) -> list:
    skills = sorted({s.strip() for s in text.split(",") if s.strip()})
    known = {q.skill for q in routing.DEFAULT_QUEUES.values()}
    unknown = set(skills) - known
    if not skills or unknown:
        raise SystemExit(f"--skills: give some of {', '.join(sorted(known))} (unknown: {sorted(unknown)})")
    return skills


def add_agent(args: argparse.Namespace, settings: Settings) -> int:
    from handoff.app import open_store
    from handoff.auth import hash_password

    password = os.environ.get("CS_AGENT_PASSWORD") or getpass.getpass(f"password for {args.id}: ")
    try:
        hashed = hash_password(password)
    except ValueError as exc:
        raise SystemExit(str(exc)) from None
    store = open_store(settings)
    if store.agent_row(args.id):
        raise SystemExit(f"agent {args.id!r} exists already")
    skills = [] if args.role == "editor" else _skills(args.skills or "")
    store.add_agent(args.id, args.name, hashed, skills, role=args.role, capacity=args.capacity)
    print(f"added {args.role} {args.id} ({args.name}), skills {','.join(skills) or '-'}, capacity {args.capacity}")
    return 0


def demo_agents(settings: Settings) -> int:
    from handoff.app import open_store
    from handoff.auth import hash_password

    store = open_store(settings)
    if store.agents():
        print("agents exist already; demo agents not added")
        return 0
    lines = []
    for agent_id, name, role, skills in DEMO_AGENTS:
        password = secrets.token_urlsafe(9)
        store.add_agent(agent_id, name, hash_password(password), _skills(skills), role=role, capacity=3)
        lines.append(f"{agent_id}\t{password}\t{role}\t{skills}")
    path = settings.var_dir / "secrets" / "demo-agents.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("# agent id, password, role, skills (demo accounts of this installation)\n" + "\n".join(lines) + "\n")
    print(f"demo agents added; their passwords are in {path}")
    return 0


def assign_advisor(args: argparse.Namespace, settings: Settings) -> int:
    from handoff.app import open_store, service_config
    from handoff.service import HandoffService

    store = open_store(settings)
    agent_id = None if args.agent == "-" else args.agent
    try:
        HandoffService(store, service_config(settings)).assign_advisor(args.customer, agent_id, by="cli",
                                                                      dispatch=False)
    except ValueError as exc:
        raise SystemExit(str(exc)) from None
    finally:
        store.close()
    print(f"customer {args.customer}: advisor {agent_id}" if agent_id else f"customer {args.customer}: no advisor")
    return 0


def main(argv=None) -> int:
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    parser = argparse.ArgumentParser(prog="python -m handoff", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    serve = sub.add_parser("serve", help="run the service")
    serve.add_argument("--port", type=int, default=settings.handoff_port)
    add = sub.add_parser("add-agent", help="add an agent or supervisor")
    add.add_argument("id")
    add.add_argument("--name", required=True)
    add.add_argument("--skills", default="", help="comma-separated: vip,complaints,after_sales,orders,general "
                     "(agents and supervisors)")
    add.add_argument("--role", choices=("agent", "supervisor", "editor"), default="agent")
    add.add_argument("--capacity", type=int, default=3)
    sub.add_parser("demo-agents", help="add demo agents if there are none")
    advisor = sub.add_parser("assign-advisor", help="a customer's dedicated advisor (VIPs)")
    advisor.add_argument("customer")
    advisor.add_argument("agent", help="the agent's id; '-' removes the advisor")
    args = parser.parse_args(argv)
    logs.configure(settings.log_level)
    if args.command == "add-agent":
        return add_agent(args, settings)
    if args.command == "demo-agents":
        return demo_agents(settings)
    if args.command == "assign-advisor":
        return assign_advisor(args, settings)
    if args.command in (None, "serve"):
        from aiohttp import web

        from handoff.app import build_app

        port = getattr(args, "port", settings.handoff_port)
        web.run_app(build_app(settings), host=settings.host, port=port, print=None, access_log=None)
        return 0
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
