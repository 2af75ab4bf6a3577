"""bot/nlu/use_featurizer.py in the Rasa env (a real subprocess, the real packaged USE): the sequence
features are the tokens' own USE vectors whether they come from the token cache or not, the sentence
feature is the whole message's, and the cache stays within its bound."""
from __future__ import annotations

import json
import subprocess

import pytest

from ops.paths import RASA_VENV_BIN, ROOT
from ops.training import rasa_env

pytestmark = pytest.mark.rasa

SCRIPT = r"""
import json
import numpy as np
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.nlu.constants import TOKENS_NAMES
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
import bot.nlu.use_featurizer as module
from bot.nlu.use_featurizer import UniversalSentenceEncoderFeaturizer

def message(words):
    m = Message(data={TEXT: " ".join(words)})
    m.set(TOKENS_NAMES[TEXT], [Token(w, i) for i, w in enumerate(words)])
    return m

f = UniversalSentenceEncoderFeaturizer({**UniversalSentenceEncoderFeaturizer.get_default_config()}, "use")
direct = f._encoder
texts = [["我的", "订单", "到", "哪", "了"], ["where", "is", "my", "order"], ["订单", "where", "订单"]]
report = {}
for round_ in ("cold", "warm"):  # the second round takes every token from the cache
    messages = [message(w) for w in texts]
    f.process(messages)
    out = []
    for m, words in zip(messages, texts):
        seq, sent = m.get_dense_features(TEXT, [])
        want_seq = np.asarray(direct.encode(words), dtype=np.float32).reshape(-1, 512)
        want_sent = np.asarray(direct.encode([" ".join(words)]), dtype=np.float32).reshape(-1, 512)
        out.append([seq.features.shape[0] == len(words),
                    float(np.abs(seq.features - want_seq).max()), float(np.abs(sent.features - want_sent).max())])
    report[round_] = out
report["cached"] = len(f._tokens)
module.TOKEN_CACHE_SIZE = 3
f.process([message(["一", "二", "三", "四", "五"])])
report["bounded"] = len(f._tokens)
print(json.dumps(report))
"""


def test_token_vectors_are_the_tokens_own_from_the_cache_or_not():
    result = subprocess.run([str(RASA_VENV_BIN / "python"), "-c", SCRIPT], cwd=ROOT, env=rasa_env(),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    for round_ in ("cold", "warm"):
        for same_length, seq_diff, sent_diff in report[round_]:
            assert same_length
            assert seq_diff < 1e-4 and sent_diff < 1e-4, report
    assert report["cached"] == 9  # distinct tokens of the three messages
    assert report["bounded"] == 3
