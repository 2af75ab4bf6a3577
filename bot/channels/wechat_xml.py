"""WeChat's XML messages: a parser safe against hostile input, the typed inbound message, and the
passive reply / encrypted envelope writers. Pure functions, no I/O.

Hostile input is refused, never expanded: bodies over MAX_BODY bytes, any DTD (so no entity expansion
"billion laughs" and no external entities), a root other than <xml>, and malformed XML all raise
`XmlError`. Parsing is by defusedxml with DTDs forbidden outright.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Dict, Mapping, Optional
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

MAX_BODY = 64 * 1024  # WeChat messages are a few KiB at most
MAX_FIELD = 16 * 1024
# characters XML 1.0 cannot carry, and lone surrogates (unencodable in UTF-8)
_INVALID_XML_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


class XmlError(ValueError):
    """The body is not an acceptable WeChat XML message; the text says why."""


def parse(body: bytes, max_bytes: int = MAX_BODY) -> Dict[str, str]:
    """The top-level fields of a WeChat XML message: {tag: text} (nested elements are skipped)."""
    if not isinstance(body, (bytes, bytearray)):
        raise XmlError("body must be bytes")
    if len(body) > max_bytes:
        raise XmlError(f"body of {len(body)} bytes exceeds {max_bytes}")
    if not body.strip():
        raise XmlError("empty body")
    try:
        root = fromstring(bytes(body), forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise XmlError(f"forbidden XML construct: {type(exc).__name__}") from exc
    except (ParseError, ValueError) as exc:
        raise XmlError(f"malformed XML: {exc}") from exc
    if root.tag != "xml":
        raise XmlError(f"root element is <{root.tag}>, expected <xml>")
    fields: Dict[str, str] = {}
    for child in root:
        if len(child) == 0 and isinstance(child.tag, str):
            text = (child.text or "").strip() if child.tag != "Content" else (child.text or "")
            if len(text) > MAX_FIELD:
                raise XmlError(f"field {child.tag} too long")
            fields[child.tag] = text
    return fields


@dataclass(frozen=True)
class InboundMessage:
    """One message or event pushed by WeChat (Official Account) or WeCom."""
    to_user: str  # the OA's original id (gh_...) or the CorpID
    from_user: str  # OpenID (OA) or UserID (WeCom)
    create_time: int
    msg_type: str  # text, image, voice, video, shortvideo, location, link, file, event, ...
    content: str = ""
    msg_id: str = ""
    event: str = ""
    event_key: str = ""
    agent_id: str = ""

    @classmethod
    def from_fields(cls, fields: Mapping[str, str]) -> "InboundMessage":
        missing = [name for name in ("ToUserName", "FromUserName", "MsgType") if not fields.get(name)]
        if missing:
            raise XmlError(f"missing fields: {', '.join(missing)}")
        try:
            create_time = int(fields.get("CreateTime") or 0)
        except ValueError as exc:
            raise XmlError("CreateTime is not a number") from exc
        return cls(
            to_user=fields["ToUserName"], from_user=fields["FromUserName"], create_time=create_time,
            msg_type=fields["MsgType"].lower(), content=fields.get("Content", ""),
            msg_id=fields.get("MsgId", ""), event=fields.get("Event", "").lower(),
            event_key=fields.get("EventKey", ""), agent_id=fields.get("AgentID", ""))

    @property
    def dedupe_key(self) -> str:
        """What identifies this push across WeChat's retries: the MsgId, or for events (which have
        none) sender + CreateTime + event, as WeChat's documentation recommends."""
        if self.msg_id:
            return f"{self.to_user}:msg:{self.msg_id}"
        return f"{self.to_user}:evt:{self.from_user}:{self.create_time}:{self.event}"


def _cdata(text: str) -> str:
    clean = _INVALID_XML_CHARS.sub("", text)
    return "<![CDATA[" + clean.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def text_reply(to_user: str, from_user: str, content: str, create_time: Optional[int] = None) -> str:
    """A passive text reply (to_user = the customer, from_user = our account)."""
    return ("<xml>"
            f"<ToUserName>{_cdata(to_user)}</ToUserName>"
            f"<FromUserName>{_cdata(from_user)}</FromUserName>"
            f"<CreateTime>{int(time.time()) if create_time is None else int(create_time)}</CreateTime>"
            "<MsgType><![CDATA[text]]></MsgType>"
            f"<Content>{_cdata(content)}</Content>"
            "</xml>")


def encrypted_reply(encrypted: str, msg_signature: str, timestamp: str, nonce: str) -> str:
    """The envelope of an encrypted passive reply (safe mode, WeCom)."""
    return ("<xml>"
            f"<Encrypt>{_cdata(encrypted)}</Encrypt>"
            f"<MsgSignature>{_cdata(msg_signature)}</MsgSignature>"
            f"<TimeStamp>{int(timestamp)}</TimeStamp>"
            f"<Nonce>{_cdata(nonce)}</Nonce>"
            "</xml>")
