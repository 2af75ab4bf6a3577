"""A synthetic FAQ corpus of any size, for scale figures (build time, latency, memory).

Entries combine a product, a topic and a detail into distinct questions in Chinese and English, so the
index holds as many distinct rows as a real corpus of that size would. Deterministic for a given size.

    python bench/kb/synth.py 10000 /tmp/faq-10k      # writes /tmp/faq-10k/synthetic.yml
"""
from __future__ import annotations

import itertools
import random
import sys
from pathlib import Path

import yaml

PRODUCTS = [("羽绒服", "down jacket"), ("运动鞋", "running shoes"), ("双肩包", "backpack"), ("充电宝", "power bank"),
            ("蓝牙耳机", "bluetooth earphones"), ("床单", "bed sheet"), ("保温杯", "thermos"), ("连衣裙", "dress"),
            ("牛仔裤", "jeans"), ("行李箱", "suitcase"), ("台灯", "desk lamp"), ("手表", "watch"),
            ("围巾", "scarf"), ("帽子", "hat"), ("拖鞋", "slippers"), ("毛衣", "sweater"), ("雨伞", "umbrella"),
            ("钱包", "wallet"), ("眼镜", "glasses"), ("数据线", "charging cable")]
TOPICS = [("怎么清洗", "how do I clean"), ("保修多久", "how long is the warranty on"), ("能退吗", "can I return"),
          ("什么时候发货", "when will you ship"), ("有现货吗", "is there stock of"), ("尺码怎么选", "which size of"),
          ("能开发票吗", "can I get an invoice for"), ("坏了怎么办", "what if it breaks:"),
          ("可以换颜色吗", "can I change the colour of"), ("怎么保养", "how do I care for")]
DETAILS = [f"{n}" for n in range(1, 100000)]


def entries(n: int, seed: int = 7):
    rng = random.Random(seed)
    combos = itertools.product(PRODUCTS, TOPICS, DETAILS)
    for i, ((zh_p, en_p), (zh_t, en_t), detail) in zip(range(n), combos, strict=False):
        model = f"{detail}号款" if rng.random() < 0.5 else f"型号 {detail}"
        yield {
            "id": f"synthetic-{i}",
            "category": "synthetic",
            "questions": [f"{model}{zh_p}{zh_t}", f"{en_t} the {en_p} model {detail}?"],
            "answer": {"zh": f"关于 {model}{zh_p}：请参见商品页第 {detail} 条说明。",
                       "en": f"About the {en_p} model {detail}: see note {detail} on the product page."},
        }


def write(n: int, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "synthetic.yml"
    path.write_text(yaml.safe_dump(list(entries(n)), allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


if __name__ == "__main__":
    print(write(int(sys.argv[1]), Path(sys.argv[2])))
