"""The OpenAPI document describes every route the handoff service serves, with the same methods."""
from __future__ import annotations

import re

import yaml

from common.settings import Settings
from handoff.app import OPENAPI, build_app


def test_every_api_route_is_documented_with_its_method(tmp_path):
    app = build_app(Settings(var_dir=tmp_path))
    documented = yaml.safe_load(OPENAPI.read_text(encoding="utf-8"))["paths"]
    served = set()
    for route in app.router.routes():
        path = route.resource.canonical if route.resource else ""
        if (path.startswith("/api/") or path == "/health") and route.method != "HEAD" \
                and path != "/api/openapi.yaml":
            served.add((path, route.method.lower()))
    missing = {(p, m) for p, m in served if m not in (documented.get(p) or {})}
    assert not missing, f"undocumented routes: {sorted(missing)}"
    extra = {(p, m) for p, spec in documented.items() for m in spec if m in ("get", "post", "put", "delete")
             and (p, m) not in served}
    assert not extra, f"documented but not served: {sorted(extra)}"
    assert all(re.match(r"^/(api/|health$)", p) for p in documented)
