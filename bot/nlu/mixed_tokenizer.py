"""Tokenizer for Chinese, English and mixed zh/en customer messages.

Jieba segments Chinese well and leaves Latin words whole, but it also emits whitespace as tokens and
keeps full-width forms ("ＯＲＤＥＲ", "１２３") apart from their ASCII twins. This component is Jieba
plus two fixes: whitespace tokens are dropped, and each token's text is NFKC-normalised and
lower-cased. Character offsets still point into the original text, so entity spans stay correct.
"""
from __future__ import annotations

import unicodedata
from typing import List, Optional, Text

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.tokenizers.jieba_tokenizer import JiebaTokenizer
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.shared.nlu.training_data.message import Message


def normalise_token(text: str) -> str:
    """Full-width to half-width (NFKC) and lower case: 'ＯＲＤＥＲ' -> 'order'."""
    return unicodedata.normalize("NFKC", text).lower()


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=True)
class MixedLanguageTokenizer(JiebaTokenizer):
    """Jieba tokenizer that drops whitespace tokens and normalises token text."""

    @staticmethod
    def supported_languages() -> Optional[List[Text]]:
        return ["zh", "en"]

    def tokenize(self, message: Message, attribute: Text) -> List[Token]:
        tokens = super().tokenize(message, attribute)
        return [
            Token(normalise_token(t.text), t.start, t.end, data=t.data, lemma=t.lemma)
            for t in tokens
            if t.text.strip()
        ]
