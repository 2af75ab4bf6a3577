"""Write the generated part of the sentiment training data (data/sentiment/generated-*.jsonl).

Why generated: no openly licensed Chinese customer-service sentiment corpus is at hand, and the
review corpora we evaluate on have no licence, so every training sentence is ours. Hand-written
phrase lists (aspects of food delivery, clothes, electronics, home goods, groceries, books, hotels,
delivery and after-sales service, in Chinese and English) are combined into whole reviews and chat
messages. Structure matters more than word lists, so the combinations include what real reviews do:
several aspects in one review, mixed verdicts ("A is fine, but B is awful" is negative, "B is a
bit slow, but A is great" is positive), negated praise ("不好吃", "not worth it") and negated
complaints ("没有异味", "no scratches"), sarcasm, threats to complain, and - for customer service -
plenty of neutral questions and requests that must not read as negative.

Deterministic: a fixed seed, sorted output, duplicates dropped; re-running rewrites the same files.
Labels: "negative", "neutral" (questions, requests, order numbers, "ok") and "positive".

    python scripts/make_sentiment_data.py            # writes data/sentiment/generated-{zh,en}.jsonl
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Callable, Dict, List, Sequence, Tuple

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "data" / "sentiment"
SEED = 20240518

Example = Tuple[str, str]

# ---------------------------------------------------------------------------------------------
# Chinese: aspects of things a shop sells or delivers. Each aspect: (subjects, praise, complaints).
# Praise/complaints are predicates that follow the subject ("味道" + "太咸了").
# ---------------------------------------------------------------------------------------------

ZH_DISHES = [
    "米饭",
    "牛肉面",
    "麻辣烫",
    "黄焖鸡",
    "鸡腿饭",
    "披萨",
    "汉堡",
    "炸鸡",
    "饺子",
    "皮蛋瘦肉粥",
    "烤鱼",
    "奶茶",
    "寿司",
    "沙拉",
    "蛋炒饭",
    "酸菜鱼",
    "凉皮",
    "肉夹馍",
    "盖浇饭",
    "宫保鸡丁",
    "鱼香肉丝",
    "红烧肉",
    "小龙虾",
    "水煮鱼",
    "馄饨",
    "煎饼",
    "回锅肉",
    "土豆丝",
    "麻婆豆腐",
    "排骨",
    "鸭血粉丝汤",
    "拉面",
    "炒河粉",
    "咖喱饭",
    "鸡排",
    "烧烤",
    "串串",
    "包子",
    "酸辣粉",
    "煲仔饭",
    "青菜",
    "汤",
]
ZH_FOOD_PRAISE = [
    "特别好吃",
    "好好吃",
    "太好吃了",
    "很好吃",
    "味道很好",
    "超级好吃",
    "挺香的",
    "很正宗",
    "咸淡刚好",
    "很入味",
    "很嫩",
    "好吃到停不下来",
    "还是热乎的",
    "分量很足",
    "很新鲜",
    "料很足",
    "口感很好",
    "一如既往的好吃",
    "不油不腻",
    "辣得很过瘾",
    "还不错",
    "味道可以",
    "挺好吃的",
]
ZH_FOOD_COMPLAINT = [
    "太咸了",
    "太难吃了",
    "一点味道都没有",
    "没入味",
    "齁咸",
    "太油了",
    "有股怪味",
    "都馊了",
    "不新鲜",
    "是臭的",
    "辣得没法吃",
    "甜得发腻",
    "送到都凉透了",
    "都坨了",
    "硬得咬不动",
    "是夹生的",
    "量少得可怜",
    "就几片肉",
    "跟图片完全不一样",
    "难以下咽",
    "不好吃",
    "一点都不好吃",
    "吃了拉肚子",
    "里面有头发",
    "吃出了虫子",
    "味道很奇怪",
    "腥得要命",
    "全是肥肉",
    "像隔夜的",
    "糊了",
]

ZH_ASPECTS: Dict[str, List[Tuple[List[str], List[str], List[str]]]] = {
    "delivery_food": [
        (
            ["送餐", "配送", "外卖小哥", "骑手", "送餐速度"],
            ["很快", "很准时", "提前到了", "速度很快", "态度很好", "很辛苦也很客气", "超快"],
            [
                "太慢了",
                "慢得要死",
                "超时一个多小时",
                "迟到了快两个小时",
                "态度恶劣",
                "送错地址了",
                "不肯送上楼",
                "把汤洒了一袋子",
                "催了三次都没到",
                "打电话还骂人",
            ],
        ),
        (
            ["包装", "打包"],
            ["很精致", "很严实", "干净卫生", "很用心", "很环保"],
            ["太简陋了", "都破了", "漏了一袋子", "全洒了", "脏兮兮的"],
        ),
        (
            ["分量", "份量"],
            ["很足", "超大", "够两个人吃", "很实在"],
            ["太少了", "少得可怜", "越来越少了", "缩水了一半", "根本吃不饱"],
        ),
        (["价格", "性价比"], ["很实惠", "很高", "很划算", "很良心"], ["太贵了", "太低了", "不值这个价", "虚高"]),
    ],
    "clothes": [
        (
            ["衣服", "裙子", "裤子", "外套", "T恤", "毛衣", "羽绒服", "衬衫", "鞋子", "袜子", "卫衣"],
            ["很好看", "质量很好", "穿着很舒服", "很合身", "很显瘦", "跟图片一样", "做工精细", "很百搭", "非常漂亮"],
            [
                "质量太差了",
                "穿一次就起球了",
                "洗一次就掉色",
                "线头特别多",
                "尺码偏小两个码",
                "色差太大",
                "有股刺鼻的味道",
                "开线了",
                "缩水严重",
                "薄得透明",
                "跟图片完全两样",
                "做工粗糙",
                "穿着扎人",
                "拉链坏了",
            ],
        ),
        (
            ["面料", "料子", "布料"],
            ["很柔软", "很舒服", "厚实", "透气", "手感很好"],
            ["很差", "摸着很粗糙", "一股化纤味", "薄得像纸", "起球严重"],
        ),
        (["尺码", "版型"], ["很标准", "刚刚好", "很正", "很修身"], ["严重偏小", "完全不对", "歪的", "太奇怪了"]),
        (["颜色"], ["很正", "很好看", "跟图片一样", "很显白"], ["色差很大", "跟图片差太多", "洗了就掉", "很土"]),
    ],
    "electronics": [
        (
            [
                "手机",
                "平板",
                "电脑",
                "笔记本",
                "耳机",
                "充电宝",
                "键盘",
                "鼠标",
                "音箱",
                "手表",
                "相机",
                "路由器",
                "显示器",
            ],
            [
                "很好用",
                "运行很流畅",
                "反应很快",
                "做工很好",
                "性价比很高",
                "颜值很高",
                "用着很顺手",
                "是正品",
                "很稳定",
            ],
            [
                "用了两天就坏了",
                "一直卡顿",
                "发热严重",
                "经常死机",
                "老是自动关机",
                "充不进电",
                "开不了机",
                "是翻新机",
                "屏幕有坏点",
                "蓝牙老断",
                "有杂音",
                "反应很慢",
                "做工粗糙",
                "是假货",
                "用了一周就黑屏了",
            ],
        ),
        (["屏幕"], ["很清晰", "色彩很好", "很细腻", "很灵敏"], ["有坏点", "漏光严重", "有划痕", "触摸不灵", "发黄"]),
        (
            ["电池", "续航"],
            ["很耐用", "很给力", "能用一整天", "很持久"],
            ["太差了", "半天就没电了", "掉电飞快", "鼓包了"],
        ),
        (
            ["音质", "信号", "系统", "速度"],
            ["很好", "很稳定", "很流畅", "很快"],
            ["很差", "经常断", "很卡", "慢得要命"],
        ),
    ],
    "home": [
        (
            [
                "热水器",
                "电饭煲",
                "锅",
                "台灯",
                "床单",
                "枕头",
                "被子",
                "毛巾",
                "收纳盒",
                "杯子",
                "拖把",
                "椅子",
                "窗帘",
                "吸尘器",
                "加湿器",
                "电风扇",
                "沙发套",
                "碗",
            ],
            ["很好用", "质量很好", "很结实", "很实用", "做工精细", "很漂亮", "很舒服", "安装很方便", "物超所值"],
            [
                "用了一次就坏了",
                "漏水",
                "生锈了",
                "有很重的异味",
                "根本不加热",
                "掉毛严重",
                "一碰就碎",
                "做工粗糙",
                "少了零件",
                "是坏的",
                "尺寸不对",
                "质量很差",
                "噪音特别大",
                "一用就跳闸",
            ],
        ),
        (["安装师傅", "安装"], ["很专业", "很及时", "很耐心", "很快"], ["迟迟不来", "乱收费", "态度很差", "装歪了"]),
    ],
    "grocery": [
        (
            ["水果", "苹果", "橙子", "葡萄", "芒果", "香蕉", "草莓", "车厘子", "猕猴桃", "西瓜", "梨"],
            ["很新鲜", "很甜", "个头很大", "汁多味甜", "很好吃", "一个坏的都没有"],
            [
                "烂了好几个",
                "一点都不甜",
                "又酸又涩",
                "干巴巴的",
                "个头太小",
                "发霉了",
                "不新鲜",
                "都压坏了",
                "一半是坏的",
            ],
        ),
        (
            ["牛奶", "酸奶", "零食", "饼干", "茶叶", "咖啡"],
            ["口感很好", "很香", "日期很新", "很好喝", "味道正宗", "孩子很喜欢"],
            ["快过期了", "胀包了", "有怪味", "变质了", "已经过期了", "味道不对", "喝了肚子疼"],
        ),
        (
            ["洗发水", "沐浴露", "面霜", "口红", "洗面奶", "香水", "护发素"],
            ["很好用", "味道很好闻", "效果很好", "是正品", "用着很舒服", "很温和"],
            ["用了头皮痒", "用了过敏", "是假货", "味道刺鼻", "掉发更严重了", "一点效果都没有", "烂脸了"],
        ),
    ],
    "books": [
        (
            ["书", "这本书", "内容", "印刷", "纸张"],
            ["很不错", "很有启发", "很清晰", "质量很好", "值得一读", "写得很好", "很有意思"],
            ["是盗版", "模糊不清", "缺页", "很差", "空洞无物", "太无聊了", "错别字一大堆", "读不下去", "东拼西凑"],
        ),
        (
            ["这本书", "内容", "故事", "情节", "作者"],
            ["很吸引人", "深入浅出", "很有深度", "很生动", "文笔很好", "让人受益", "值得反复看"],
            [
                "太浅了",
                "没什么新意",
                "太啰嗦",
                "前后矛盾",
                "和书名完全不符",
                "拖沓",
                "没有逻辑",
                "都是网上能搜到的",
                "比想象的薄很多",
                "看了几页就不想看了",
                "写得很一般",
                "不适合成人看",
                "太幼稚",
            ],
        ),
        (
            ["翻译", "排版", "插图", "装订"],
            ["很流畅", "很舒服", "很精美", "很结实"],
            ["很生硬", "很乱", "很粗糙", "一翻就散了"],
        ),
    ],
    "hotel": [
        (
            ["房间", "卫生间", "浴室", "酒店", "宾馆"],
            ["很干净", "很宽敞", "打扫得很干净", "很整洁", "很新", "设施齐全"],
            [
                "很脏",
                "有霉味",
                "设施陈旧",
                "又小又暗",
                "地毯全是污渍",
                "比较老",
                "很旧",
                "到处是灰尘",
                "有异味",
                "不像四星级",
                "名不副实",
                "热水时有时无",
                "不能上网",
                "空调很吵",
            ],
        ),
        (
            ["前台", "服务员", "服务"],
            ["很热情", "很周到", "很贴心", "很专业"],
            ["态度冷淡", "很差", "爱答不理", "效率极低", "不是很好", "实在一般", "一点都不配合", "打电话都没人回"],
        ),
        (["早餐"], ["很丰盛", "很好吃", "种类很多"], ["太难吃了", "种类太少", "是凉的"]),
        (["位置", "交通"], ["很方便", "很好找", "出门就是地铁"], ["太偏僻了", "很不方便", "很难找"]),
        (["床", "枕头"], ["很舒服", "很软"], ["很硬", "有污渍", "一股怪味"]),
        (["隔音"], ["很好", "不错"], ["很差", "一点都不好", "差到能听见隔壁说话"]),
    ],
    "logistics": [
        (
            ["物流", "快递", "快递员", "快递小哥"],
            ["很快", "超快", "第二天就到了", "很给力", "很及时", "服务很好", "送货上门很贴心"],
            [
                "太慢了",
                "慢得离谱",
                "一个星期才到",
                "态度很差",
                "不送上门",
                "把包裹压坏了",
                "把东西弄丢了",
                "三天了都不动",
                "直接扔在门口",
                "显示签收了但我根本没收到",
            ],
        ),
        (
            ["客服", "售后", "商家"],
            ["态度很好", "很耐心", "回复很及时", "很负责", "处理得很快", "很专业"],
            [
                "态度恶劣",
                "不理人",
                "推来推去",
                "一直踢皮球",
                "拒绝退货",
                "就会复制粘贴",
                "消息都不回",
                "处理了半个月还没结果",
            ],
        ),
    ],
}

ZH_GENERAL_POS = [
    "很满意",
    "非常满意",
    "好评",
    "五星好评",
    "值得购买",
    "推荐购买",
    "下次还会再来",
    "会回购的",
    "物美价廉",
    "超出预期",
    "东西不错",
    "挺好的",
    "很喜欢",
    "赞",
    "给力",
    "完美",
    "没毛病",
    "挑不出毛病",
    "强烈推荐",
    "买得很值",
    "很划算",
    "好评！",
    "满意",
    "不错不错",
    "一如既往的好",
    "值这个价",
    "很惊喜",
    "没让我失望",
    "比实体店便宜还好",
    "已经推荐给朋友了",
    "总体还不错",
    "整体挺满意的",
    "还可以",
    "还行，挺好",
    "不后悔",
]
ZH_GENERAL_NEG = [
    "差评",
    "非常失望",
    "太失望了",
    "再也不买了",
    "不会再来了",
    "别买",
    "千万别买",
    "上当了",
    "坑人",
    "垃圾",
    "后悔死了",
    "已经退货了",
    "浪费钱",
    "被骗了",
    "什么玩意",
    "气死了",
    "无语",
    "恶心",
    "一生黑",
    "强烈不推荐",
    "不值",
    "差劲",
    "太差了",
    "很不满意",
    "一颗星都不想给",
    "大家别上当",
    "真是服了",
    "简直无语",
    "垃圾商家",
    "坑爹",
    "没有下次了",
    "拉黑了",
    "以后不会再买",
    "血亏",
    "不推荐",
]
ZH_OPENERS = [
    "",
    "",
    "",
    "",
    "这次",
    "第一次买，",
    "买了好几次了，",
    "收到了，",
    "刚收到，",
    "用了一周，",
    "说实话，",
    "总的来说，",
    "老实说，",
    "第二次点了，",
    "点了外卖，",
]
# Small flaws in an overall happy review. Lateness is left out on purpose: customers who mention
# it mostly mean it as a complaint.
ZH_MINOR_NEG = [
    "有一点点咸",
    "包装一般",
    "价格稍微贵了点",
    "有点小色差",
    "尺码略大",
    "有一点味道，晾晾就好了",
    "米饭有点少",
    "说明书不太清楚",
    "颜色比图片深一点",
    "盒子有点压扁了",
    "赠品少了点",
]
ZH_MINOR_POS = ["包装还行", "价格还可以", "物流还算快", "颜色还行", "外观还可以", "送得倒是挺快", "看着还行"]
ZH_SARCASM = [
    "真是太棒了，{c}",
    "好评！{c}，真是长见识了",
    "呵呵，{c}",
    "谢谢你们，{c}",
    "厉害了，{c}",
    "真是服了，{c}",
    "{c}，真是绝了",
    "给你们点个赞，{c}",
    "{c}，这服务也是没谁了",
]
ZH_NEGATED_PRAISE = [
    "不好吃",
    "不新鲜",
    "不满意",
    "不推荐",
    "不值",
    "不会再买了",
    "没有想象中好",
    "一点也不甜",
    "不太好",
    "不怎么样",
    "不好用",
    "不舒服",
    "不合身",
    "不正宗",
    "不划算",
    "一点都不好",
    "没有图片上好看",
    "并不像宣传的那样",
    "没一样好吃的",
    "不是正品",
]
ZH_NEGATED_COMPLAINT = [
    "没有异味",
    "不贵",
    "不油腻",
    "一点都不腥",
    "没有色差",
    "不卡",
    "没有破损",
    "不失望",
    "没有起球",
    "不掉色",
    "一点都不慢",
    "没有坏的",
    "不难吃",
    "不偏小",
    "没出过问题",
    "不发热",
]


# Mediocre is negative in a review ("一般" = "so-so"); as an adverb in a question it is not ("一般几天到"),
# which the neutral questions below cover.
ZH_MEDIOCRE = [
    "一般",
    "很一般",
    "一般般",
    "味道一般",
    "质量一般",
    "凑合",
    "马马虎虎",
    "差强人意",
    "不怎么样",
    "中规中矩，没什么特别的",
    "也就那样吧",
    "还不如楼下小店",
    "感觉不值这个价",
    "就那样",
    "普普通通，不会再买",
    "没有宣传的那么好",
    "比上次差多了",
    "一次不如一次",
    "越来越差了",
    "名不副实",
]
# Broken promises and missing things: complaints without a single "bad" word.
ZH_BROKEN_PROMISE = [
    "{h1}点订的，{h2}点才送到",
    "等了{m}分钟还没到",
    "说好的{extra}呢",
    "没给{extra}",
    "少送了{extra}",
    "备注了不要辣还是放了辣",
    "备注了{extra}也没给",
    "订单显示送达，其实根本没送来",
    "超时{m}分钟",
    "下单{d}天了还没发货",
    "说好{d}天到，结果等了一个星期",
    "{extra}呢？",
    "又忘了放{extra}",
    "发来的和我拍的不是一个颜色",
    "买的是{a}，发来的是{b}",
    "刚买{d}天就降价了",
    "一直显示在途，{d}天了",
]
ZH_EXTRAS = ["筷子", "饮料", "米饭", "赠品", "发票", "餐具", "酱料", "勺子", "纸巾", "小菜", "说明书", "充电线", "配件"]
# Narrative clauses that carry no verdict: they appear in praise and complaints alike.
ZH_FILLER = [
    "买给孩子的",
    "给爸妈买的",
    "双十一买的",
    "朋友推荐的",
    "这是第三次买了",
    "出差住了两晚",
    "中午点的外卖",
    "公司同事一起订的",
    "活动的时候买的",
    "看了评价才买的",
    "送人的",
    "之前在超市买过这个牌子",
    "用了一个月了",
    "周末带家人来住",
    "晚上加班点的",
    "第一次在这家买",
    "买来自己用",
    "已经读完了",
]
ZH_LONG_POS = [
    "孩子很喜欢，每天晚上都要我讲",
    "读完很有收获",
    "插图精美，字也大，很适合小学生",
    "内容丰富，讲得很透彻",
    "房间干净整洁，服务员很热情，下次来还住这里",
    "早餐种类多，位置也方便",
    "一直回购，品质稳定",
    "用了一段时间才来评价，确实好用",
    "家里人都说好",
    "比想象中的还要好",
    "每单必点",
    "已经是回头客了",
    "又一次愉快的购物",
    "一直信赖这个牌子",
    "物有所值",
    "推荐给大家",
]
ZH_LONG_NEG = [
    "看了一半就看不下去了",
    "内容空洞，全是废话",
    "完全是在骗钱",
    "和评价说的完全不一样",
    "服务员态度冷淡，设施也旧",
    "住了一晚就换酒店了",
    "用了没几天就出问题",
    "找客服也没人管",
    "感觉被坑了",
    "上当了，大家别买",
    "真不知道好评是怎么来的",
    "看评价买的，结果大失所望",
    "跟实体店买的差远了",
    "怀疑是假货",
    "以后不会再来了",
    "给差评都是轻的",
]


# Reviews that praise quietly or report without judging ("还没用，看着不错", "给爸爸买的，还行"): review
# sites count these as positive, and a customer writing them is not upset.
ZH_MILD_POS = [
    "还没用，看着不错",
    "还没吃，先好评",
    "还没用，用了再来评价",
    "还可以",
    "还行",
    "挺好的",
    "没什么问题",
    "用着还行",
    "看着还可以",
    "目前没发现问题",
    "跟描述的一样",
    "符合预期",
    "中规中矩，这个价格可以了",
    "对得起这个价格",
    "性价比还行",
    "东西收到了，没问题",
    "包装完好",
    "囤货，有活动就买",
    "一直用这个牌子",
    "老牌子了，放心",
    "价格合适就入手了",
    "物流挺快的",
    "京东的速度没得说",
    "宝贝收到了",
    "很好，很满意",
]
# Book and story reviews talk about sad things while liking the book.
ZH_BOOK_POS = [
    "故事很感人，看哭了好几次",
    "写出了战争的残酷，让人心痛，非常值得一读",
    "主人公的遭遇让人心酸，作者的文笔很细腻",
    "孩子爱不释手，天天抱着看",
    "让我想起了自己的童年",
    "读完久久不能平静",
    "情节紧凑，一口气读完",
    "书中的道理很实用，对我帮助很大",
    "作者把复杂的问题讲得很清楚",
    "画面很美，孩子很喜欢",
    "悬念迭起，结局出人意料",
    "虽然是悲剧，但写得太好了",
    "看完以后思考了很多",
    "语言朴实，但很打动人",
    "适合睡前给孩子讲",
]
ZH_HOTEL_MINOR = [
    "房间小了一点",
    "隔音一般",
    "早餐种类少了点",
    "网络有点慢",
    "停车不太方便",
    "设施有点旧",
    "离市中心稍远",
]


def zh_mild(rng: random.Random) -> str:
    """Quiet praise, book reviews that mention sad things, hotel stays with small flaws: all positive."""
    r = rng.random()
    if r < 0.4:
        parts = [rng.choice(ZH_FILLER)] if rng.random() < 0.6 else []
        parts.append(rng.choice(ZH_MILD_POS))
        if rng.random() < 0.3:
            parts.append(rng.choice(ZH_MILD_POS))
    elif r < 0.7:
        parts = (
            [rng.choice(["买给孩子的", "朋友推荐的", "已经读完了", "这套书", "第二次读了"])]
            if rng.random() < 0.5
            else []
        )
        parts += rng.sample(ZH_BOOK_POS, rng.choice([1, 2]))
    else:
        parts = [
            zh_clause(rng, "hotel", True),
            rng.choice(["就是", "只是", "不过", ""]) + rng.choice(ZH_HOTEL_MINOR),
            rng.choice(["总体不错", "总的来说还可以", "下次还会选择", "性价比可以", "整体满意"]),
        ]
    return "，".join(parts) + rng.choice(["", "。", "！", "~"])


def zh_fill(rng: random.Random, template: str) -> str:
    a, b = rng.sample(["黑色", "白色", "红色", "蓝色", "M码", "L码", "XL码", "大号", "小号"], 2)
    return template.format(
        h1=rng.choice([11, 12, 5, 6]),
        h2=rng.choice(["1", "2", "8"]),
        m=rng.choice([40, 50, 90, 100, 120]),
        extra=rng.choice(ZH_EXTRAS),
        d=rng.choice([3, 5, 7, 10]),
        a=a,
        b=b,
    )


def zh_long_review(rng: random.Random, positive: bool) -> str:
    """A longer, narrative review: filler, several verdict clauses, a closing verdict."""
    domain = rng.choice(list(ZH_ASPECTS))
    parts = [rng.choice(ZH_FILLER)] if rng.random() < 0.7 else []
    parts += distinct(lambda: zh_clause(rng, domain, positive), rng.choice([2, 3]))
    if positive and rng.random() < 0.4:
        parts.append(rng.choice(["唯一的缺点是", "美中不足的是", "就是", "只是"]) + rng.choice(ZH_MINOR_NEG))
    if not positive and rng.random() < 0.4:
        parts.insert(1, zh_clause(rng, domain, True))
        parts[2] = rng.choice(["但是", "可是", "然而", "不过"]) + parts[2]
    parts.append(rng.choice(ZH_LONG_POS if positive else ZH_LONG_NEG))
    if rng.random() < 0.5:
        parts.append(rng.choice(ZH_GENERAL_POS if positive else ZH_GENERAL_NEG))
    return "，".join(parts) + rng.choice(["。", "！", "", "~"])


def zh_mediocre(rng: random.Random) -> str:
    """So-so reviews and broken promises (labelled negative, as review sites and customers mean them)."""
    r = rng.random()
    if r < 0.4:
        core = rng.choice(ZH_MEDIOCRE)
        if rng.random() < 0.5:
            core = (
                rng.choice(ZH_DISHES + ["东西", "衣服", "书", "酒店", "手机", "服务"]) + rng.choice(["", "感觉"]) + core
            )
        return core + rng.choice(["", "。", "吧", "！", "，不推荐", "，下次不买了"])
    parts = [zh_fill(rng, rng.choice(ZH_BROKEN_PROMISE))]
    if rng.random() < 0.5:
        parts.append(rng.choice(ZH_GENERAL_NEG + ZH_MEDIOCRE + ["饭都凉了", "怎么吃啊", "什么意思", "服了"]))
    if rng.random() < 0.3:
        parts.insert(0, rng.choice(ZH_MINOR_POS + ["味道还可以", "东西还行"]))
        parts[1] = "但是" + parts[1]
    return "，".join(parts) + rng.choice(["", "。", "！", "？", "。。。"])


# Intensifiers are shared by praise and complaints, so that none of them becomes a cue by itself.
ZH_INTENSIFIERS = ["很", "很", "很", "非常", "特别", "超", "挺", "真的很", "十分", "相当", "蛮", "超级", "好"]


def intensify(rng: random.Random, predicate: str) -> str:
    """'很好吃' -> '特别好吃' / '超好吃'; '太慢了' -> '实在太慢了'."""
    if predicate.startswith("很"):
        return rng.choice(ZH_INTENSIFIERS) + predicate[1:]
    if predicate.startswith("太") and rng.random() < 0.3:
        return rng.choice(["实在", "真是", "真的"]) + predicate
    return predicate


def soften_negated(predicate: str, rng: random.Random) -> str:
    """Praise turned into a hedged complaint: '很好吃' -> '不是很好吃' / '不太好吃' / '没那么好吃'."""
    core = predicate[1:] if predicate.startswith("很") else predicate
    return rng.choice(["不是很", "不太", "没那么", "不怎么", "并不", "一点也不"]) + core


# Delivery problems that customers mean as complaints even next to praise ("好吃，就是送得太慢了").
ZH_DELIVERY_GRIPES = [
    "送得太慢了",
    "等了一个多小时",
    "送到都凉了",
    "汤洒了",
    "少了一份",
    "没给餐具",
    "超时了",
    "时间太长了",
    "催了好几次",
    "有点慢，饭都凉了",
    "比预计晚了四十分钟",
    "包装漏了",
]


def zh_clause(rng: random.Random, domain: str, positive: bool) -> str:
    """One aspect clause, e.g. '配送太慢了' or '牛肉面很好吃'."""
    if domain == "food" or (domain == "delivery_food" and rng.random() < 0.5):
        dish = rng.choice(ZH_DISHES)
        return dish + intensify(rng, rng.choice(ZH_FOOD_PRAISE if positive else ZH_FOOD_COMPLAINT))
    subjects, praise, complaints = rng.choice(ZH_ASPECTS[domain])
    return rng.choice(subjects) + intensify(rng, rng.choice(praise if positive else complaints))


def distinct(clause: Callable[[], str], n: int) -> List[str]:
    """n clauses with different subjects (a review does not praise and damn the same battery)."""
    parts: List[str] = []
    for _ in range(n * 4):
        c = clause()
        if all(c[:2] != p[:2] for p in parts):
            parts.append(c)
        if len(parts) == n:
            break
    return parts


def zh_review(rng: random.Random, positive: bool) -> str:
    """A review of 1-4 clauses whose overall verdict is `positive` or negative."""
    domain = rng.choice(list(ZH_ASPECTS) + ["logistics", "delivery_food"])
    n = rng.choice([1, 1, 1, 2, 2, 2, 3])
    parts = distinct(lambda: zh_clause(rng, domain if rng.random() < 0.8 else "logistics", positive), n)
    form = rng.random()
    if positive:
        if form < 0.15:
            parts.append("就是" + rng.choice(ZH_MINOR_NEG))
        elif form < 0.25:
            parts = ["虽然" + rng.choice(ZH_MINOR_NEG), "但是" + parts[0]] + parts[1:]
        elif form < 0.35:
            parts.append(rng.choice(ZH_NEGATED_COMPLAINT))
        if rng.random() < 0.5:
            parts.append(rng.choice(ZH_GENERAL_POS))
    else:
        if form < 0.2:
            parts = [rng.choice(ZH_MINOR_POS), "但是" + parts[0]] + parts[1:]
        elif form < 0.3:
            good = zh_clause(rng, domain, True)
            if good[:2] != parts[0][:2]:
                parts = [good, rng.choice(["可是", "但是", "不过"]) + parts[0]] + parts[1:]
        elif form < 0.42:
            parts.append(rng.choice(ZH_NEGATED_PRAISE))
        elif form < 0.5:
            return rng.choice(ZH_SARCASM).format(c=parts[0])
        elif form < 0.6:
            subjects, praise, _ = rng.choice(ZH_ASPECTS[domain])
            parts[0] = rng.choice(subjects) + soften_negated(
                rng.choice([p for p in praise if p.startswith("很")] or praise), rng
            )
        elif form < 0.68:
            parts = [
                zh_clause(rng, "delivery_food", True),
                rng.choice(["就是", "但是", "只是", "可是"]) + rng.choice(ZH_DELIVERY_GRIPES),
            ]
        if rng.random() < 0.5:
            parts.append(rng.choice(ZH_GENERAL_NEG))
    sep = rng.choice(["，", "，", "，", "。", " ", "！"])
    end = rng.choice(["", "", "。", "！", "！！", "~", "...", "。。。"])
    return rng.choice(ZH_OPENERS) + sep.join(parts) + end


# ---------------------------------------------------------------------------------------------
# Chinese customer-service chat messages.
# ---------------------------------------------------------------------------------------------

ZH_ITEMS = [
    "衣服",
    "裙子",
    "外套",
    "鞋子",
    "手机",
    "耳机",
    "平板",
    "充电器",
    "电饭煲",
    "台灯",
    "床单",
    "枕头",
    "锅",
    "杯子",
    "包裹",
    "快递",
    "东西",
    "商品",
    "货",
    "订单",
]
ZH_CITIES = ["北京", "上海", "广州", "深圳", "成都", "杭州", "武汉", "西安", "南京", "重庆"]

ZH_NEUTRAL = [
    "我的订单到哪了",
    "我的快递到哪里了",
    "订单{oid}什么时候发货",
    "帮我查一下订单{oid}",
    "{oid}",
    "订单号{oid}",
    "我的订单号是{oid}",
    "能帮我查下物流吗",
    "发货了吗",
    "几天能到{city}",
    "寄到{city}要几天",
    "什么时候能到",
    "今天能发货吗",
    "{item}什么时候发货",
    "怎么退货",
    "我想退货",
    "退货流程是什么",
    "退款多久到账",
    "可以换货吗",
    "尺码不合适能换吗",
    "七天无理由退货怎么申请",
    "退货运费谁出",
    "我要申请退款",
    "怎么申请售后",
    "退货地址是哪里",
    "退款会退到哪里",
    "可以用微信支付吗",
    "支持花呗分期吗",
    "能用信用卡吗",
    "付款失败了怎么办",
    "发票怎么开",
    "能开增值税发票吗",
    "优惠券怎么用",
    "有优惠吗",
    "满减怎么算",
    "怎么注册会员",
    "积分怎么兑换",
    "会员有什么优惠",
    "会员等级怎么升级",
    "会员生日有礼物吗",
    "这件{item}有XL码吗",
    "这款手机支持5G吗",
    "这个锅能用电磁炉吗",
    "有没有黑色的",
    "什么时候补货",
    "尺码怎么选",
    "身高170穿什么码",
    "保修多久",
    "{item}是正品吗",
    "有现货吗",
    "转人工",
    "人工客服",
    "我要找人工",
    "转人工客服",
    "帮我转人工",
    "能不能转人工",
    "我想和人工客服聊",
    "你好",
    "在吗",
    "在吗？",
    "有人吗",
    "好的",
    "嗯",
    "嗯嗯",
    "ok",
    "OK",
    "好",
    "行",
    "可以",
    "知道了",
    "明白了",
    "收到",
    "谢谢",
    "谢谢你",
    "好的谢谢",
    "能改一下收货地址吗",
    "我想修改订单",
    "取消订单",
    "帮我取消订单{oid}",
    "怎么修改收货人电话",
    "我手机号是{phone}",
    "手机尾号{tail}",
    "我的地址是{city}市{district}区",
    "请问营业时间是几点",
    "你们有实体店吗",
    "客服几点下班",
    "可以货到付款吗",
    "能加急吗",
    "可以指定快递吗",
    "发什么快递",
    "包邮吗",
    "退货需要原包装吗",
    "吊牌剪了还能退吗",
    "换货要多久",
    "能不能开两张发票",
    "怎么查看物流信息",
    "物流单号是多少",
    "下单后还能改颜色吗",
    "这个{item}有几种颜色",
    "请问{item}怎么清洗",
    "电池可以拆吗",
    "充电器是原装的吗",
    "我买的{item}怎么安装",
    "有安装视频吗",
    "售后电话是多少",
    "怎么联系商家",
    "我想问一下",
    "请问一下",
    "我有个问题",
    "咨询一下",
    "我想买{item}",
    "推荐一款{item}",
    "{item}有折扣吗",
    "双十一有活动吗",
    "我刚下单了",
    "我已经付款了",
    "我已经寄回了，单号是{oid}",
    "退货已寄出",
    "退款申请已经提交了",
    "我提交了退货申请",
    "请问退款进度",
    "我的退款到哪一步了",
    "换货的进度怎么样了",
    "我的包裹显示已签收",
    "快递放驿站了吗",
    "能送货上门吗",
    "周末送货吗",
    "怎么成为会员",
    "会员卡在哪里看",
    "积分什么时候到账",
    "密码忘了怎么办",
    "怎么绑定手机号",
    "账号怎么注销",
    "能帮我备注一下吗",
    "麻烦帮我催一下发货",
    "帮我看看什么时候能发",
    "麻烦了",
    "不用了",
    "没有了",
    "没事了",
    "就这些",
    "再见",
    "拜拜",
    "早上好",
    "晚上好",
    "您好，我想咨询退货",
    "我想退这个{item}",
    "这个{item}可以退吗",
    "{item}尺码大了想换小一码",
    "颜色不喜欢可以退吗",
    "收到了",
    "已经收到货了",
    "货到了",
    "我要买两件",
    "运费多少",
    "可以便宜点吗",
    "能送小样吗",
    "有赠品吗",
    "退货的话需要我自己寄吗",
    "快递丢了怎么办",
    "包裹破损怎么处理",
    "商品有质量问题怎么退",
    "如果不合适可以退吗",
    "不喜欢能退吗",
    "我要投诉流程在哪里看",
    "请问如何申请价保",
    "降价了能补差价吗",
    "一般几天能到",
    "一般几点送货",
    "退款一般多久到账",
    "一般发什么快递",
    "一般多久能换好",
    "一般什么时候上新",
    "订单{oid}里少了一件，怎么补发",
    "收到的{item}有点问题，能换吗",
    "{item}好像少了个配件，能补寄吗",
    "快递显示签收了但我没收到，帮我查下",
    "地址写错了能改吗",
    "我买错尺码了",
    "优惠券过期了还能用吗",
    "这个{item}的说明书在哪下载",
    "不小心下了两单，取消一单",
    "发票抬头写错了能重开吗",
    "{item}是什么材质的",
    "{item}偏大还是偏小",
    "{item}是什么插头的",
    "{item}有多重",
    "{item}多大尺寸",
    "{item}能不能水洗",
    "{item}适合几岁的孩子",
    "{item}的功率是多少",
    "保质期多久",
    "{item}是哪里产的",
    "{item}和上一代有什么区别",
    "这两款有什么不同",
    "{item}有没有赠品",
    "这个参数是什么意思",
    "页面上写的是什么意思",
    "{item}是新款吗",
    "{item}支持无线充电吗",
    "{item}能带上飞机吗",
    "{item}是几寸的",
    "这个价格含税吗",
]
ZH_NEG_CS = [
    "你们怎么回事，等了一个星期还没发货",
    "我要投诉",
    "我要投诉你们",
    "再不处理我就打12315",
    "我要打12315投诉你们",
    "我要找律师起诉你们",
    "我要去消协投诉",
    "我要曝光你们",
    "客服是机器人吗，听不懂人话",
    "垃圾客服",
    "什么破服务",
    "退个款这么难",
    "骗子公司",
    "你们是不是想赖账",
    "气死我了",
    "我已经问了三次了，到底怎么回事",
    "到底什么时候退钱",
    "太过分了",
    "坑爹啊",
    "你们这是欺诈",
    "退款到现在都没到账，什么意思",
    "说好的三天发货呢？骗人",
    "等了半个月了还没到，你们干什么吃的",
    "你们的快递员把我的{item}摔坏了，还不承认",
    "收到的{item}是坏的，你们太不负责了",
    "质量这么差还好意思卖",
    "一而再再而三的拖延，我受够了",
    "你们就是一群骗子",
    "别跟我说套话，我要解决问题",
    "回答全是废话",
    "给我一个说法",
    "这事没完",
    "我要差评",
    "必须给我退款，不然投诉到底",
    "再拖着我就报警了",
    "这种态度还做什么生意",
    "你们的售后简直是摆设",
    "买了你们的{item}真是倒了八辈子霉",
    "一天到晚就知道让我等",
    "你们的客服都是哑巴吗",
    "真的很生气",
    "我非常不满意",
    "太让人失望了",
    "我对你们的服务非常失望",
    "这是我最后一次在你们家买东西",
    "你们到底有没有人管",
    "我要找你们领导",
    "叫你们经理出来",
    "能不能别再敷衍我了",
    "每次都说在处理，处理个鬼",
    "退货退了一个月还没退款，你们什么意思",
    "发错货了还不给换，什么道理",
    "假货！我要十倍赔偿",
    "订单{oid}到现在都没发货，耍人玩呢",
    "{item}用了两天就坏了，垃圾",
    "你们是不是骗子",
    "这不是欺负人吗",
    "说了多少遍了还是没人处理",
    "烦死了",
    "服了你们了",
    "无语了",
    "什么玩意儿",
    "简直离谱",
    "太坑了",
    "你们这服务真是绝了，等了一个月",
    "呵呵，又是让我等",
    "谢谢你们让我白等了一周",
    "真行啊，收到一个空盒子",
    "我要去黑猫投诉",
    "我要在微博上曝光",
    "我已经向市场监管局举报了",
    "再这样我就走法律程序",
    "为什么扣了我的钱却没有订单",
    "乱扣费，把钱还给我",
    "强制搭售，恶心",
    "客服态度太差了",
    "你们的客服是摆设吗",
    "我的{item}被快递弄丢了，你们一点都不着急",
    "快递员太嚣张了，把东西扔在门口就走",
    "售后推来推去，到底找谁",
]
ZH_POS_CS = [
    "谢谢你，帮了大忙",
    "客服真耐心",
    "问题解决了，太好了",
    "收到了，很喜欢",
    "你们服务真好",
    "好评",
    "太感谢了",
    "非常感谢你的帮助",
    "效率真高，点赞",
    "退款已经到账了，谢谢",
    "换货很快，很满意",
    "你们的客服是我见过最好的",
    "{item}很好用，谢谢推荐",
    "快递很快，第二天就到了，谢谢",
    "好的，辛苦了",
    "辛苦啦",
    "棒棒的",
    "给你点个赞",
    "下次还来你们家买",
    "处理得很及时，谢谢",
    "真贴心",
    "你太好了",
    "谢谢亲",
    "爱了爱了",
    "满意满意",
    "一直在你们家买，质量一直很好",
    "会员福利很不错",
    "包装很用心，谢谢",
    "衣服很合身，很开心",
    "服务很周到",
]


def zh_slots(rng: random.Random, template: str) -> str:
    oid = "".join(rng.choice("0123456789") for _ in range(12))
    return template.format(
        oid=oid,
        item=rng.choice(ZH_ITEMS),
        city=rng.choice(ZH_CITIES),
        phone="1" + "".join(rng.choice("0123456789") for _ in range(10)),
        tail="".join(rng.choice("0123456789") for _ in range(4)),
        district=rng.choice(["朝阳", "海淀", "浦东", "天河", "南山", "武侯", "西湖"]),
    )


ZH_PREFIX = ["", "", "", "你好，", "您好，", "请问", "亲，", "客服，", "喂，", "麻烦问下，", "hi，"]
ZH_NEG_PREFIX = ["", "", "", "喂！", "客服！", "我说，", "你们听好了，", "我再说一遍，"]
ZH_NEG_SUFFIX = ["", "", "", "！", "！！", "？？", "！！！", "。", "，气死了", "，必须给我解决"]


def zh_cs(rng: random.Random, label: str) -> str:
    if label == "neutral":
        t = zh_slots(rng, rng.choice(ZH_NEUTRAL))
        prefix = rng.choice(ZH_PREFIX) if not t[0].isdigit() else ""
        return prefix + t + rng.choice(["", "", "？", "?", "。", "呀", "呢", "啊"])
    if label == "negative":
        return rng.choice(ZH_NEG_PREFIX) + zh_slots(rng, rng.choice(ZH_NEG_CS)) + rng.choice(ZH_NEG_SUFFIX)
    return zh_slots(rng, rng.choice(ZH_POS_CS)) + rng.choice(["", "", "！", "~", "。", "😊"])


# ---------------------------------------------------------------------------------------------
# English
# ---------------------------------------------------------------------------------------------

EN_ASPECTS: Dict[str, List[Tuple[List[str], List[str], List[str]]]] = {
    "food": [
        (
            [
                "the food",
                "the burger",
                "the pizza",
                "the noodles",
                "the curry",
                "the soup",
                "the fries",
                "the chicken",
                "the salad",
                "the rice",
                "the dumplings",
                "the coffee",
                "the sushi",
            ],
            [
                "was delicious",
                "tasted great",
                "was fresh and hot",
                "was really tasty",
                "was perfectly seasoned",
                "was amazing",
                "was spot on",
            ],
            [
                "was cold",
                "was way too salty",
                "tasted awful",
                "was stale",
                "was undercooked",
                "was soggy",
                "was bland",
                "made me sick",
                "had a hair in it",
                "was disgusting",
                "was burnt",
                "smelled off",
            ],
        ),
        (
            ["the delivery", "the driver", "the portion"],
            ["was fast", "was friendly", "was generous", "arrived early"],
            ["was over an hour late", "was rude", "was tiny", "spilled everything", "went to the wrong address"],
        ),
    ],
    "clothes": [
        (
            ["the shirt", "the dress", "the jacket", "the jeans", "the shoes", "the sweater", "the coat", "the hoodie"],
            [
                "fits perfectly",
                "looks great",
                "is really comfortable",
                "is well made",
                "looks just like the photo",
                "is great quality",
            ],
            [
                "shrank after one wash",
                "fell apart",
                "is too small",
                "looks nothing like the photo",
                "has loose threads",
                "faded after one wash",
                "smells of chemicals",
                "ripped the first time I wore it",
                "is cheap and flimsy",
            ],
        ),
        (
            ["the fabric", "the size", "the colour", "the stitching"],
            ["is soft", "is true to size", "is lovely", "is neat"],
            ["is rough and scratchy", "is way off", "is completely different", "came undone"],
        ),
    ],
    "electronics": [
        (
            [
                "the phone",
                "the laptop",
                "the tablet",
                "the headphones",
                "the charger",
                "the speaker",
                "the camera",
                "the keyboard",
                "the smartwatch",
                "the router",
                "the monitor",
            ],
            [
                "works perfectly",
                "is fast",
                "is excellent value",
                "is great",
                "works like a charm",
                "is solid",
                "exceeded my expectations",
            ],
            [
                "stopped working after two days",
                "keeps crashing",
                "overheats",
                "won't turn on",
                "won't charge",
                "is a refurbished unit sold as new",
                "is a fake",
                "has a dead pixel",
                "keeps disconnecting",
                "is painfully slow",
                "broke within a week",
                "arrived with a cracked screen",
            ],
        ),
        (
            ["the battery", "the screen", "the sound", "the signal"],
            ["lasts all day", "is crisp", "is superb", "is strong"],
            ["dies in two hours", "is scratched", "crackles", "keeps dropping"],
        ),
    ],
    "home": [
        (
            [
                "the kettle",
                "the lamp",
                "the sheets",
                "the pillow",
                "the pan",
                "the chair",
                "the vacuum",
                "the blender",
                "the mug",
                "the towels",
                "the curtains",
                "the heater",
                "the rice cooker",
            ],
            [
                "works great",
                "is sturdy",
                "is beautiful",
                "was easy to assemble",
                "is great value",
                "is very comfortable",
            ],
            [
                "leaks",
                "broke on the first use",
                "arrived damaged",
                "is missing parts",
                "rusted in a week",
                "stinks of plastic",
                "is flimsy",
                "stopped working",
                "is far smaller than described",
                "is really noisy",
            ],
        ),
    ],
    "service": [
        (
            ["the courier", "shipping", "delivery", "the parcel"],
            ["was quick", "was super fast", "arrived a day early", "was well packed"],
            [
                "took three weeks",
                "was lost",
                "arrived crushed",
                "was left in the rain",
                "never showed up",
                "is still stuck in transit",
            ],
        ),
        (
            ["customer service", "support", "the seller", "the refund process", "the return process"],
            ["was really helpful", "was quick and friendly", "sorted it out fast", "was painless", "was excellent"],
            [
                "was useless",
                "ignored my emails",
                "was rude",
                "keeps giving me the runaround",
                "is a nightmare",
                "took forever",
                "refused to help",
            ],
        ),
    ],
}
EN_GENERAL_POS = [
    "Highly recommend.",
    "Very happy.",
    "Five stars.",
    "Would buy again.",
    "Great value.",
    "Love it!",
    "Really pleased.",
    "Excellent.",
    "No complaints.",
    "Couldn't be happier.",
    "Will order again.",
    "Worth every penny.",
    "Pleasantly surprised.",
    "Good stuff.",
    "Happy customer.",
    "Overall pretty good.",
]
EN_GENERAL_NEG = [
    "Never again.",
    "Avoid.",
    "Total waste of money.",
    "Very disappointed.",
    "Terrible.",
    "Do not buy.",
    "One star.",
    "Awful experience.",
    "Complete rip-off.",
    "What a joke.",
    "Absolutely useless.",
    "I want my money back.",
    "Worst purchase ever.",
    "Not worth it.",
    "So frustrating.",
    "Pathetic.",
    "Ridiculous.",
    "Garbage.",
]
EN_MINOR_NEG = [
    "delivery was a bit slow",
    "the box was slightly dented",
    "it's a little pricey",
    "the colour is slightly darker than the photo",
    "the instructions could be clearer",
]
EN_MINOR_POS = ["the packaging was nice", "the price was ok", "delivery was quick", "it looks fine"]
EN_NEGATED_PRAISE = [
    "not worth the price",
    "not what I expected",
    "not good at all",
    "not comfortable",
    "doesn't work as advertised",
    "nowhere near as good as the reviews say",
    "not fresh",
    "wouldn't recommend it",
    "not happy",
]
EN_NEGATED_COMPLAINT = [
    "no scratches at all",
    "not a single problem",
    "no issues so far",
    "not too expensive",
    "no smell",
    "never had a problem",
    "can't fault it",
    "never been let down",
    "can't complain",
    "nothing to complain about",
    "not disappointed at all",
    "no regrets",
    "never disappoints",
    "not bad at all",
    "no problems whatsoever",
    "didn't break",
]
EN_SARCASM = [
    "Great, {c}.",
    "Thanks a lot, {c}.",
    "Wow, just wow. {c}.",
    "Brilliant, {c}. Just brilliant.",
    "Oh fantastic, {c}.",
    "Love how {c}.",
]


def en_clause(rng: random.Random, domain: str, positive: bool) -> str:
    subjects, praise, complaints = rng.choice(EN_ASPECTS[domain])
    return rng.choice(subjects) + " " + rng.choice(praise if positive else complaints)


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def en_review(rng: random.Random, positive: bool) -> str:
    domain = rng.choice(list(EN_ASPECTS) + ["service"])
    parts = distinct(
        lambda: en_clause(rng, domain if rng.random() < 0.8 else "service", positive), rng.choice([1, 1, 2, 2, 3])
    )
    form = rng.random()
    if positive:
        if form < 0.15:
            parts.append("only thing is " + rng.choice(EN_MINOR_NEG))
        elif form < 0.25:
            parts = ["although " + rng.choice(EN_MINOR_NEG)] + parts
        elif form < 0.35:
            parts.append(rng.choice(EN_NEGATED_COMPLAINT))
    else:
        if form < 0.2:
            parts = [rng.choice(EN_MINOR_POS) + " but " + parts[0]] + parts[1:]
        elif form < 0.3:
            parts.append(rng.choice(EN_NEGATED_PRAISE))
        elif form < 0.4:
            return rng.choice(EN_SARCASM).format(c=parts[0])
    text = ". ".join(_cap(p) for p in parts) + rng.choice([".", "!", "", "!!"])
    if rng.random() < 0.5:
        text += " " + rng.choice(EN_GENERAL_POS if positive else EN_GENERAL_NEG)
    return text if rng.random() < 0.8 else text.lower()


EN_ITEMS = [
    "jacket",
    "dress",
    "phone",
    "laptop",
    "headphones",
    "charger",
    "lamp",
    "kettle",
    "sheets",
    "shoes",
    "parcel",
    "package",
    "order",
    "item",
    "blender",
    "tablet",
]
EN_NEUTRAL = [
    "where is my order",
    "where's my package",
    "when will order {oid} ship",
    "can you check order {oid}",
    "{oid}",
    "order number {oid}",
    "my order number is {oid}",
    "can you track my parcel",
    "has it shipped yet",
    "how long does delivery to {city} take",
    "when will it arrive",
    "how do I return this",
    "I'd like to return the {item}",
    "what is your return policy",
    "how long do refunds take",
    "can I exchange it for a different size",
    "who pays for return shipping",
    "I want to request a refund",
    "where do I send returns",
    "do you accept PayPal",
    "can I pay with a credit card",
    "can I pay in instalments",
    "my payment didn't go through, what should I do",
    "how do I get an invoice",
    "how do I use a coupon",
    "are there any discounts",
    "how do I sign up for membership",
    "how do I redeem my points",
    "what are the member benefits",
    "do you have this {item} in XL",
    "does this phone support 5G",
    "is this pan induction compatible",
    "do you have it in black",
    "when will it be back in stock",
    "what size should I get",
    "how long is the warranty",
    "is the {item} genuine",
    "is it in stock",
    "human agent",
    "talk to a human",
    "can I speak to a real person",
    "agent please",
    "transfer me to an agent",
    "hi",
    "hello",
    "hey there",
    "anyone there?",
    "ok",
    "okay",
    "sure",
    "got it",
    "thanks",
    "thank you",
    "ok thanks",
    "yes",
    "no",
    "can I change my delivery address",
    "I want to change my order",
    "cancel my order",
    "please cancel order {oid}",
    "my phone number is {phone}",
    "what are your opening hours",
    "do you have a physical store",
    "is shipping free",
    "do you ship to {city}",
    "can I get express delivery",
    "which courier do you use",
    "do I need the original box to return it",
    "can I return it without the tags",
    "how long does an exchange take",
    "where can I see the tracking info",
    "what's the tracking number",
    "can I change the colour after ordering",
    "how do I wash the {item}",
    "is the charger included",
    "how do I set up the {item}",
    "is there an installation video",
    "what's your support phone number",
    "I have a question",
    "quick question",
    "I'd like to buy a {item}",
    "can you recommend a {item}",
    "is there a sale on",
    "I just placed an order",
    "I've paid already",
    "I sent the return back, tracking {oid}",
    "I submitted a return request",
    "what's the status of my refund",
    "the tracking says delivered",
    "can you deliver on weekends",
    "I forgot my password",
    "how do I delete my account",
    "can you add a note to my order",
    "could you hurry the shipping please",
    "never mind",
    "that's all",
    "bye",
    "good morning",
    "good evening",
    "I want to return this {item}",
    "can I return the {item}",
    "the {item} is too big, can I swap for a smaller one",
    "I got it",
    "it arrived",
    "how much is shipping",
    "do I have to ship it back myself",
    "what if my parcel gets lost",
    "what do I do if the item is damaged",
    "how do I return a faulty item",
    "can I return it if it doesn't fit",
    "how do I file a complaint",
    "do you price match",
    "is cash on delivery available",
    "what payment methods do you accept",
    "my address is 12 {city} Road",
    "the order was for my mum",
    "I need it by Friday",
    "can I pick it up in store",
    "what is the {item} made of",
    "does the {item} run large or small",
    "what plug does the {item} have",
    "how heavy is the {item}",
    "what size is the {item}",
    "is the {item} machine washable",
    "what age is this for",
    "what's the wattage",
    "what's the difference between these two",
    "what does this spec mean",
    "is this the latest model",
    "does it support wireless charging",
    "does the price include tax",
]
EN_NEG_CS = [
    "this is ridiculous, I've waited a week and it still hasn't shipped",
    "I want to file a complaint",
    "I'm going to report you to consumer protection",
    "I'll see you in court",
    "my lawyer will be in touch",
    "I'm disputing the charge with my bank",
    "are you a bot? you don't understand anything",
    "useless customer service",
    "what a terrible service",
    "why is getting a refund so hard",
    "you're a bunch of scammers",
    "this is a scam",
    "I'm so angry right now",
    "I've asked three times already, what is going on",
    "when am I getting my money back",
    "this is unacceptable",
    "you guys are a joke",
    "still no refund, what the hell",
    "you promised 3 days, liar",
    "two weeks and nothing, what are you even doing",
    "the courier smashed my {item} and denies it",
    "the {item} arrived broken, you're so irresponsible",
    "how dare you sell such junk",
    "I'm fed up with the delays",
    "stop giving me scripted answers",
    "give me a straight answer",
    "I'm leaving a one star review",
    "refund me now or I'll report you",
    "I'll call the police if this continues",
    "terrible attitude",
    "your after-sales service is a joke",
    "worst shopping experience of my life",
    "your agents are clueless",
    "I'm really upset",
    "I am extremely dissatisfied",
    "so disappointed",
    "this is the last time I shop here",
    "let me talk to your manager",
    "stop fobbing me off",
    "you keep saying it's being handled, bullshit",
    "a month since I returned it and still no refund",
    "you sent the wrong item and won't exchange it",
    "it's a counterfeit, I want compensation",
    "order {oid} still hasn't shipped, are you kidding me",
    "the {item} broke after two days, total crap",
    "is this a scam?",
    "this is bullying customers",
    "how many times do I have to say it",
    "so annoying",
    "unbelievable",
    "what a rip-off",
    "this is a disgrace",
    "great service, only waited a month",
    "oh wonderful, another 'please wait'",
    "thanks for nothing",
    "I got an empty box, fantastic",
    "I'll post this all over social media",
    "you charged me twice, fix it now",
    "damn it, where is my stuff",
    "wtf is taking so long",
    "this sucks",
    "you people are hopeless",
    "I'm never buying from you again",
    "absolutely furious",
    "you lost my {item} and nobody cares",
]
EN_POS_CS = [
    "thanks, that really helped",
    "you've been so patient, thank you",
    "problem solved, great",
    "got it, love it",
    "great service",
    "thank you so much",
    "that was fast, well done",
    "refund received, thanks",
    "the exchange was quick, very happy",
    "best customer service I've had",
    "the {item} works great, thanks for the tip",
    "arrived next day, thanks",
    "cheers, appreciate it",
    "you're a star",
    "awesome, thanks",
    "perfect, thank you",
    "I'll definitely shop here again",
    "sorted so quickly, thanks",
    "lovely packaging, thank you",
    "the dress fits perfectly, so happy",
    "brilliant, thanks a lot",
    "really appreciate your help",
    "wonderful, thanks",
    "thanks, have a nice day",
]


def en_slots(rng: random.Random, template: str) -> str:
    oid = "".join(rng.choice("0123456789") for _ in range(12))
    return template.format(
        oid=oid,
        item=rng.choice(EN_ITEMS),
        phone="07" + "".join(rng.choice("0123456789") for _ in range(9)),
        city=rng.choice(["London", "Manchester", "Berlin", "Paris", "Toronto", "Sydney", "Boston"]),
    )


def en_cs(rng: random.Random, label: str) -> str:
    if label == "neutral":
        t = en_slots(rng, rng.choice(EN_NEUTRAL))
        prefix = rng.choice(["", "", "", "hi, ", "hello, ", "excuse me, ", "hey, "]) if not t[0].isdigit() else ""
        text = prefix + t + rng.choice(["", "", "?", ".", " please"])
    elif label == "negative":
        text = (
            rng.choice(["", "", "", "seriously, ", "listen, ", "hello?? "])
            + en_slots(rng, rng.choice(EN_NEG_CS))
            + rng.choice(["", "", "!", "!!", "!!!", "??", "."])
        )
    else:
        text = en_slots(rng, rng.choice(EN_POS_CS)) + rng.choice(["", "!", ".", " :)"])
    r = rng.random()
    return _cap(text) if r < 0.5 else (text.upper() if label == "negative" and r > 0.93 else text)


def generate(fn: Callable[[random.Random], str], n: int, rng: random.Random, label: str, seen: set) -> List[Example]:
    out: List[Example] = []
    tries = 0
    while len(out) < n and tries < n * 20:
        tries += 1
        text = fn(rng).strip()
        if text and text not in seen:
            seen.add(text)
            out.append((text, label))
    return out


def build() -> Dict[str, List[Example]]:
    rng = random.Random(SEED)
    seen: set = set()
    zh: List[Example] = []
    zh += generate(lambda r: zh_review(r, True), 1800, rng, "positive", seen)
    zh += generate(lambda r: zh_review(r, False), 2200, rng, "negative", seen)
    zh += generate(lambda r: zh_cs(r, "neutral"), 1400, rng, "neutral", seen)
    zh += generate(lambda r: zh_cs(r, "negative"), 600, rng, "negative", seen)
    zh += generate(lambda r: zh_cs(r, "positive"), 250, rng, "positive", seen)
    zh += generate(lambda r: zh_long_review(r, True), 900, rng, "positive", seen)
    zh += generate(lambda r: zh_long_review(r, False), 700, rng, "negative", seen)
    zh += generate(zh_mediocre, 900, rng, "negative", seen)
    zh += generate(zh_mild, 900, rng, "positive", seen)
    en: List[Example] = []
    en += generate(lambda r: en_review(r, True), 900, rng, "positive", seen)
    en += generate(lambda r: en_review(r, False), 1000, rng, "negative", seen)
    en += generate(lambda r: en_cs(r, "neutral"), 900, rng, "neutral", seen)
    en += generate(lambda r: en_cs(r, "negative"), 450, rng, "negative", seen)
    en += generate(lambda r: en_cs(r, "positive"), 180, rng, "positive", seen)
    return {"zh": zh, "en": en}


def write(examples: Sequence[Example], path: Path) -> None:
    lines = [json.dumps({"text": t, "label": lab}, ensure_ascii=False) for t, lab in sorted(examples)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for lang, examples in build().items():
        path = OUT / f"generated-{lang}.jsonl"
        write(examples, path)
        counts: Dict[str, int] = {}
        for _, label in examples:
            counts[label] = counts.get(label, 0) + 1
        print(f"{path.relative_to(ROOT)}: {len(examples)} examples {counts}")


if __name__ == "__main__":
    main()
