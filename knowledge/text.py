"""Text normalisation and tokenisation for lexical matching (BM25) in Chinese and English."""
from __future__ import annotations

import logging
import re
import unicodedata
from typing import List

_WORD = re.compile(r"[a-z0-9]+|[\u3400-\u4dbf\u4e00-\u9fff]+")
_STOP = frozenset({"the", "a", "an", "is", "are", "do", "does", "i", "you", "my", "your", "to", "of", "in",
                   "it", "can", "me", "for", "and", "on", "be", "what", "how", "的", "了", "吗", "呢", "吧",
                   "啊", "我", "你", "是", "在", "有", "么", "请问"})


def normalise(text: str) -> str:
    return unicodedata.normalize("NFKC", text or "").lower().strip()


def tokens(text: str) -> List[str]:
    """Words for English, Jieba words plus single characters for Chinese; stop words dropped."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    out: List[str] = []
    for chunk in _WORD.findall(normalise(text)):
        if chunk.isascii():
            out.append(chunk)
        else:
            out.extend(jieba.lcut(chunk))
            if len(chunk) > 1:
                out.extend(chunk)  # characters: robust to segmentation differences and typos
    return [t for t in out if t not in _STOP]
