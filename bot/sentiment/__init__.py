"""Sentiment of customer messages (Chinese and English): negative / neutral / positive.

The handoff bridge hands a conversation to a person when a customer is strongly negative, so the
one number that matters most is P(negative). Modules, one job each:

- `data`: reads and checks the JSON Lines files (training data and evaluation sets);
- `lexicon`: a hand-written, negation-aware word list turned into a few dense features;
- `features`: everything a text becomes before classification (USE embedding, char n-grams, lexicon);
- `classifier`: the trained model and its typed predictions (pure numpy at prediction time);
- `training`: trains from `data/sentiment/` and caches the result by a hash of data + code;
- `metrics`: precision/recall/F1 and the calibration table of the eval CLI;
- `component`: the Rasa graph component (the only module that imports Rasa);
- `__main__`: `python -m bot.sentiment eval|train|predict`.
"""
from bot.sentiment.classifier import LABELS, SentimentClassifier, SentimentResult

__all__ = ["LABELS", "SentimentClassifier", "SentimentResult"]
