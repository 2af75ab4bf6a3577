"""Tokenizer for Chinese, English and mixed zh/en customer messages.

Jieba segments Chinese well and leaves Latin words whole, but it also emits whitespace as tokens and
keeps full-width forms ("ＯＲＤＥＲ", "１２３") apart from their ASCII twins. This component is Jieba
plus three fixes: whitespace tokens are dropped, each token's text is NFKC-normalised and
lower-cased, and a run of 4+ digits becomes its shape ("<12digits>"): an order number or a phone's
last 4 digits says what kind of answer a message is, but its particular digits must not sway the
intent ("where is my order 261117482638" was read as `inform` because of unseen digit n-grams).
Character offsets still point into the original text, so entity spans stay correct (entities come
from the regex extractor, which reads the text itself).
"""
from __future__ import annotations

import re
import unicodedata
from typing import List, Optional, Text

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.tokenizers.jieba_tokenizer import JiebaTokenizer
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.shared.nlu.training_data.message import Message

_DIGITS = re.compile(r"\d{4,}")


def normalise_token(text: str) -> str:
    """Full-width to half-width (NFKC), lower case, digit runs as their shape:
    'ＯＲＤＥＲ' -> 'order', '261117482638' -> '<12digits>'."""
    text = unicodedata.normalize("NFKC", text).lower()
    return _DIGITS.sub(lambda m: f"<{len(m.group())}digits>", text)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=True)
class MixedLanguageTokenizer(JiebaTokenizer):
    """Jieba tokenizer that drops whitespace tokens and normalises token text."""

    @staticmethod
    def supported_languages() -> Optional[List[Text]]:
        return ["zh", "en"]

    def tokenize(self, message: Message, attribute: Text) -> List[Token]:
        tokens = super().tokenize(message, attribute)
        result = []
        for t in tokens:
            if not t.text.strip():
                continue
            text = normalise_token(t.text)
            # Count-vector featurizers read the lemma: digit shapes must reach them too.
            lemma = text if _DIGITS.search(unicodedata.normalize("NFKC", t.text)) else t.lemma
            result.append(Token(text, t.start, t.end, data=t.data, lemma=lemma))
        return result
