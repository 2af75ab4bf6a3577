"""Is the customer asking about their ticket? A message quoting a ticket number (T + 6 digits, the
number they were told) or asking for their tickets' progress ("我的工单进度", "ticket status").
Pure and dependency-free: the handoff policy (Rasa env) and the actions (3.11 env) both use it; no
NLU intent, so the number works whatever the classifier makes of the rest of the sentence."""
from __future__ import annotations

import re
from typing import Optional, Tuple

NUMBER = re.compile(r"(?<![A-Za-z0-9])[Tt](\d{6})(?!\d)")
ASKING = re.compile(
    r"工单.{0,6}(进度|状态|进展|怎么样|怎样|如何|到哪|处理)|(查|看)(一下|询|看)?.{0,3}工单|我的工单"
    r"|\bmy tickets?\b|\bticket(s)? status\b|\bstatus of (my |the )?ticket|\bticket(s)? progress\b",
    re.IGNORECASE)


def ticket_query(text: str) -> Tuple[bool, Optional[str]]:
    """(asking about tickets, the quoted number like "T000012" or None)."""
    text = text or ""
    found = NUMBER.search(text)
    if found:
        return True, f"T{found.group(1)}"
    return bool(ASKING.search(text)), None
