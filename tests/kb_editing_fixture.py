"""A small bilingual FAQ corpus and regression set for the editors' tests (publish, preview, rollback):
two files, one with a leading comment; real encoder (USE alone, fast), real FAISS, real files."""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

from common.settings import ROOT
from knowledge.checks import default_site
from knowledge.gate import GateConfig
from knowledge.index import BuildOptions
from knowledge.publish import PublishConfig
from knowledge.search import Thresholds

OPTIONS = BuildOptions(encoder="use")

LOGISTICS = """\
# Logistics and returns: shipping, delivery, returns, refunds.
- id: shipping-fee
  category: logistics
  questions:
    - 运费怎么算
    - 包邮吗
    - How much is shipping?
    - Is delivery free?
  answer:
    zh: 满 99 元包邮，不满收 10 元运费。
    en: Orders over ¥99 ship free; otherwise shipping is ¥10.
  tags: [shipping]

# Delivery times depend on the region.
- id: delivery-time
  category: logistics
  questions:
    - 多久能到
    - 几天送达
    - How long does delivery take?
    - When will my parcel arrive?
  answer:
    zh: 一般 2–4 天送达。
    en: Delivery usually takes 2-4 days.
  tags: [shipping]

- id: return-policy
  category: returns
  questions:
    - 可以退货吗
    - 七天无理由退货
    - Can I return an item?
    - What is the return policy?
  answer:
    zh: 签收后 7 天内可无理由退货。
    en: You can return items within 7 days of delivery.
  tags: [returns]

- id: refund-time
  category: returns
  questions:
    - 退款多久到账
    - 钱什么时候退回
    - How long does a refund take?
    - When do I get my money back?
  answer:
    zh: 仓库验收后 1–3 个工作日退款。
    en: Refunds are issued 1-3 working days after the warehouse checks the return.
  tags: [returns, refunds]
"""

ACCOUNT = """\
- id: invoice
  category: invoices
  questions:
    - 怎么开发票
    - 能开发票吗
    - How do I get an invoice?
    - Can I have a VAT invoice?
  answer:
    zh: 在订单详情页申请电子发票。
    en: Request an e-invoice on the order's page.
  tags: [invoice]

- id: password-reset
  category: account
  questions:
    - 忘记密码怎么办
    - 怎么重置密码
    - I forgot my password
    - How do I reset my password?
  answer:
    zh: 在登录页点“忘记密码”，用手机验证码重置。
    en: Tap "Forgot password" on the login page and reset it with a code sent to your phone.
  tags: [account]
"""

QUERIES = [
    ("运费是多少", "shipping-fee"), ("do you charge for shipping", "shipping-fee"),
    ("快递要几天", "delivery-time"), ("how many days until it arrives", "delivery-time"),
    ("不想要了能退吗", "return-policy"), ("can I send it back", "return-policy"),
    ("退款几天到", "refund-time"), ("when is my refund coming", "refund-time"),
    ("需要发票", "invoice"), ("I need an invoice for my company", "invoice"),
    ("密码忘了", "password-reset"), ("can't remember my password", "password-reset"),
    ("你们卖汽车吗", None), ("what's the weather tomorrow", None),
]


def write_corpus(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "logistics.yml").write_text(LOGISTICS, encoding="utf-8")
    (folder / "account.yml").write_text(ACCOUNT, encoding="utf-8")
    return folder


def write_queries(path: Path) -> Path:
    path.write_text("".join(json.dumps({"query": q, "expected": e}, ensure_ascii=False) + "\n"
                            for q, e in QUERIES), encoding="utf-8")
    return path


def publish_config(tmp: Path, corpus: Path, kb: Path, *, git: str = "off", check_conflicts: bool = True,
                   margin: float = 0.2) -> PublishConfig:
    """Gate figures for 12 answerable queries (one query = 0.083): margins 0.2, floors 0.5."""
    return PublishConfig(corpus_dir=corpus, kb_dir=kb, options=OPTIONS, thresholds=Thresholds(),
                         gate=GateConfig(queries=(write_queries(tmp / "dev.jsonl"),), recall_margin=margin,
                                         wrong_margin=margin, min_recall=0.5, max_wrong=0.5),
                         log_path=tmp / "var" / "kb-publish.jsonl", site=default_site(ROOT), git=git,
                         check_conflicts=check_conflicts)


def dedent(text: str) -> str:
    return textwrap.dedent(text)
