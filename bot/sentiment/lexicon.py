"""A small, negation-aware sentiment lexicon for Chinese and English (hand-written for this project).

Why a lexicon next to learned features: the classifier is trained on sentences we wrote, so its
character n-grams only know the words we happened to use. A word list reaches further ("惊艳",
"敷衍", "flimsy") and its counts are a handful of dense features that the logistic regression
weighs like any other. Negation flips a hit ("不好吃", "没有异味", "not worth it"), and the clause
after the last contrast word ("但是", "but") is scored on its own, because that is where a mixed
review gives its verdict.
"""
from __future__ import annotations

import re
import unicodedata
from typing import List, Tuple

import numpy as np

ZH_POSITIVE = """
好 好吃 好看 好用 好评 好喝 好闻 满意 喜欢 不错 很棒 棒 赞 点赞 推荐 值得 值 划算 实惠 便宜 超值 物美价廉
性价比高 新鲜 干净 整洁 舒服 舒适 柔软 暖和 结实 耐用 精致 漂亮 美观 大气 流畅 清晰 快 及时 准时 迅速 神速
给力 靠谱 专业 耐心 热情 周到 贴心 用心 负责 细心 礼貌 客气 温和 正品 正宗 地道 香 鲜 嫩 甜 入味 可口 爽口
实在 足 丰盛 丰富 完美 惊喜 惊艳 超出预期 开心 高兴 愉快 感谢 谢谢 辛苦 感动 放心 安心 满分 五星 回购 回头客
必点 必买 没毛病 喜爱 优秀 出色 优质 上乘 精美 好吃到 合身 修身 显瘦 百搭 透气 轻便 稳定 灵敏 顺滑 顺 好使
方便 便捷 安静 宽敞 明亮 物超所值 物有所值 名副其实 受益匪浅 收获 有趣 精彩 感人 吸引人 经典 值得一读 强烈推荐
一如既往 信赖 支持 愉悦 完好
""".split()
ZH_NEGATIVE = """
差 很差 太差 差劲 差评 烂 垃圾 难吃 难看 难用 难闻 难喝 失望 后悔 生气 愤怒 气死 恶心 无语 郁闷 糟糕 糟心 坑
坑人 坑爹 骗 骗子 欺骗 欺诈 忽悠 假货 假的 山寨 盗版 劣质 次品 残次 翻新 二手 破 破损 坏 坏了 损坏 碎 裂 漏
漏水 漏气 生锈 发霉 霉 过期 变质 馊 臭 腥 怪味 异味 刺鼻 酸臭 凉了 凉透 冷了 硬 夹生 糊 坨 咸 齁 油腻 腻 淡
没味 太少 少得 缩水 贵 不值 浪费 慢 迟到 超时 延误 拖 拖延 敷衍 推诿 踢皮球 不理 冷淡 恶劣 态度差 嚣张 脏 乱
吵 噪音 卡 卡顿 死机 闪退 发热 发烫 黑屏 断 掉色 起球 开线 缩水 色差 褪色 扎 痒 过敏 疼 拉肚子 吃出头发 虫
苍蝇 蟑螂 投诉 举报 12315 消协 律师 起诉 曝光 赔偿 欺负 耍 骗钱 离谱 过分 太过分 受够 烦 烦死 崩溃 心累 无奈
可惜 遗憾 不满 不满意 不爽 吐槽 鸡肋 一般 一般般 凑合 马马虎虎 差强人意 名不副实 不如 还不如 大失所望 上当
被骗 一生黑 拉黑 倒霉 晦气 呵呵 醉了 服了 什么玩意 破玩意 空洞 无聊 乏味 废话 模糊 缺页 错别字 陈旧 破旧 简陋
偏僻 霉味 潮湿 不隔音 粗糙 廉价 劣 偷工减料 以次充好 虚假 虚假宣传 不符 不一致 错发 漏发 少发 丢件 丢失
""".split()
# Words that contain a lexicon word but carry no verdict ("快递" is not "快", "一般几天" is "usually");
# matched first and scored 0.
ZH_NEUTRAL = """
快递 快点 尽快 多少 好的 好吗 好不好 好像 一般几 一般多 一般什么 一般是 一般都 不好意思 不客气 没事 没关系
差不多 好久 还好 最好 好多 只好 正好 恰好 少了一 坏了吗 退款 退货 退换
""".split()
EN_POSITIVE = """
good great excellent amazing awesome fantastic brilliant wonderful perfect love loved lovely like nice happy
pleased delighted satisfied recommend recommended fast quick quickly prompt helpful friendly patient polite
professional fresh delicious tasty hot comfortable comfy soft sturdy solid reliable beautiful gorgeous
stunning value bargain cheap worth superb outstanding impressive impressed smooth crisp clean spotless thanks
thank cheers appreciate appreciated best favourite favorite enjoy enjoyed fine well glad star stars superb
flawless easy painless generous spacious
""".split()
EN_NEGATIVE = """
bad terrible awful horrible poor worst disappointed disappointing disappointment useless rubbish garbage junk
crap trash broken broke faulty defective damaged cracked scratched leaking leaks leak stained dirty filthy
smelly stinks mould mouldy moldy stale cold soggy bland raw burnt salty greasy rude slow late delayed lost
missing wrong fake counterfeit scam scammers fraud rip-off ripoff overpriced expensive flimsy cheaply regret
refund complaint complain lawyer court sue police report angry furious annoyed annoying frustrated frustrating
fed upset ridiculous unacceptable joke pathetic disgrace disgusting hopeless clueless nightmare waste wasted
never avoid shameless unbelievable hate sick mediocre meh noisy crashes crashing crashed overheats dead dies
shrank shrunk ripped faded blisters itchy damn hell wtf sucks bullshit liar lied lies ignored ignoring
runaround fobbing
""".split()
ZH_NEGATORS = ("不", "没", "没有", "别", "未", "无", "非", "不太", "不够", "并不", "一点也不", "一点都不", "毫不",
               "从不", "从没")
EN_NEGATORS = {"not", "no", "never", "nothing", "hardly", "barely", "without", "isn't", "wasn't", "aren't", "weren't",
               "don't", "doesn't", "didn't", "won't", "wouldn't", "can't", "cannot", "couldn't", "nor", "neither"}
ZH_CONTRAST = re.compile(r"但是|但|可是|然而|不过|只是|就是|可惜|遗憾的是|唯一的缺点")
EN_CONTRAST = re.compile(r"\b(but|however|though|although|except|shame|only thing)\b")
QUESTION = re.compile(r"[?？吗呢]\s*$|^(what|how|when|where|why|which|can|could|do|does|is|are|will|would)\b|"
                      r"请问|怎么|如何|能不能|可不可以|是否|有没有|多久|几天|哪里|哪儿|到哪|什么时候|多少")

# Longest first, so "不满意" is matched as a whole and not as "满意" after a negator.
_ZH_WORDS = sorted([(w, 1) for w in ZH_POSITIVE] + [(w, -1) for w in ZH_NEGATIVE] + [(w, 0) for w in ZH_NEUTRAL],
                   key=lambda x: -len(x[0]))
_ZH_RE = re.compile("|".join(re.escape(w) for w, _ in _ZH_WORDS))
_ZH_POLARITY = dict(_ZH_WORDS)
_EN_POLARITY = {**{w: 1 for w in EN_POSITIVE}, **{w: -1 for w in EN_NEGATIVE}}
_ZH_POSTFIX_NEGATION = re.compile(r"(的|了)?(都|也|一点也|一点都|从来)?(没有|没)(过)?(?=[，。！？、；,.!?;~…\s]|$)")
_PUNCT = re.compile(r"[，。！？、；：,.!?;:~…\s]")
_EN_TOKEN = re.compile(r"[a-z0-9'\-]+")

FEATURE_NAMES = ("pos", "neg", "negated_pos", "negated_neg", "last_clause_score", "score", "exclaim",
                 "question", "length")


def normalise(text: str) -> str:
    """NFKC (full-width to half-width) and lower case: 'ＧＯＯＤ！' and 'good!' count alike."""
    return unicodedata.normalize("NFKC", text).lower()


def _zh_hits(text: str) -> List[Tuple[int, bool]]:
    """(polarity, negated) for each lexicon word in the Chinese part of the text."""
    hits = []
    for m in _ZH_RE.finditer(text):
        word = m.group()
        # The few characters before the word, back to the last punctuation: "不是很好", "没那么好吃".
        before = _PUNCT.split(text[max(0, m.start() - 4):m.start()])[-1]
        negated = any(n in before for n in ZH_NEGATORS) and not word.startswith(("不", "没"))
        # ... or right after it, in the same clause: "一个坏的都没有", "异味一点也没有".
        negated = negated or bool(_ZH_POSTFIX_NEGATION.match(text, m.end()))
        if _ZH_POLARITY[word]:
            hits.append((_ZH_POLARITY[word], negated))
    return hits


def _en_hits(text: str) -> List[Tuple[int, bool]]:
    tokens = _EN_TOKEN.findall(text)
    hits = []
    for i, tok in enumerate(tokens):
        polarity = _EN_POLARITY.get(tok)
        if polarity is None:
            continue
        window = tokens[max(0, i - 3):i]
        negated = any(w in EN_NEGATORS or w.endswith("n't") for w in window)
        hits.append((polarity, negated))
    return hits


def _score(hits: List[Tuple[int, bool]]) -> float:
    return float(sum(-p if negated else p for p, negated in hits))


def features(text: str) -> np.ndarray:
    """Nine numbers describing the text's lexicon evidence (see FEATURE_NAMES), roughly in [-3, 3]."""
    t = normalise(text)
    hits = _zh_hits(t) + _en_hits(t)
    pos = sum(1 for p, n in hits if p > 0 and not n)
    neg = sum(1 for p, n in hits if p < 0 and not n)
    negated_pos = sum(1 for p, n in hits if p > 0 and n)
    negated_neg = sum(1 for p, n in hits if p < 0 and n)
    parts = [p for p in re.split(ZH_CONTRAST.pattern + "|" + EN_CONTRAST.pattern, t) if p and p.strip()]
    last = parts[-1] if parts else t
    last_score = _score(_zh_hits(last) + _en_hits(last))
    return np.array([
        np.log1p(pos), np.log1p(neg), np.log1p(negated_pos), np.log1p(negated_neg),
        np.tanh(last_score / 2), np.tanh(_score(hits) / 2),
        min(t.count("!") + t.count("！"), 3) / 3, 1.0 if QUESTION.search(t) else 0.0,
        np.log1p(len(t)) / 5,
    ], dtype=np.float32)
