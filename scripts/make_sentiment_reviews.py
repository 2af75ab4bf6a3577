"""An experiment, not part of the training data: review kinds the main generator lacks.

Writes data/sentiment/generated-reviews-zh.jsonl when run; that file is NOT committed, because with
it the shopping-review F1 moved by +0.002 and the food-delivery F1 fell by 0.006-0.010 (measured on
the dev splits, see bench/sentiment/README.md, "Method and alternatives measured"). Kept so the
attempt can be repeated or extended; delete the written file again after an experiment.

Companion of `scripts/make_sentiment_data.py`, for product categories and review shapes that its
phrase lists cover thinly (books, hotels, fruit, computers, phones, tablets, water heaters,
shampoo, clothes, milk). Every phrase below was written for this project. Kinds of review:

- praise that names a defect only to say it is absent ("一个坏的都没有", "用了半年没死机过");
- a problem that was solved ("刚开始连不上网，客服远程弄好了，现在很好用") - positive;
- first impressions before use ("刚到还没用，包装很好，用了再追评") - positive, or neutral when
  there is no impression at all;
- long reviews listing pros and a minor con, verdict last - positive; pros then a serious
  complaint, verdict last - negative; several complaints then a grudging "还行" - negative;
- book reviews that retell sad or harsh content of a book the writer recommends - positive.

Deterministic (fixed seed, sorted, duplicates dropped).

    python3 scripts/make_sentiment_reviews.py
"""
from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Callable, List, Tuple

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "data" / "sentiment" / "generated-reviews-zh.jsonl"
SEED = 20261123

# category: (items, praise, absent defects, minor cons, serious complaints, problem -> fix, use verb)
CATS = {
    "book": (["这本书", "这套书", "这套绘本", "这本小说", "这本教材", "这本传记"],
             ["内容很充实", "印刷清晰", "纸张厚实", "排版舒服", "故事很有意思", "讲得深入浅出", "插图很精美",
              "孩子很爱看", "读完很有收获", "文笔很细腻", "观点很有启发", "翻译很流畅"],
             ["没有缺页", "没有错别字", "书角一点没折", "没有异味", "没有盗版的感觉"],
             ["封面有点折痕", "字稍微小了点", "包装简单了点", "有几页印得浅一点", "价格比书店贵一点"],
             ["纸张很薄还透字", "错别字一大堆", "明显是盗版", "缺了好几页", "内容空洞全是废话", "翻译生硬读不下去",
              "东拼西凑没有干货", "封面破了一大块"],
             [("少发了一本", "客服很快补寄了"), ("书角压坏了", "换了一本新的")],
             "看"),
    "hotel": (["这家酒店", "这个宾馆", "这家民宿", "这家度假酒店"],
              ["位置很方便", "房间干净整洁", "床很舒服", "早餐种类很多", "前台服务热情", "隔音效果好", "卫生间很干净",
               "离地铁站很近", "性价比很高", "装修很新", "停车方便", "服务员很有礼貌"],
              ["一点也不吵", "没有异味", "床单没有污渍", "晚上没有噪音", "热水一直都有"],
              ["早餐品种少了点", "电梯要等一会儿", "房间稍微小了点", "网速一般", "停车位有点紧张"],
              ["房间有股霉味", "隔音极差一夜没睡好", "床单上有头发", "前台态度恶劣", "空调坏了也没人修",
               "热水时有时无", "卫生间下水道反味", "设施陈旧和图片完全不符"],
              [("空调有点问题", "打电话后十分钟就有人来修好了"), ("房间有点吵", "前台主动给换了安静的房间")],
              "住"),
    "fruit": (["这箱苹果", "这次的橙子", "这批猕猴桃", "这箱芒果", "这些车厘子", "这箱梨"],
              ["很新鲜", "很甜", "水分很足", "个头均匀", "口感脆", "香味很浓", "包装很用心", "果子很大"],
              ["一个坏的都没有", "没有磕碰", "没有烂果", "都没有压伤"],
              ["有两个个头小一点", "有一个稍微磕了一下", "熟得不太均匀", "酸甜里偏酸一点"],
              ["烂了一大半", "又小又酸", "一点都不新鲜", "放了两天全坏了", "和图片差太多", "一股发酵的味道",
               "干巴巴的没有水分", "缺斤少两"],
              [("有一个压坏了", "客服直接退了那一个的钱")],
              "吃"),
    "computer": (["这台笔记本", "这台电脑", "这个主机", "这台游戏本"],
                 ["运行很流畅", "屏幕很清晰", "开机很快", "散热不错", "键盘手感好", "做工扎实", "续航挺长",
                  "性价比高", "外观很漂亮", "重量很轻"],
                 ["没有坏点", "用了半年没死机过", "没有卡顿", "风扇不吵", "一点也不烫"],
                 ["预装软件多了点", "电源适配器有点大", "外壳容易留指纹", "声音小了一点"],
                 ["三天两头蓝屏", "屏幕有好几个坏点", "风扇噪音大得吓人", "玩一会儿就烫得不行", "开机要好几分钟",
                  "收到就是翻新机", "键盘有几个键失灵", "电池充不进电"],
                 [("刚开始连不上网", "客服远程帮忙装好了驱动"), ("系统激活不了", "售后很快解决了")],
                 "用"),
    "phone": (["这部手机", "这个手机", "这台平板", "这个平板电脑"],
              ["拍照很清楚", "反应很快", "电池耐用", "屏幕显示细腻", "手感很好", "信号稳定", "系统流畅",
               "外放声音大", "充电很快"],
              ["用了三个月没卡过", "没有发热", "没有划痕", "信号一直没断过", "屏幕没有漏光"],
              ["没送耳机", "没有送贴膜", "充电器有点慢", "稍微有点重"],
              ["动不动就死机", "充一次电撑不过半天", "屏幕有一条亮线", "信号时有时无", "收到就有划痕像是二手的",
               "发热严重烫手", "用了一周就开不了机", "拍照模糊得不行"],
              [("第一台有点问题", "申请换货后新的这台很完美"), ("不会设置", "客服耐心地一步步教我")],
              "用"),
    "heater": (["这台热水器", "这个电热水器", "这台燃气热水器"],
               ["加热很快", "水温稳定", "安装师傅很专业", "外观简洁", "很省电", "操作简单"],
               ["没有漏水", "用了一冬天没出过问题", "一点也不响", "没有忽冷忽热"],
               ["安装材料费有点贵", "说明书写得简单", "遥控器有点难用"],
               ["用了一个月就漏水", "水温忽冷忽热", "安装师傅乱收费", "加热特别慢", "点火老是失败",
                "显示屏坏了没人管"],
               [("第一次安装位置不合适", "师傅第二天又来重新装好了")],
               "用"),
    "shampoo": (["这瓶洗发水", "这套洗护", "这个护发素", "这款沐浴露"],
                ["味道很好闻", "洗完很顺滑", "去屑效果明显", "泡沫很丰富", "用着很清爽", "头发不毛躁了",
                 "包装很严实", "是正品"],
                ["没有漏液", "头皮不痒", "没有假货的感觉", "不油不干"],
                ["瓶子比想象的小", "香味有点浓", "压嘴有点紧"],
                ["洗完头皮痒得不行", "怀疑是假货", "瓶子漏了一半", "洗完头发干得像草", "味道刺鼻",
                 "用了掉头发更厉害", "一点去屑效果都没有"],
                [("瓶子有点漏", "客服马上补发了一瓶")],
                "用"),
    "clothes": (["这件衣服", "这条裤子", "这件外套", "这条裙子", "这件毛衣"],
                ["面料很舒服", "尺码很标准", "做工精细", "颜色很正", "版型好看", "穿着很显瘦", "很保暖",
                 "透气不闷"],
                ["洗了也不掉色", "没有线头", "没有起球", "没有色差"],
                ["稍微有点长", "袖子有点紧", "有一点点线头", "腰身稍微宽了点"],
                ["洗一次就掉色", "线头到处都是", "尺码严重偏小", "面料粗糙扎人", "和图片差距太大",
                 "穿一次就起球", "有一股刺鼻的味道"],
                [("尺码不合适", "换了一个码很合身")],
                "穿"),
    "milk": (["这箱牛奶", "这款酸奶", "这箱奶"],
             ["口感很醇", "孩子很爱喝", "日期很新鲜", "味道很浓", "价格实惠"],
             ["没有胀包", "一盒都没漏", "没有临期"],
             ["吸管有点短", "包装箱有点瘪"],
             ["好几盒都胀包了", "快过期了才发过来", "喝着有股怪味", "漏了好几盒"],
             [("有一盒漏了", "客服给补了一箱")],
             "喝"),
}

POS_VERDICT = ["总体很满意", "值得购买", "推荐", "下次还会回购", "五星好评", "物有所值", "很满意的一次购物",
               "会推荐给朋友", "总的来说很好", "还会再来", "性价比很高，推荐"]
NEG_VERDICT = ["不会再买了", "很失望", "差评", "大家别上当", "再也不来了", "后悔买了", "浪费钱", "不推荐",
               "太坑了", "真的很糟心"]
GRUDGING = ["也就这样吧", "凑合吧", "一般般", "勉强能用", "就那样吧"]
OPENERS = ["收到了，", "第二次买了，", "", "", "给家里人买的，", "朋友推荐的，", "用了一段时间才来评价，",
           "618买的，", "等了两天到的，", "第一次在网上买，"]
LATER = ["用了再来追评", "过几天再追加评价", "先给个好评", "用后再评价", "看看效果再说"]
FIRST = ["包装很好", "看起来不错", "外观挺满意", "物流很快", "第一印象很好", "和描述的一样"]
SAD_BOOK = [("写的是一个家庭在战争里失去一切的故事", "读得我几次流泪，但很值得一读"),
            ("讲了主人公被误解、被冷落的一生", "看完心里很沉重，强烈推荐"),
            ("书里的现实很残酷，失败和背叛一个接一个", "正因为真实才打动人，好书"),
            ("作者写自己得病后的日子，很多段落很压抑", "读完更懂得珍惜，推荐大家看"),
            ("批评了很多教育里的问题，话说得很尖锐", "句句在理，受益匪浅"),
            ("结局很悲伤", "但整个故事很动人，值得收藏")]


def pick(rng: random.Random, xs: List[str], k: int) -> List[str]:
    return rng.sample(xs, min(k, len(xs)))


def join(parts: List[str], rng: random.Random) -> str:
    sep = rng.choice(["，", "，", "。", " "])
    return sep.join(p for p in parts if p) + rng.choice(["。", "！", "", "~"])


def kinds(rng: random.Random) -> List[Tuple[Callable[[], str], str]]:
    def cat():
        return CATS[rng.choice(list(CATS))]

    def absent():
        items, pra, abs_, *_ = cat()
        return join([rng.choice(OPENERS) + rng.choice(items)] + pick(rng, pra, 1) + pick(rng, abs_, 2)
                    + [rng.choice(POS_VERDICT)], rng)

    def solved():
        items, pra, _a, _m, _s, fixes, verb = cat()
        prob, fix = rng.choice(fixes)
        return join([f"{rng.choice(items)}{rng.choice(['刚开始', '收到时', '一开始'])}{prob}", fix,
                     f"现在{verb}着{rng.choice(pra)}", rng.choice(POS_VERDICT)], rng)

    def first_pos():
        items, *_, verb = cat()
        return join([rng.choice(["刚收到", "今天到的", "收到货了"]), f"还没{verb}", rng.choice(FIRST),
                     rng.choice(LATER)], rng)

    def first_neutral():
        items, *_, verb = cat()
        return join([rng.choice(["刚收到", "今天到的"]), f"还没{verb}", "不知道效果怎么样", rng.choice(LATER)], rng)

    def minor_con():
        items, pra, _a, minor, *_ = cat()
        first, *more = pick(rng, pra, rng.randint(1, 3))
        return join([rng.choice(OPENERS) + rng.choice(items) + first] + more
                    + [rng.choice(["就是", "唯一不足是", "美中不足的是", "只是"]) + rng.choice(minor),
                       rng.choice(["不过不影响使用", "瑕不掩瑜", "可以接受", ""]), rng.choice(POS_VERDICT)], rng)

    def pro_then_bad():
        items, pra, _a, _m, serious, *_ = cat()
        bad, *worse = pick(rng, serious, rng.randint(1, 2))
        return join([rng.choice(OPENERS) + rng.choice(items) + rng.choice(pra),
                     rng.choice(["但是", "可是", "没想到", "结果"]) + bad] + worse + [rng.choice(NEG_VERDICT)], rng)

    def bad_then_grudging():
        items, _p, _a, _m, serious, *_ = cat()
        return join([rng.choice(items)] + pick(rng, serious, 2) + [rng.choice(GRUDGING)], rng)

    def narrative_bad():
        items, pra, _a, _m, serious, _f, verb = cat()
        return join([f"{rng.choice(['上个月', '前几天', '双十一'])}买了{rng.choice(items)[1:]}",
                     f"本来看评价{rng.choice(pra)}", f"结果{verb}了没几天就发现{rng.choice(serious)}",
                     rng.choice(["找客服一直推来推去", "申请售后到现在也没人处理", "联系卖家只会说抱歉"]),
                     rng.choice(NEG_VERDICT)], rng)

    def sad_book():
        content, verdict = rng.choice(SAD_BOOK)
        return join([rng.choice(CATS["book"][0]) + content, verdict], rng)

    def long_pos():
        items, pra, abs_, minor, *_ = cat()
        first, *more = pick(rng, pra, 4)
        return join([rng.choice(["这是第二次", "已经好几次", "一直"]) + "在这家买了", rng.choice(items) + first]
                    + more + pick(rng, abs_, 1)
                    + [rng.choice(["要说缺点的话", "硬要挑毛病的话"]) + rng.choice(minor),
                       rng.choice(POS_VERDICT)], rng)

    return [(absent, "positive"), (solved, "positive"), (first_pos, "positive"), (first_neutral, "neutral"),
            (minor_con, "positive"), (long_pos, "positive"), (sad_book, "positive"), (pro_then_bad, "negative"),
            (bad_then_grudging, "negative"), (narrative_bad, "negative")]


COUNTS = {"absent": 400, "solved": 200, "first_pos": 80, "first_neutral": 30, "minor_con": 600, "long_pos": 500,
          "sad_book": 30, "pro_then_bad": 500, "bad_then_grudging": 150, "narrative_bad": 300}


def build() -> List[Tuple[str, str]]:
    rng = random.Random(SEED)
    seen: set = set()
    out = []
    for fn, label in kinds(rng):
        want = COUNTS[fn.__name__]
        for _ in range(want * 20):
            if sum(1 for _t, lab, name in out if name == fn.__name__) >= want:
                break
            text = fn()
            if text not in seen:
                seen.add(text)
                out.append((text, label, fn.__name__))
    return sorted((t, lab) for t, lab, _ in out)


def main() -> None:
    rows = build()
    OUT.write_text("".join(json.dumps({"text": t, "label": lab}, ensure_ascii=False) + "\n" for t, lab in rows),
                   encoding="utf-8")
    print(f"{OUT}: {len(rows)} lines")


if __name__ == "__main__":
    main()
