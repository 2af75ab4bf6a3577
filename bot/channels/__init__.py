"""Rasa input channels (loaded by the Rasa server from credentials.yml): WeChat Official Account
(`wechat.py`), WeCom (`wecom.py`), the mobile-app back end (`app.py`), the web widget (`web.py`), and
the identity link endpoint (`links.py`); shared parts: one customer across channels (`customers.py`),
once-only message handling (`ledger.py`), WeChat's protocol (`wechat_*.py`)."""
