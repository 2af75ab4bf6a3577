"""What the channels of one Rasa process share: the settings, the customer directory, the message
ledger, and customer tokens for the action server (which trusts only signed identities)."""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Mapping, Optional

from bot.channels.customers import CustomerDirectory
from bot.channels.ledger import MessageLedger
from common.identity import issue_token, token_from_metadata, verify_token
from common.settings import Settings

TOKEN_TTL = 600.0


@lru_cache(maxsize=1)
def settings() -> Settings:
    return Settings.from_env()


@lru_cache(maxsize=1)
def directory() -> CustomerDirectory:
    return CustomerDirectory(settings().channels_db)


@lru_cache(maxsize=1)
def ledger() -> MessageLedger:
    return MessageLedger(settings().channels_db)


def verified_customer(metadata: Optional[Mapping[str, Any]]) -> Optional[str]:
    """The customer a valid signed token in the message's metadata vouches for."""
    return verify_token(settings().identity_secret, token_from_metadata(metadata))


def customer_token(customer_id: Optional[str]) -> Optional[str]:
    """A short-lived token for a customer the channel has identified (a linked WeChat user), so that
    the action server sees them verified exactly as if the shop's site had sent the token."""
    secret = settings().identity_secret
    if not customer_id or not secret:
        return None
    return issue_token(secret, customer_id, ttl=TOKEN_TTL)


@lru_cache(maxsize=1)
def guard():
    """Rate limits and input checks shared by the channels of this process (`guard.py`)."""
    from bot.channels.guard import Guard

    return Guard(settings())
