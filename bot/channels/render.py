"""Bot messages for text-only channels (WeChat, WeCom): buttons become numbered lines, and a reply
that is just one of those numbers (or a button's title) is taken as a press of that button."""
from __future__ import annotations

import threading
import time
from typing import Any, Dict, List, Mapping, Optional, Tuple


def as_text(message: Mapping[str, Any]) -> Tuple[str, List[Dict[str, str]]]:
    """The text to send for one bot message, and its buttons (title, payload) in the order shown."""
    lines: List[str] = []
    if message.get("text"):
        lines.append(str(message["text"]))
    if message.get("image"):
        lines.append(str(message["image"]))
    buttons = [b for b in (message.get("buttons") or message.get("quick_replies") or [])
               if isinstance(b, Mapping) and b.get("title")]
    for number, button in enumerate(buttons, start=1):
        lines.append(f"{number}. {button['title']}")
    custom = message.get("custom")
    if isinstance(custom, Mapping) and isinstance(custom.get("text"), str):
        lines.append(custom["text"])
    shown = [{"title": str(b["title"]), "payload": str(b.get("payload") or b["title"])} for b in buttons]
    return "\n".join(lines), shown


class ButtonMemory:
    """The buttons last shown in each conversation (in memory, for an hour)."""

    def __init__(self, ttl: float = 3600.0) -> None:
        self.ttl = ttl
        self._shown: Dict[str, Tuple[float, List[Dict[str, str]]]] = {}
        self._lock = threading.Lock()

    def remember(self, conversation_id: str, buttons: List[Dict[str, str]]) -> None:
        with self._lock:
            if buttons:
                self._shown[conversation_id] = (time.monotonic(), buttons)
            else:
                self._shown.pop(conversation_id, None)
            if len(self._shown) > 10000:
                cutoff = time.monotonic() - self.ttl
                self._shown = {k: v for k, v in self._shown.items() if v[0] >= cutoff}

    def resolve(self, conversation_id: str, text: str) -> Optional[str]:
        """The payload the customer means by `text`, if it names a button shown last; else None."""
        with self._lock:
            entry = self._shown.get(conversation_id)
        if not entry or time.monotonic() - entry[0] > self.ttl:
            return None
        buttons = entry[1]
        answer = text.strip()
        for button in buttons:
            if answer == button["title"]:
                return button["payload"]
        if answer.isascii() and answer.isdigit() and len(answer) <= 3 and 1 <= int(answer) <= len(buttons):
            return buttons[int(answer) - 1]["payload"]
        return None
