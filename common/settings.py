"""All configuration of the product, in one place, read from the environment and validated at start.

Every setting has a default that runs the whole system on one machine with embedded storage
(SQLite, local files). Override with environment variables named `CS_<FIELD>` (upper case), e.g.
`CS_RASA_PORT=6005`. Invalid values stop the process with a message naming the variable.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Mapping, Optional

ROOT = Path(__file__).resolve().parent.parent


POSTGRES_SCHEMES = ("postgresql://", "postgres://")  # of the *_db_url settings
HANDOFF_TRIGGERS = ("request", "complaint", "escalation", "low_confidence", "negative_sentiment", "vip")


class ConfigError(ValueError):
    """A setting is missing or malformed; the message says which and how to fix it."""


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    rasa_port: int = 5005
    action_port: int = 5055
    web_port: int = 8080
    # Longest one call to the action server may hold a customer's turn (seconds; Rasa's own limit is
    # 5 min): past it the Rasa server gives up on the call and answers politely (bot/action_guard.py,
    # docs/reliability.md). Keep it above the order API's worst case (order_api_timeout x
    # (order_api_retries + 1) plus backoff: about 10 s with the defaults).
    action_timeout: float = 15.0
    # Runtime state (databases, logs, pid files); git-ignored.
    var_dir: Path = ROOT / "var"
    faq_dir: Path = ROOT / "data" / "faq"
    # Knowledge base: index root (versions + CURRENT pointer), encoder spec (knowledge/encoders.py),
    # build-time adaptation of sentence-transformers parts, and the decision thresholds (0..1) tuned
    # with `python -m knowledge eval --sweep` (see bench/kb/README.md).
    kb_dir: Path = ROOT / "var" / "kb"
    kb_encoder: str = "use+minilm"
    kb_adapt_epochs: int = 0
    kb_answer_threshold: float = 0.22
    kb_suggest_threshold: float = 0.12
    kb_hybrid_weight: float = 0.0
    # Messages no entry answers (zh/en lists): the classifier's "none of these" class; "none" for none.
    kb_negatives: str = "data/kb/out_of_scope.yml"
    # Content editors (knowledge/publish.py, docs/knowledge-editing.md): how often a running process
    # looks for a new live version (seconds); the regression set a publish must pass (comma-separated
    # query files) with its margins against the version in service and absolute floors
    # (knowledge/gate.py says why these numbers); "commit" records publishes as git commits of the
    # corpus when it is in a git work tree, "off" does not.
    kb_poll_seconds: float = 2.0
    kb_regression_queries: str = "bench/kb/queries-zh-dev.jsonl,bench/kb/queries-en-dev.jsonl"
    kb_gate_recall_margin: float = 0.02
    kb_gate_wrong_margin: float = 0.02
    kb_gate_min_recall: float = 0.85
    kb_gate_max_wrong: float = 0.08
    kb_git: str = "commit"
    # Orders: "sqlite" (embedded, seeded from data/orders/demo-orders.yml) or "http" (an external order
    # API, docs/order-api.md: base URL + bearer token, timeout in seconds per attempt, retries on
    # timeouts/5xx, circuit breaker opening after that many failures in a row for that many seconds).
    order_backend: str = "sqlite"
    order_api_url: str = ""
    order_api_token: str = ""
    order_api_timeout: float = 3.0
    order_api_retries: int = 2
    order_breaker_failures: int = 5
    order_breaker_cooldown: float = 30.0
    # Identity: secret that signs customer tokens issued by the shop's site/app/WeChat bridge (empty:
    # channel identity off, customers prove orders with the phone's last 4 digits); wrong answers
    # allowed before order lookups lock for that many minutes (per conversation and per order).
    identity_secret: str = ""
    verify_max_attempts: int = 3
    verify_lockout_minutes: int = 30
    # Handoff to people (handoff/): service port; business hours in the shop's time ("HH:MM-HH:MM",
    # every day; "00:00-24:00" = always) and its UTC offset; seconds an offer waits for the agent
    # before it goes back to the queue; average handling time used for the wait estimate; the
    # storage (empty: SQLite in var/; or a postgresql:// URL).
    handoff_port: int = 5060
    handoff_hours: str = "09:00-22:00"
    handoff_utc_offset: str = "+08:00"
    handoff_offer_seconds: float = 45.0
    handoff_average_handle_seconds: float = 300.0
    handoff_db_url: str = ""
    # Scale-out (docs/scale-out.md; empty = one process of each on this machine, SQLite): Rasa's tracker
    # store in PostgreSQL (a postgresql:// URL; endpoints.yml is then rendered from these settings), Redis
    # (redis://…) for Rasa's lock store, the socket.io channel across Rasa servers and the handoff
    # services' live updates; where services reach each other when a load balancer stands in between
    # (empty: http://host:port of the local process).
    tracker_db_url: str = ""
    redis_url: str = ""
    rasa_base_url: str = ""
    action_base_url: str = ""
    handoff_base_url: str = ""
    # How long a handoff service's lease on a conversation's outbox lasts without renewal: after a crash,
    # another service (or the restarted one, on another machine) takes over its deliveries after this.
    handoff_outbox_lease_seconds: float = 60.0
    # Triggers (each can be switched off): comma-separated subset of
    # request,complaint,escalation,low_confidence,negative_sentiment,vip; a message whose P(negative)
    # reaches handoff_sentiment_strong hands over at once; handoff_sentiment_trend_turns messages in a
    # row each at or above handoff_sentiment_trend_level do too; low understanding hands over after
    # handoff_low_confidence_turns misses in a row (the first miss gets a clarification).
    handoff_triggers: str = "request,complaint,escalation,low_confidence,negative_sentiment,vip"
    handoff_sentiment_strong: float = 0.9
    handoff_sentiment_trend_turns: int = 3
    handoff_sentiment_trend_level: float = 0.6
    handoff_low_confidence_turns: int = 2
    # Customers (customers/, docs/customers.md): a customer handed over again within this many hours of
    # their last handoff is offered first to the agent who had it (0: off).
    handoff_return_hours: float = 72.0
    # Ticket categories, departments, due times and the back office's calendar (docs/tickets.md);
    # empty: data/handoff/tickets.yml.
    tickets_file: str = ""
    # RFM value tiers: four increasing thresholds each for recency (days since the latest purchase: 5 at
    # or under the first ... 1 over the last), frequency (purchases in the window) and monetary value
    # (yuan spent in the window) (1 under the first ... 5 at or over the last); the window in days; core
    # customers spending at least rfm_vip_yuan in it are VIPs (0: only the order system's tier).
    rfm_recency_days: str = "30,90,180,365"
    rfm_frequency_orders: str = "2,3,5,8"
    rfm_monetary_yuan: str = "200,1000,3000,10000"
    rfm_window_days: int = 365
    rfm_vip_yuan: float = 20000.0
    # Channels (bot/channels/, wired in credentials.yml; a channel whose credentials are empty is off
    # and answers 503). WeChat Official Account: the server token, AppID, AppSecret, EncodingAESKey
    # (43 characters; needed for safe mode); WeCom application: token, CorpID, the app's secret, its
    # AgentID, EncodingAESKey (WeCom always encrypts). The API bases are WeChat's (tests point them at a
    # fake). A WeChat turn slower than wechat_passive_seconds is answered "success" at once and its
    # replies follow through the customer-service message API (WeChat waits 5 s, then retries).
    wechat_token: str = ""
    wechat_app_id: str = ""
    wechat_app_secret: str = ""
    wechat_aes_key: str = ""
    wechat_api_base: str = "https://api.weixin.qq.com"
    wecom_token: str = ""
    wecom_corp_id: str = ""
    wecom_secret: str = ""
    wecom_agent_id: str = ""
    wecom_aes_key: str = ""
    wecom_api_base: str = "https://qyapi.weixin.qq.com"
    wechat_passive_seconds: float = 4.0
    # Mobile-app back end (bot/channels/app.py, docs/app-api.md): the shared secret that signs its
    # requests and our callbacks (HMAC-SHA256; empty = channel off), and the URL of its callback for
    # messages that come later (agents' replies).
    app_channel_secret: str = ""
    app_callback_url: str = ""
    # Rate limits (common/ratelimit.py: token buckets, `burst` at once then `per_minute`; 0 = off).
    # Customer: messages per customer (a verified customer, else the channel user: REST sender, widget
    # session, app user, WeChat OpenID). IP: requests per client address on the REST, socket.io and
    # app channels (the app's only for requests failing the signature, as all of its back end's calls
    # come from one address; WeChat's not at all: pushes come from WeChat's servers). Login: failed
    # console logins per address (on top of the per-account lockout). Over a limit: 429 with
    # Retry-After (WeChat: a polite text reply). Addresses: the peer's, or, when the peer is one of
    # the comma-separated trusted_proxies, the right-most X-Forwarded-For address that is not.
    rate_customer_per_minute: float = 60.0
    rate_customer_burst: int = 30
    rate_ip_per_minute: float = 600.0
    rate_ip_burst: int = 300
    rate_login_ip_per_minute: float = 10.0
    rate_login_ip_burst: int = 20
    trusted_proxies: str = ""
    # Proactive notifications (proactive/, docs/proactive.md): "on" (a shop turns them on deliberately:
    # they message customers unasked) or "off" (the default: no scheduler process); the service's
    # port (health, metrics); seconds between rounds; quiet hours in the shop's time
    # (CS_HANDOFF_UTC_OFFSET; "HH:MM-HH:MM", may wrap past midnight, or "off"); at most rate_count
    # notifications per customer in rate_hours (0 = no limit); WeChat's customer-service window (hours
    # after the customer's last message); a parcel is late promise_hours after shipping and stalled
    # after stale_hours without a tracking update; events older than lookback_hours are not news; a
    # notification's outcome is what the customer did within outcome_hours. The notifications' store,
    # shared by every scheduler replica and the action server (opt-outs): empty = the SQLite file
    # var/proactive.sqlite3 (replicas on one host), or a postgresql:// URL (replicas anywhere; the schema
    # is created at start; may be the handoff store's database). Outcomes are read from Rasa's tracker
    # store (tracker_db_url when set).
    proactive: str = "off"
    proactive_port: int = 5070
    proactive_interval: float = 60.0
    proactive_quiet_hours: str = "22:00-08:00"
    proactive_rate_count: int = 2
    proactive_rate_hours: float = 24.0
    proactive_window_hours: float = 48.0
    proactive_promise_hours: float = 72.0
    proactive_stale_hours: float = 24.0
    proactive_lookback_hours: float = 72.0
    proactive_outcome_hours: float = 24.0
    proactive_db_url: str = ""
    log_level: str = "INFO"

    @property
    def kb_log_db(self) -> Path:
        return self.var_dir / "kb-queries.sqlite3"

    @property
    def order_db(self) -> Path:
        return self.var_dir / "orders.sqlite3"

    @property
    def identity_db(self) -> Path:
        return self.var_dir / "identity.sqlite3"

    @property
    def handoff_db(self) -> Path:
        return self.var_dir / "handoff.sqlite3"

    @property
    def tickets_path(self) -> Path:
        return Path(self.tickets_file).expanduser() if self.tickets_file else ROOT / "data" / "handoff" / "tickets.yml"

    @property
    def handoff_url(self) -> str:
        return self.handoff_base_url.rstrip("/") or f"http://{self.host}:{self.handoff_port}"

    @property
    def handoff_trigger_set(self) -> frozenset:
        return frozenset(t.strip() for t in self.handoff_triggers.split(",") if t.strip())

    @property
    def rasa_url(self) -> str:
        return self.rasa_base_url.rstrip("/") or f"http://{self.host}:{self.rasa_port}"

    @property
    def action_url(self) -> str:
        return self.action_base_url.rstrip("/") or f"http://{self.host}:{self.action_port}"

    @property
    def web_url(self) -> str:
        return f"http://{self.host}:{self.web_port}"

    def to_env(self) -> dict:
        """The CS_* variables that reproduce these settings in a child process."""
        return {f"CS_{f.name.upper()}": str(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_env(cls, env: Optional[Mapping[str, str]] = None) -> "Settings":
        env = os.environ if env is None else env
        values = {}
        for f in fields(cls):
            name = f"CS_{f.name.upper()}"
            raw = env.get(name)
            if raw is None or raw == "":
                continue
            values[f.name] = _parse(name, raw, f.default)
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        ports = {"CS_RASA_PORT": self.rasa_port, "CS_ACTION_PORT": self.action_port,
                 "CS_WEB_PORT": self.web_port, "CS_HANDOFF_PORT": self.handoff_port}
        for name, port in ports.items():
            if not 1 <= port <= 65535:
                raise ConfigError(f"{name}={port}: a port must be between 1 and 65535")
        if len(set(ports.values())) != len(ports):
            raise ConfigError(f"ports must differ, got {ports}")
        if not 1.0 <= self.action_timeout <= 300.0:
            raise ConfigError(f"CS_ACTION_TIMEOUT={self.action_timeout}: seconds, between 1 and 300")
        if self.log_level.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ConfigError(
                f"CS_LOG_LEVEL={self.log_level}: use DEBUG, INFO, WARNING or ERROR")
        if not 0.0 < self.kb_answer_threshold <= 1.0:
            raise ConfigError(f"CS_KB_ANSWER_THRESHOLD={self.kb_answer_threshold}: must be in (0, 1]")
        if not 0.0 <= self.kb_suggest_threshold <= self.kb_answer_threshold:
            raise ConfigError(f"CS_KB_SUGGEST_THRESHOLD={self.kb_suggest_threshold}: must be between 0 and "
                              f"CS_KB_ANSWER_THRESHOLD ({self.kb_answer_threshold})")
        if not 0.0 <= self.kb_hybrid_weight < 1.0:
            raise ConfigError(f"CS_KB_HYBRID_WEIGHT={self.kb_hybrid_weight}: must be in [0, 1)")
        if not 0 <= self.kb_adapt_epochs <= 20:
            raise ConfigError(f"CS_KB_ADAPT_EPOCHS={self.kb_adapt_epochs}: must be between 0 and 20")
        self._validate_kb_publishing()
        self._validate_orders()
        self._validate_handoff()
        self._validate_scale_out()
        self._validate_channels()
        self._validate_rate_limits()
        self._validate_proactive()
        self._validate_customers()
        from knowledge.encoders import EncoderError, spec_parts  # light: no model is loaded

        try:
            for part in spec_parts(self.kb_encoder):
                if part not in ("use", "minilm") and not (part.startswith("st:") and part[3:].strip()):
                    raise EncoderError(f"unknown encoder {part!r}")
        except EncoderError as exc:
            raise ConfigError(f"CS_KB_ENCODER={self.kb_encoder!r}: {exc}; use 'use', 'minilm', "
                              "'st:<local model path>' or parts joined with '+'") from None

    def _validate_kb_publishing(self) -> None:
        if not 0.05 <= self.kb_poll_seconds <= 300:
            raise ConfigError(f"CS_KB_POLL_SECONDS={self.kb_poll_seconds}: seconds, between 0.05 and 300")
        if self.kb_git not in ("commit", "off"):
            raise ConfigError(f"CS_KB_GIT={self.kb_git!r}: use 'commit' (git history of the corpus) or 'off'")
        for name in ("kb_gate_recall_margin", "kb_gate_wrong_margin"):
            if not 0.0 <= getattr(self, name) <= 0.5:
                raise ConfigError(f"CS_{name.upper()}={getattr(self, name)}: a share between 0 and 0.5")
        for name in ("kb_gate_min_recall", "kb_gate_max_wrong"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"CS_{name.upper()}={getattr(self, name)}: a share between 0 and 1")
        if not self.kb_regression_files:
            raise ConfigError("CS_KB_REGRESSION_QUERIES: give at least one query file (JSON Lines)")

    @property
    def kb_regression_files(self) -> tuple:
        """The regression query files (relative names are under the repository)."""
        return tuple(ROOT / p.strip() for p in self.kb_regression_queries.split(",") if p.strip())

    @property
    def kb_publish_log(self) -> Path:
        return self.var_dir / "kb-publish.jsonl"

    def _validate_orders(self) -> None:
        if self.order_backend not in ("sqlite", "http"):
            raise ConfigError(f"CS_ORDER_BACKEND={self.order_backend!r}: use 'sqlite' or 'http'")
        if self.order_backend == "http":
            if not self.order_api_url.startswith(("http://", "https://")):
                raise ConfigError(f"CS_ORDER_API_URL={self.order_api_url!r}: CS_ORDER_BACKEND=http needs the "
                                  "order API's base URL (http:// or https://)")
            if not self.order_api_token:
                raise ConfigError("CS_ORDER_API_TOKEN is empty: CS_ORDER_BACKEND=http needs the order API's "
                                  "bearer token")
        if not 0 < self.order_api_timeout <= 60:
            raise ConfigError(f"CS_ORDER_API_TIMEOUT={self.order_api_timeout}: seconds, in (0, 60]")
        if not 0 <= self.order_api_retries <= 5:
            raise ConfigError(f"CS_ORDER_API_RETRIES={self.order_api_retries}: must be between 0 and 5")
        if self.order_breaker_failures < 1 or self.order_breaker_cooldown <= 0:
            raise ConfigError("CS_ORDER_BREAKER_FAILURES must be >= 1 and CS_ORDER_BREAKER_COOLDOWN > 0")
        if self.identity_secret and len(self.identity_secret) < 16:
            raise ConfigError("CS_IDENTITY_SECRET is too short: use at least 16 random characters")
        if not 1 <= self.verify_max_attempts <= 10:
            raise ConfigError(f"CS_VERIFY_MAX_ATTEMPTS={self.verify_max_attempts}: must be between 1 and 10")
        if not 1 <= self.verify_lockout_minutes <= 24 * 60:
            raise ConfigError(f"CS_VERIFY_LOCKOUT_MINUTES={self.verify_lockout_minutes}: must be between 1 and 1440")

    def _validate_handoff(self) -> None:
        from handoff.hours import HoursError, parse_hours, parse_offset

        try:
            parse_hours(self.handoff_hours)
            parse_offset(self.handoff_utc_offset)
        except HoursError as exc:
            raise ConfigError(f"CS_HANDOFF_HOURS/CS_HANDOFF_UTC_OFFSET: {exc}") from None
        unknown = self.handoff_trigger_set - set(HANDOFF_TRIGGERS)
        if unknown:
            raise ConfigError(f"CS_HANDOFF_TRIGGERS: unknown {sorted(unknown)}; known: {', '.join(HANDOFF_TRIGGERS)}")
        if not 5 <= self.handoff_offer_seconds <= 3600:
            raise ConfigError(f"CS_HANDOFF_OFFER_SECONDS={self.handoff_offer_seconds}: between 5 and 3600")
        if not 10 <= self.handoff_average_handle_seconds <= 86400:
            raise ConfigError("CS_HANDOFF_AVERAGE_HANDLE_SECONDS: between 10 and 86400")
        if self.handoff_db_url and not self.handoff_db_url.startswith(POSTGRES_SCHEMES):
            raise ConfigError(f"CS_HANDOFF_DB_URL: empty (SQLite in {self.var_dir}) or a postgresql:// URL")
        for name in ("handoff_sentiment_strong", "handoff_sentiment_trend_level"):
            if not 0.5 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"CS_{name.upper()}={getattr(self, name)}: a probability in [0.5, 1]")
        if not 1 <= self.handoff_sentiment_trend_turns <= 10 or not 1 <= self.handoff_low_confidence_turns <= 5:
            raise ConfigError("CS_HANDOFF_SENTIMENT_TREND_TURNS must be 1-10, CS_HANDOFF_LOW_CONFIDENCE_TURNS 1-5")

    def _validate_customers(self) -> None:
        from customers.rfm import RfmConfig

        if not 0 <= self.handoff_return_hours <= 24 * 90:
            raise ConfigError(f"CS_HANDOFF_RETURN_HOURS={self.handoff_return_hours}: hours, 0 (off) to 2160")
        if not 1 <= self.rfm_window_days <= 3660:
            raise ConfigError(f"CS_RFM_WINDOW_DAYS={self.rfm_window_days}: days, between 1 and 3660")
        if self.rfm_vip_yuan < 0:
            raise ConfigError(f"CS_RFM_VIP_YUAN={self.rfm_vip_yuan}: 0 (the order system's tier only) or an amount")
        try:
            RfmConfig.from_settings(self)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None

    def _validate_scale_out(self) -> None:
        if self.tracker_db_url and not self.tracker_db_url.startswith(POSTGRES_SCHEMES):
            raise ConfigError("CS_TRACKER_DB_URL: empty (SQLite in var/) or a postgresql://user:password@host/db URL")
        if self.redis_url and not self.redis_url.startswith(("redis://", "rediss://")):
            raise ConfigError("CS_REDIS_URL: empty (one process of each) or a redis:// (rediss://) URL")
        if not 5 <= self.handoff_outbox_lease_seconds <= 600:
            raise ConfigError(f"CS_HANDOFF_OUTBOX_LEASE_SECONDS={self.handoff_outbox_lease_seconds}: between 5 and 600 "
                              "(longer than one delivery to Rasa can take: 30 s)")
        for name in ("rasa_base_url", "action_base_url", "handoff_base_url"):
            value = getattr(self, name)
            if value and not value.startswith(("http://", "https://")):
                raise ConfigError(f"CS_{name.upper()}={value!r}: empty (this machine) or an http(s):// URL")

    def _validate_channels(self) -> None:
        for prefix, required in (("wechat", ("token", "app_id", "app_secret")),
                                 ("wecom", ("token", "corp_id", "secret", "agent_id", "aes_key"))):
            values = {name: getattr(self, f"{prefix}_{name}") for name in (*required, "aes_key")}
            if any(values.values()):
                missing = [f"CS_{prefix.upper()}_{name.upper()}" for name in required if not values[name]]
                if missing:
                    raise ConfigError(f"the {prefix} channel is half configured: set {', '.join(missing)} "
                                      f"(or clear every CS_{prefix.upper()}_* to switch it off)")
                key = values["aes_key"]
                if key and (len(key) != 43 or not key.isalnum() or not key.isascii()):
                    raise ConfigError(f"CS_{prefix.upper()}_AES_KEY: an EncodingAESKey is 43 letters and digits "
                                      "(copy it from the admin console)")
            if not getattr(self, f"{prefix}_api_base").startswith(("http://", "https://")):
                raise ConfigError(f"CS_{prefix.upper()}_API_BASE: an http(s):// URL")
        if self.wecom_agent_id and not (self.wecom_agent_id.isascii() and self.wecom_agent_id.isdigit()):
            raise ConfigError(f"CS_WECOM_AGENT_ID={self.wecom_agent_id!r}: the application's numeric AgentID")
        if not 0.5 <= self.wechat_passive_seconds <= 4.5:
            raise ConfigError(f"CS_WECHAT_PASSIVE_SECONDS={self.wechat_passive_seconds}: between 0.5 and 4.5 "
                              "(WeChat gives up after 5 s)")
        if self.app_channel_secret and len(self.app_channel_secret) < 16:
            raise ConfigError("CS_APP_CHANNEL_SECRET is too short: use at least 16 random characters")
        if self.app_callback_url and not self.app_callback_url.startswith(("http://", "https://")):
            raise ConfigError(f"CS_APP_CALLBACK_URL={self.app_callback_url!r}: an http(s):// URL")

    def _validate_rate_limits(self) -> None:
        import ipaddress

        for kind in ("customer", "ip", "login_ip"):
            per_minute, burst = getattr(self, f"rate_{kind}_per_minute"), getattr(self, f"rate_{kind}_burst")
            if not 0 <= per_minute <= 100_000:
                raise ConfigError(f"CS_RATE_{kind.upper()}_PER_MINUTE={per_minute}: between 0 (off) and 100000")
            if not 0 <= burst <= 100_000:
                raise ConfigError(f"CS_RATE_{kind.upper()}_BURST={burst}: between 0 (off) and 100000")
        for proxy in (p.strip() for p in self.trusted_proxies.split(",") if p.strip()):
            try:
                ipaddress.ip_address(proxy)
            except ValueError:
                raise ConfigError(f"CS_TRUSTED_PROXIES: {proxy!r} is not an IP address (comma-separated "
                                  "addresses of the reverse proxies in front of the services)") from None

    def rate_limit(self, kind: str):
        """The `common.ratelimit.Limit` of 'customer', 'ip' or 'login_ip'."""
        from common.ratelimit import Limit

        return Limit(getattr(self, f"rate_{kind}_per_minute"), getattr(self, f"rate_{kind}_burst"))

    @property
    def channels_db(self) -> Path:
        return self.var_dir / "channels.sqlite3"

    @property
    def proactive_db(self) -> Path:
        return self.var_dir / "proactive.sqlite3"

    @property
    def tracker_db(self) -> Path:
        """Rasa's SQLite tracker store (endpoints.yml; ops/services.py gives Rasa this path)."""
        return self.var_dir / "rasa-tracker.sqlite3"

    def _validate_proactive(self) -> None:
        from proactive.policy import parse_quiet_hours

        if self.proactive not in ("on", "off"):
            raise ConfigError(f"CS_PROACTIVE={self.proactive!r}: 'on' or 'off'")
        if not 1 <= self.proactive_port <= 65535:
            raise ConfigError(f"CS_PROACTIVE_PORT={self.proactive_port}: a port must be between 1 and 65535")
        if not 0.05 <= self.proactive_interval <= 86400:
            raise ConfigError(f"CS_PROACTIVE_INTERVAL={self.proactive_interval}: seconds, between 0.05 and 86400")
        try:
            parse_quiet_hours(self.proactive_quiet_hours)
        except ValueError as exc:
            raise ConfigError(f"CS_PROACTIVE_QUIET_HOURS: {exc}") from None
        if not 0 <= self.proactive_rate_count <= 100:
            raise ConfigError(f"CS_PROACTIVE_RATE_COUNT={self.proactive_rate_count}: between 0 (no limit) and 100")
        for name in ("rate_hours", "window_hours", "promise_hours", "stale_hours", "lookback_hours",
                     "outcome_hours"):
            value = getattr(self, f"proactive_{name}")
            if not 0 < value <= 24 * 90:
                raise ConfigError(f"CS_PROACTIVE_{name.upper()}={value}: hours, more than 0 and at most 2160")
        if self.proactive_db_url and not self.proactive_db_url.startswith(POSTGRES_SCHEMES):
            scheme, found, _ = self.proactive_db_url.partition("://")  # the rest may hold a password: not shown
            named = found and re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", scheme)
            raise ConfigError(f"CS_PROACTIVE_DB_URL: {f'a {scheme}:// URL' if named else 'not a URL'}; use a "
                              "postgresql://user:password@host/db URL, or leave it empty for the SQLite file "
                              f"{self.proactive_db}")
        if self.proactive_window_hours > 48:
            raise ConfigError(f"CS_PROACTIVE_WINDOW_HOURS={self.proactive_window_hours}: WeChat allows "
                              "customer-service messages only within 48 hours of the customer's last message")

    @property
    def kb_thresholds(self):
        from knowledge.search import Thresholds

        return Thresholds(answer=self.kb_answer_threshold, suggest=self.kb_suggest_threshold)

    @property
    def kb_build_options(self):
        from knowledge.index import BuildOptions
        from knowledge.negatives import load_negatives

        off = self.kb_negatives.lower() in ("", "none")
        negatives = () if off else load_negatives(ROOT / self.kb_negatives)  # an absolute path replaces ROOT
        return BuildOptions(encoder=self.kb_encoder, adapt_epochs=self.kb_adapt_epochs, negatives=negatives)


def _parse(name: str, raw: str, default: object) -> object:
    try:
        if isinstance(default, bool):
            if raw.lower() in {"1", "true", "yes", "on"}:
                return True
            if raw.lower() in {"0", "false", "no", "off"}:
                return False
            raise ValueError(raw)
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
        if isinstance(default, Path):
            path = Path(raw).expanduser()
            return path if path.is_absolute() else ROOT / path
        return raw
    except ValueError:
        kind = type(default).__name__
        raise ConfigError(f"{name}={raw!r}: expected a value of type {kind}") from None
