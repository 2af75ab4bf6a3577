"""The processes that make up the product on one machine, built from Settings."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List

from common.secrets import rasa_api_token
from common.settings import Settings
from ops.endpoints import endpoints_file
from ops.paths import RASA, ROOT, VENV_BIN
from ops.training import rasa_env


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    argv: List[str]
    port: int
    health_url: str
    url: str
    env: Dict[str, str] = field(default_factory=dict)
    # Rasa loads TensorFlow and the model: it needs far longer than the others to come up.
    start_timeout: float = 60.0


def build_services(settings: Settings, model: Path) -> List[ServiceSpec]:
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    # Children see the same settings as the supervisor, whether they came from defaults or env.
    common_env = {
        **settings.to_env(),
        "PYTHONPATH": str(ROOT),
        "PYTHONUNBUFFERED": "1",
    }
    rasa = ServiceSpec(
        name="rasa",
        argv=[str(RASA), "run", "--model", str(model), "--endpoints", str(endpoints_file(settings)),
              "--credentials", "credentials.yml", "--interface", settings.host,
              "--port", str(settings.rasa_port), "--cors", "*",
              # "=": a token may start with "-" (URL-safe base64), which argparse would take for an option
              "--enable-api", f"--auth-token={rasa_api_token(settings.var_dir)}"],
        port=settings.rasa_port,
        health_url=f"{settings.rasa_url}/",
        url=settings.rasa_url,
        env={**rasa_env(), **common_env,
             "CS_ACTION_ENDPOINT": f"{settings.action_url}/webhook",
             "CS_TRACKER_DB": str(settings.var_dir / "rasa-tracker.sqlite3")},
        start_timeout=180.0,
    )
    actions = ServiceSpec(
        name="actions",
        argv=[str(VENV_BIN / "python"), "-m", "actions", "--port", str(settings.action_port)],
        port=settings.action_port,
        health_url=f"{settings.action_url}/health",
        url=settings.action_url,
        env=common_env,
    )
    webchat = ServiceSpec(
        name="web",
        argv=[str(VENV_BIN / "python"), "-m", "web", "--port", str(settings.web_port)],
        port=settings.web_port,
        health_url=f"{settings.web_url}/health",
        url=settings.web_url,
        env=common_env,
    )
    handoff = ServiceSpec(
        name="handoff",
        argv=[str(VENV_BIN / "python"), "-m", "handoff", "serve", "--port", str(settings.handoff_port)],
        port=settings.handoff_port,
        health_url=f"{settings.handoff_url}/health",
        url=f"{settings.handoff_url}/console/",
        env=common_env,
    )
    services = [handoff, actions, rasa, webchat]
    if settings.proactive == "on":
        # Proactive notifications (proactive/): the scheduler; health and metrics on its port.
        services.append(ServiceSpec(
            name="proactive",
            argv=[str(VENV_BIN / "python"), "-m", "proactive", "serve", "--port", str(settings.proactive_port)],
            port=settings.proactive_port,
            health_url=f"http://{settings.host}:{settings.proactive_port}/health",
            url=f"http://{settings.host}:{settings.proactive_port}/metrics",
            env=common_env,
        ))
    return services
