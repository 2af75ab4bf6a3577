"""Generate the demo order fixture data/orders/demo-orders.yml (customers, orders, parcels, after-sales).

The demo shop sells electronics, home appliances and a little clothing. The generator is deterministic
(one seeded random.Random, no clock): running it again writes a byte-identical file. All times are
written relative to a fixed REFERENCE_TIME; whoever seeds an order system from the file shifts every
time by (now - reference_time), so an order "delivered 5 days ago" is always 5 days old.

What the data guarantees (the order system's rules, orders/policy.py, rely on it):
  * created <= paid <= shipped <= delivered, every time within [reference - 60 days, reference - 1 hour],
    all with +08:00;
  * the fields set match the status (e.g. `shipped`: picked up but not delivered, logistics ending in
    transit, at a station, out for delivery or with an exception; `cancelled`: before shipping);
  * `delivered` orders: a third delivered within 7 days, a third 8-15 days ago, a third longer ago
    (the 7-day change-of-mind and 15-day quality windows); `completed`: delivered > 15 days ago;
  * `after_sales`: one open/approved request; `refunded`: one completed refund/return; five
    `delivered` orders carry a rejected request; no other order has requests.

Usage:  .venv/bin/python scripts/make_demo_orders.py [--out PATH] [--orders N]
"""
from __future__ import annotations

import argparse
import math
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import yaml

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "data" / "orders" / "demo-orders.yml"
SEED = 20261120

CST = timezone(timedelta(hours=8))
REFERENCE_TIME = datetime(2026, 11, 20, 12, 0, 0, tzinfo=CST)
EARLIEST = REFERENCE_TIME - timedelta(days=60)
LATEST = REFERENCE_TIME - timedelta(hours=1)

# Status mix per 200 orders.
STATUS_MIX = (("pending_payment", 12), ("paid", 20), ("shipped", 30), ("delivered", 60),
              ("completed", 30), ("cancelled", 18), ("after_sales", 18), ("refunded", 12))
REJECTED_REQUESTS = 5  # delivered orders with a rejected request (per 200 orders)

HEADER = """\
# Demo orders of the shop assistant's demo shop: customers, orders, parcels and after-sales requests.
#
# GENERATED - do not edit by hand. Regenerate (deterministic, byte-identical output):
#     .venv/bin/python scripts/make_demo_orders.py            [--out PATH] [--orders N]
#
# Everything here is made up: no name, phone number, address or tracking number belongs to a real person
# or parcel.
#
# Times: all times are in China time (+08:00) and written relative to `reference_time`. When the demo
# order system is seeded, every time is shifted by (now - reference_time), so that `reference_time`
# becomes "now" and an order delivered "5 days ago" stays 5 days old whenever the demo runs. (Order and
# request numbers keep the unshifted date they were created on.)
#
# Prices are in yuan per unit. Statuses: pending_payment, paid, shipped, delivered, completed (delivered
# more than 15 days ago), cancelled, after_sales (a request is open or approved), refunded.
"""

# --------------------------------------------------------------------------------------------------
# Catalogue: (sku, Chinese name, English name, price in fen, category, popularity weight)
# Sized products expand into one sku per size.
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Product:
    sku: str
    zh: str
    en: str
    price: int  # fen
    category: str  # electronics | home | apparel
    weight: int
    family: str  # products of one family (sizes of one item) never share an order


def _catalogue() -> List[Product]:
    base = [
        ("EB-200-BLK", "无线蓝牙耳机 黑色", "Wireless earbuds, black", 29900, "electronics", 8),
        ("EB-200-WHT", "无线蓝牙耳机 白色", "Wireless earbuds, white", 29900, "electronics", 6),
        ("EB-500-BLK", "主动降噪蓝牙耳机 Pro 黑色", "Noise-cancelling earbuds Pro, black", 69900, "electronics", 5),
        ("HP-300-GRY", "头戴式降噪耳机 深空灰", "Over-ear noise-cancelling headphones, space grey", 119900,
         "electronics", 2),
        ("PC-IP15-CLR", "透明防摔手机壳（适用 iPhone 15）", "Clear shockproof case for iPhone 15", 3990,
         "electronics", 7),
        ("PC-MI14-BLK", "硅胶手机壳 黑色（适用小米 14）", "Silicone case for Xiaomi 14, black", 2990,
         "electronics", 4),
        ("SP-IP15-2PK", "钢化膜 两片装（适用 iPhone 15）", "Tempered glass screen protector, 2-pack (iPhone 15)",
         2990, "electronics", 6),
        ("CH-65W-GAN", "65W 氮化镓快充充电器", "65 W GaN fast charger", 12900, "electronics", 6),
        ("CH-20W-USBC", "20W USB-C 充电头", "20 W USB-C charger", 4900, "electronics", 6),
        ("CB-C2C-1M", "USB-C 编织数据线 1米", "Braided USB-C cable, 1 m", 2990, "electronics", 7),
        ("PB-10K-WHT", "10000mAh 超薄充电宝 白色", "10,000 mAh slim power bank, white", 9900, "electronics", 6),
        ("PB-20K-BLK", "20000mAh 快充充电宝 黑色", "20,000 mAh fast-charging power bank, black", 16900,
         "electronics", 4),
        ("WC-MAG-15W", "15W 磁吸无线充电器", "15 W magnetic wireless charger", 8900, "electronics", 4),
        ("SW-GT3-BLK", "智能手表 GT3 黑色", "Smart watch GT3, black", 89900, "electronics", 4),
        ("SW-GT3-SLV", "智能手表 GT3 银色", "Smart watch GT3, silver", 89900, "electronics", 3),
        ("SB-B7-BLK", "智能手环 7 黑色", "Fitness band 7, black", 22900, "electronics", 4),
        ("KB-MK87-BRN", "87键机械键盘 茶轴", "87-key mechanical keyboard, brown switches", 34900, "electronics", 3),
        ("MS-WL-GRY", "无线静音鼠标 灰色", "Silent wireless mouse, grey", 7900, "electronics", 5),
        ("SPK-BT-MINI", "便携蓝牙音箱", "Portable Bluetooth speaker", 19900, "electronics", 3),
        ("HUB-7IN1", "USB-C 七合一扩展坞", "7-in-1 USB-C hub", 15900, "electronics", 3),
        ("CAM-2K-IND", "2K 家用智能摄像头", "2K indoor smart camera", 18900, "electronics", 3),
        ("SSD-1T-PRT", "1TB 移动固态硬盘", "1 TB portable SSD", 49900, "electronics", 2),
        ("KT-17L-WHT", "1.7L 电热水壶 白色", "1.7 L electric kettle, white", 12900, "home", 5),
        ("RC-4L-IH", "4L IH 电饭煲", "4 L IH rice cooker", 45900, "home", 3),
        ("AP-300-WHT", "空气净化器 AP300", "Air purifier AP300", 129900, "home", 2),
        ("AP-300-FLT", "空气净化器 AP300 替换滤芯", "Replacement filter for air purifier AP300", 19900, "home", 3),
        ("DL-LED-WHT", "LED 护眼台灯 白色", "LED desk lamp, white", 16900, "home", 4),
        ("AF-5L-BLK", "5L 空气炸锅 黑色", "5 L air fryer, black", 34900, "home", 3),
        ("HD-1800-PNK", "负离子吹风机 粉色", "Ionic hair dryer, pink", 25900, "home", 3),
        ("ETB-S1-WHT", "声波电动牙刷 白色", "Sonic electric toothbrush, white", 19900, "home", 4),
        ("VC-H10-GRY", "无线手持吸尘器", "Cordless stick vacuum", 109900, "home", 2),
        ("HM-4L-WHT", "4L 加湿器 白色", "4 L humidifier, white", 15900, "home", 3),
        ("TH-VAC-500", "500ml 不锈钢保温杯", "500 ml stainless steel vacuum flask", 8900, "home", 4),
        ("PL-MEM-STD", "记忆棉枕头", "Memory foam pillow", 13900, "home", 3),
        ("BL-MINI-GRN", "便携榨汁杯 绿色", "Portable blender, green", 11900, "home", 3),
        ("UM-FOLD-BLK", "全自动折叠晴雨伞 黑色", "Automatic folding umbrella, black", 6900, "home", 3),
        ("YM-6MM-PUR", "6mm 瑜伽垫 紫色", "6 mm yoga mat, purple", 9900, "home", 2),
        ("BP-15-BLK", "15.6 英寸双肩电脑包 黑色", "15.6-inch laptop backpack, black", 22900, "apparel", 4),
    ]
    sized = [
        # (sku prefix, zh, en, price, sizes, weight)
        ("TS-COT-WHT", "纯棉圆领T恤 白色", "Cotton crew-neck T-shirt, white", 7900, ("S", "M", "L", "XL"), 5),
        ("TS-COT-NVY", "纯棉圆领T恤 藏青色", "Cotton crew-neck T-shirt, navy", 7900, ("M", "L", "XL"), 4),
        ("HD-FLC-GRY", "加绒连帽卫衣 灰色", "Fleece hoodie, grey", 19900, ("M", "L", "XL"), 3),
        ("RS-AIR-BLK", "轻便跑步鞋 黑色", "Lightweight running shoes, black", 39900,
         ("39", "40", "41", "42", "43", "44"), 4),
        ("RS-AIR-WHT", "轻便跑步鞋 白色", "Lightweight running shoes, white", 39900, ("36", "37", "38", "39", "40"), 3),
    ]
    products = [Product(s, zh, en, p, c, w, s) for s, zh, en, p, c, w in base]
    for prefix, zh, en, price, sizes, weight in sized:
        shoe = prefix.startswith("RS-")
        for size in sizes:
            products.append(Product(
                f"{prefix}-{size}",
                f"{zh} {size}码",
                f"{en}, {'EU ' if shoe else 'size '}{size}",
                price, "apparel", weight, prefix))
    return products


CATALOGUE = _catalogue()
SIZED_FAMILIES = ("TS-", "HD-FLC", "RS-")

# --------------------------------------------------------------------------------------------------
# Geography: cities with coordinates (for transit times), sorting hubs and districts with roads.
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class City:
    short: str  # 上海
    en: str
    province: str  # 上海市
    city: str  # 上海市
    lat: float
    lon: float
    hub: Tuple[str, str]  # sorting centre (zh, en)
    districts: Tuple[Tuple[str, str, Tuple[str, ...]], ...]  # (zh, en, roads)
    expat: bool = False  # where the English-speaking customers live
    remote: bool = False  # EMS is more common


def _c(short, en, province, lat, lon, hub, districts, city=None, **kw) -> City:
    return City(short, en, province, city or short + "市", lat, lon, hub, tuple(districts), **kw)


CITIES: Tuple[City, ...] = (
    _c("上海", "Shanghai", "上海市", 31.23, 121.47, ("上海浦东转运中心", "Shanghai Pudong sorting centre"), [
        ("浦东新区", "Pudong", ("张江路", "锦绣路", "花木路")),
        ("徐汇区", "Xuhui", ("漕溪北路", "宜山路")),
        ("闵行区", "Minhang", ("七莘路", "莘松路")),
        ("杨浦区", "Yangpu", ("国定路", "控江路")),
        ("长宁区", "Changning", ("仙霞路", "天山路"))], expat=True),
    _c("北京", "Beijing", "北京市", 39.90, 116.40, ("北京顺义转运中心", "Beijing Shunyi sorting centre"), [
        ("朝阳区", "Chaoyang", ("朝阳北路", "望京街", "建国路")),
        ("海淀区", "Haidian", ("中关村大街", "学院路")),
        ("丰台区", "Fengtai", ("丰台北路", "科学城路")),
        ("昌平区", "Changping", ("回龙观西大街", "育知东路"))], expat=True),
    _c("广州", "Guangzhou", "广东省", 23.13, 113.26, ("广州白云转运中心", "Guangzhou Baiyun sorting centre"), [
        ("天河区", "Tianhe", ("天河北路", "体育西路", "黄埔大道西")),
        ("海珠区", "Haizhu", ("江南大道中", "新港西路")),
        ("番禺区", "Panyu", ("大北路", "兴业大道"))], expat=True),
    _c("深圳", "Shenzhen", "广东省", 22.54, 114.06, ("深圳宝安转运中心", "Shenzhen Bao'an sorting centre"), [
        ("南山区", "Nanshan", ("科苑路", "南海大道", "高新南一道")),
        ("福田区", "Futian", ("深南大道", "福华路")),
        ("宝安区", "Bao'an", ("宝安大道", "新湖路")),
        ("龙岗区", "Longgang", ("龙岗大道", "布澜路"))], expat=True),
    _c("杭州", "Hangzhou", "浙江省", 30.27, 120.15, ("杭州萧山转运中心", "Hangzhou Xiaoshan sorting centre"), [
        ("西湖区", "Xihu", ("文三路", "天目山路")),
        ("滨江区", "Binjiang", ("江南大道", "滨盛路")),
        ("余杭区", "Yuhang", ("文一西路", "五常大道"))], expat=True),
    _c("宁波", "Ningbo", "浙江省", 29.87, 121.55, ("宁波鄞州转运中心", "Ningbo Yinzhou sorting centre"), [
        ("鄞州区", "Yinzhou", ("天童南路", "钱湖北路")),
        ("海曙区", "Haishu", ("中山西路", "望春路"))]),
    _c("南京", "Nanjing", "江苏省", 32.06, 118.80, ("南京江宁转运中心", "Nanjing Jiangning sorting centre"), [
        ("鼓楼区", "Gulou", ("中山北路", "汉中门大街")),
        ("玄武区", "Xuanwu", ("珠江路", "龙蟠路")),
        ("江宁区", "Jiangning", ("双龙大道", "天元中路"))]),
    _c("苏州", "Suzhou", "江苏省", 31.30, 120.58, ("苏州吴中转运中心", "Suzhou Wuzhong sorting centre"), [
        ("姑苏区", "Gusu", ("人民路", "干将东路")),
        ("工业园区", "Industrial Park", ("星湖街", "金鸡湖大道")),
        ("吴中区", "Wuzhong", ("东吴北路", "宝带西路"))], expat=True),
    _c("合肥", "Hefei", "安徽省", 31.82, 117.23, ("合肥肥西转运中心", "Hefei Feixi sorting centre"), [
        ("蜀山区", "Shushan", ("长江西路", "潜山路")),
        ("包河区", "Baohe", ("徽州大道", "马鞍山路"))]),
    _c("成都", "Chengdu", "四川省", 30.57, 104.07, ("成都双流转运中心", "Chengdu Shuangliu sorting centre"), [
        ("武侯区", "Wuhou", ("科华北路", "佳灵路")),
        ("锦江区", "Jinjiang", ("东大街", "锦华路")),
        ("成华区", "Chenghua", ("建设路", "二环路东二段"))], expat=True),
    _c("重庆", "Chongqing", "重庆市", 29.56, 106.55, ("重庆沙坪坝转运中心", "Chongqing Shapingba sorting centre"), [
        ("渝中区", "Yuzhong", ("民生路", "中山三路")),
        ("江北区", "Jiangbei", ("建新北路", "洋河北路")),
        ("渝北区", "Yubei", ("金开大道", "新牌坊一路"))]),
    _c("武汉", "Wuhan", "湖北省", 30.59, 114.31, ("武汉东西湖转运中心", "Wuhan Dongxihu sorting centre"), [
        ("洪山区", "Hongshan", ("珞喻路", "雄楚大道")),
        ("武昌区", "Wuchang", ("中北路", "中南路")),
        ("江汉区", "Jianghan", ("解放大道", "新华路"))]),
    _c("长沙", "Changsha", "湖南省", 28.23, 112.94, ("长沙望城转运中心", "Changsha Wangcheng sorting centre"), [
        ("岳麓区", "Yuelu", ("枫林三路", "麓山南路")),
        ("芙蓉区", "Furong", ("五一大道", "车站北路"))]),
    _c("郑州", "Zhengzhou", "河南省", 34.75, 113.63, ("郑州航空港转运中心", "Zhengzhou Airport sorting centre"), [
        ("金水区", "Jinshui", ("花园路", "农业路")),
        ("二七区", "Erqi", ("大学路", "航海中路"))]),
    _c("西安", "Xi'an", "陕西省", 34.34, 108.94, ("西安灞桥转运中心", "Xi'an Baqiao sorting centre"), [
        ("雁塔区", "Yanta", ("小寨东路", "高新路")),
        ("碑林区", "Beilin", ("南大街", "友谊东路"))]),
    _c("天津", "Tianjin", "天津市", 39.13, 117.20, ("天津西青转运中心", "Tianjin Xiqing sorting centre"), [
        ("南开区", "Nankai", ("鞍山西道", "红旗路")),
        ("河西区", "Hexi", ("友谊路", "围堤道"))]),
    _c("青岛", "Qingdao", "山东省", 36.07, 120.38, ("青岛城阳转运中心", "Qingdao Chengyang sorting centre"), [
        ("市南区", "Shinan", ("香港中路", "东海西路")),
        ("崂山区", "Laoshan", ("株洲路", "松岭路"))]),
    _c("济南", "Jinan", "山东省", 36.65, 117.12, ("济南槐荫转运中心", "Jinan Huaiyin sorting centre"), [
        ("历下区", "Lixia", ("泉城路", "经十路")),
        ("市中区", "Shizhong", ("经七路", "英雄山路"))]),
    _c("厦门", "Xiamen", "福建省", 24.48, 118.09, ("厦门集美转运中心", "Xiamen Jimei sorting centre"), [
        ("思明区", "Siming", ("厦禾路", "湖滨南路")),
        ("湖里区", "Huli", ("仙岳路", "枋湖路"))]),
    _c("福州", "Fuzhou", "福建省", 26.07, 119.30, ("福州闽侯转运中心", "Fuzhou Minhou sorting centre"), [
        ("鼓楼区", "Gulou", ("五四路", "杨桥中路")),
        ("台江区", "Taijiang", ("工业路", "江滨中大道"))]),
    _c("南昌", "Nanchang", "江西省", 28.68, 115.86, ("南昌昌北转运中心", "Nanchang Changbei sorting centre"), [
        ("东湖区", "Donghu", ("八一大道", "阳明路")),
        ("红谷滩区", "Honggutan", ("红谷中大道", "丰和中大道"))]),
    _c("沈阳", "Shenyang", "辽宁省", 41.80, 123.43, ("沈阳于洪转运中心", "Shenyang Yuhong sorting centre"), [
        ("和平区", "Heping", ("南京北街", "中华路")),
        ("沈河区", "Shenhe", ("青年大街", "北站路"))]),
    _c("大连", "Dalian", "辽宁省", 38.91, 121.61, ("大连甘井子转运中心", "Dalian Ganjingzi sorting centre"), [
        ("中山区", "Zhongshan", ("人民路", "解放路")),
        ("沙河口区", "Shahekou", ("西安路", "五一路"))]),
    _c("长春", "Changchun", "吉林省", 43.82, 125.32, ("长春绿园转运中心", "Changchun Lüyuan sorting centre"), [
        ("朝阳区", "Chaoyang", ("工农大路", "西安大路")),
        ("南关区", "Nanguan", ("人民大街", "亚泰大街"))]),
    _c("哈尔滨", "Harbin", "黑龙江省", 45.80, 126.53, ("哈尔滨道外转运中心", "Harbin Daowai sorting centre"), [
        ("南岗区", "Nangang", ("西大直街", "学府路")),
        ("道里区", "Daoli", ("友谊路", "安心街"))], remote=True),
    _c("石家庄", "Shijiazhuang", "河北省", 38.04, 114.51,
       ("石家庄正定转运中心", "Shijiazhuang Zhengding sorting centre"), [
        ("长安区", "Chang'an", ("中山东路", "建设北大街")),
        ("裕华区", "Yuhua", ("槐安东路", "体育南大街"))]),
    _c("太原", "Taiyuan", "山西省", 37.87, 112.55, ("太原小店转运中心", "Taiyuan Xiaodian sorting centre"), [
        ("小店区", "Xiaodian", ("长风街", "平阳路")),
        ("杏花岭区", "Xinghualing", ("解放路", "五一路"))]),
    _c("昆明", "Kunming", "云南省", 25.04, 102.71, ("昆明官渡转运中心", "Kunming Guandu sorting centre"), [
        ("五华区", "Wuhua", ("东风西路", "人民中路")),
        ("盘龙区", "Panlong", ("北京路", "白塔路"))], remote=True),
    _c("贵阳", "Guiyang", "贵州省", 26.65, 106.63, ("贵阳花溪转运中心", "Guiyang Huaxi sorting centre"), [
        ("云岩区", "Yunyan", ("中华北路", "北京路")),
        ("观山湖区", "Guanshanhu", ("长岭北路", "林城西路"))], remote=True),
    _c("南宁", "Nanning", "广西壮族自治区", 22.82, 108.37, ("南宁江南转运中心", "Nanning Jiangnan sorting centre"), [
        ("青秀区", "Qingxiu", ("民族大道", "东葛路")),
        ("西乡塘区", "Xixiangtang", ("大学东路", "明秀东路"))]),
    _c("海口", "Haikou", "海南省", 20.04, 110.34, ("海口美兰转运中心", "Haikou Meilan sorting centre"), [
        ("龙华区", "Longhua", ("国贸路", "滨海大道")),
        ("美兰区", "Meilan", ("海府路", "和平大道"))], remote=True),
    _c("佛山", "Foshan", "广东省", 23.02, 113.12, ("佛山南海转运中心", "Foshan Nanhai sorting centre"), [
        ("禅城区", "Chancheng", ("季华五路", "祖庙路")),
        ("顺德区", "Shunde", ("德民路", "南国东路"))]),
    _c("兰州", "Lanzhou", "甘肃省", 36.06, 103.83, ("兰州安宁转运中心", "Lanzhou Anning sorting centre"), [
        ("城关区", "Chengguan", ("东岗西路", "庆阳路"))], remote=True),
    _c("乌鲁木齐", "Ürümqi", "新疆维吾尔自治区", 43.83, 87.62,
       ("乌鲁木齐米东转运中心", "Ürümqi Midong sorting centre"), [
        ("天山区", "Tianshan", ("解放南路", "新华南路")),
        ("沙依巴克区", "Saybagh", ("友好北路", "西北路"))], remote=True),
)
CITY = {c.short: c for c in CITIES}
# Where parcels leave from: the two main warehouses and three regional ones.
MAIN_WAREHOUSES = ("深圳", "杭州")
REGIONAL_WAREHOUSES = ("北京", "武汉", "成都")
TRANSIT_HUBS = ("武汉", "郑州", "南京", "长沙", "西安", "北京", "上海", "广州", "沈阳")

COMPOUNDS = ("阳光花园", "翠湖苑", "锦绣华庭", "东方名苑", "海棠湾小区", "春华里", "枫林苑", "和平新村",
             "世纪嘉园", "金色家园", "丽景湾", "晨曦小区", "绿洲雅苑", "桂花园", "云栖公寓")
OFFICES = ("创新大厦", "汇金中心", "国际商务中心", "天安科技园", "银泰大厦", "星河发展中心", "智慧谷",
           "科技大厦", "中融大厦", "新世纪广场")

CARRIERS = (  # zh, en, weight
    ("顺丰速运", "SF Express", 30), ("中通快递", "ZTO Express", 25), ("京东物流", "JD Logistics", 20),
    ("圆通速递", "YTO Express", 15), ("EMS", "China Post EMS", 10))
CARRIER_EN = {zh: en for zh, en, _ in CARRIERS}

# --------------------------------------------------------------------------------------------------
# People
# --------------------------------------------------------------------------------------------------

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林高罗郑梁谢宋唐许韩冯邓曹彭曾肖田董潘袁蔡蒋余杜叶程魏苏吕丁任沈姚卢钟"
GIVEN = ("伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明",
         "超", "秀兰", "霞", "平", "刚", "晓燕", "子轩", "浩然", "雨桐", "欣怡", "梓涵", "思远", "嘉怡", "一鸣",
         "宇航", "佳琪", "文博", "晨曦", "俊杰", "婷婷", "晓东", "海燕", "志强", "丹", "鹏", "琳", "颖", "建华",
         "玉兰", "国庆", "亚楠", "梦瑶", "子涵", "博文", "诗琪", "立新", "慧敏", "宏伟", "春梅")
ENGLISH_FIRST = ("Emily", "James", "Sophie", "Daniel", "Olivia", "Lucas", "Hannah", "Ryan", "Chloe", "Thomas",
                 "Anna", "Marco", "Grace", "Noah", "Laura", "Ben", "Julia", "Oliver")
ENGLISH_LAST = ("Carter", "Wilson", "Martin", "Brooks", "Bennett", "Fischer", "Schmidt", "Murphy", "Dubois", "Reed",
                "Novak", "Rossi", "Turner", "Patel", "Hughes", "Larsen", "Moreau", "Walsh")
COURIER_SURNAMES = (("王", "Wang"), ("李", "Li"), ("张", "Zhang"), ("刘", "Liu"), ("陈", "Chen"), ("杨", "Yang"),
                    ("赵", "Zhao"), ("黄", "Huang"), ("周", "Zhou"), ("吴", "Wu"), ("孙", "Sun"), ("马", "Ma"))
PHONE_PREFIXES = ("130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "155",
                  "156", "157", "158", "159", "166", "173", "177", "180", "181", "182", "185", "186", "187",
                  "188", "189", "191", "198", "199")

# --------------------------------------------------------------------------------------------------
# After-sales texts: reason -> category -> (zh notes, en notes)
# --------------------------------------------------------------------------------------------------

NOTES: Dict[str, Dict[str, Tuple[Tuple[str, ...], Tuple[str, ...]]]] = {
    "damaged": {
        "electronics": (("收到时外包装破损，商品有磕碰痕迹", "快递箱被压坏，外壳有裂痕", "拆开发现表面有很深的划痕"),
                        ("The box was crushed and the product is dented", "Arrived with a cracked casing",
                         "Deep scratches on the front when I unpacked it")),
        "home": (("收到时外包装破损，机身有凹痕", "快递箱被压坏，外壳有裂痕"),
                 ("The box was crushed and the body is dented", "Arrived with a cracked casing")),
        "apparel": (("收到时有污渍", "包装破了，表面有划痕"),
                    ("Arrived with a stain on it", "The bag was torn and it is scratched")),
    },
    "defective": {
        "electronics": (("使用两天后无法开机", "充电没有反应", "蓝牙经常断连", "左耳没有声音"),
                        ("Stopped turning on after two days", "Does not charge at all",
                         "Bluetooth keeps disconnecting", "No sound from the left side")),
        "home": (("通电后没有反应", "用了三次就不加热了", "运行时有很大的异响"),
                 ("Nothing happens when plugged in", "Stopped heating after three uses",
                  "Makes a loud rattling noise")),
        "apparel": (("洗了一次就开线了", "拉链坏了，拉不上"),
                    ("A seam came apart after one wash", "The zip is broken")),
    },
    "wrong_item": {
        "electronics": (("收到的颜色和下单的不一致", "发错型号了"),
                        ("Received the wrong colour", "The wrong model was sent")),
        "home": (("收到的颜色和下单的不一致", "发错型号了"),
                 ("Received the wrong colour", "The wrong model was sent")),
        "apparel": (("收到的尺码不是我下单的", "收到的颜色和下单的不一致"),
                    ("Got a different size than I ordered", "Received the wrong colour")),
    },
    "not_as_described": {
        "electronics": (("续航远没有详情页写的那么长", "不支持页面上写的快充协议"),
                        ("Battery life is far below what the product page says",
                         "Does not support the fast-charging standard listed on the page")),
        "home": (("实物比图片小很多", "颜色和详情页图片差别很大"),
                 ("Much smaller than in the pictures", "The colour looks nothing like the product photos")),
        "apparel": (("面料很薄，和描述的不一样", "颜色和图片差别很大"),
                    ("The fabric is much thinner than described", "The colour looks nothing like the photos")),
    },
    "changed_mind": {
        "any": (("不想要了，未拆封", "买重复了", "家里已经有一个了", "买错了，想退掉"),
                ("Don't need it any more, still sealed", "Ordered twice by mistake",
                 "We already have one at home", "Bought it by mistake")),
    },
    "size": {
        "apparel": (("尺码偏小，想换大一码", "鞋子偏大，想换小一码", "穿着太紧了"),
                    ("Runs small, would like one size up", "The shoes are too big, one size down please",
                     "Too tight")),
    },
    "other": {
        "any": (("送人的礼物，对方已经有了", "发票抬头开错了，想重新下单"),
                ("It was a gift and they already have one", "Wrong invoice title, want to reorder")),
    },
}
# Which request types fit a reason.
TYPES_FOR_REASON = {
    "damaged": ("refund", "return", "exchange"), "defective": ("exchange", "return", "refund"),
    "wrong_item": ("exchange", "return"), "not_as_described": ("return", "refund"), "changed_mind": ("return",),
    "size": ("exchange", "return"), "other": ("return",),
}
QUALITY = ("damaged", "defective", "wrong_item", "not_as_described")


# --------------------------------------------------------------------------------------------------
# Generator
# --------------------------------------------------------------------------------------------------


@dataclass
class Addr:
    recipient: str
    phone: str
    city: City
    district: Tuple[str, str, Tuple[str, ...]]
    street: str


@dataclass
class Cust:
    id: str
    name: str
    phone: str
    tier: str
    language: str
    addresses: List[Addr] = field(default_factory=list)


def iso(t: Optional[datetime]) -> Optional[str]:
    return None if t is None else t.isoformat()


def yymmdd(t: datetime) -> str:
    return t.strftime("%y%m%d")


def yuan(fen: int) -> "Yuan":
    return Yuan(f"{fen // 100}.{fen % 100:02d}")


class Yuan(str):
    """A price, written as a YAML float with two decimals (299.00)."""


class Flow(dict):
    """A mapping written on one line: {sku: ..., qty: 1}."""


class Dumper(yaml.SafeDumper):
    def increase_indent(self, flow=False, indentless=False):
        return super().increase_indent(flow, False)  # indent lists inside mappings

    def choose_scalar_style(self):
        style = super().choose_scalar_style()
        return '"' if style == "'" else style  # "13812345678" rather than '13812345678'


Dumper.add_representer(Yuan, lambda d, v: d.represent_scalar("tag:yaml.org,2002:float", str(v)))
Dumper.add_representer(Flow, lambda d, v: d.represent_mapping("tag:yaml.org,2002:map", v, flow_style=True))


def km(a: City, b: City) -> float:
    la1, lo1, la2, lo2 = map(math.radians, (a.lat, a.lon, b.lat, b.lon))
    h = math.sin((la2 - la1) / 2) ** 2 + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2
    return 2 * 6371 * math.asin(math.sqrt(h))


class Generator:
    def __init__(self, n_orders: int, seed: int = SEED) -> None:
        self.rng = random.Random(seed)
        self.n_orders = n_orders
        self.phones: set = set()
        self.numbers: set = set()
        self.trackings: set = set()
        self.request_numbers: set = set()

    # --- small helpers ------------------------------------------------------------------------

    def span(self, lo_hours: float, hi_hours: float) -> timedelta:
        return timedelta(seconds=self.rng.randint(int(lo_hours * 3600), int(hi_hours * 3600)))

    def ago(self, lo_days: float, hi_days: float) -> datetime:
        return REFERENCE_TIME - self.span(lo_days * 24, hi_days * 24)

    def daytime(self, t: datetime, start: int = 8, end: int = 20) -> datetime:
        """t, or the next working-hours moment after it."""
        if start <= t.hour < end:
            return t
        day = t if t.hour < start else t + timedelta(days=1)
        base = day.replace(hour=start, minute=0, second=0)
        return base + self.span(0, 2.5)

    def phone(self) -> str:
        while True:
            p = self.rng.choice(PHONE_PREFIXES) + f"{self.rng.randint(0, 99999999):08d}"
            if p not in self.phones:
                self.phones.add(p)
                return p

    def weighted(self, items: Sequence, weights: Sequence[float]):
        return self.rng.choices(items, weights=weights, k=1)[0]

    # --- customers ----------------------------------------------------------------------------

    def address(self, recipient: str, phone: str, city: City, office: bool = False) -> Addr:
        rng = self.rng
        district = rng.choice(city.districts)
        road = rng.choice(district[2])
        if office:
            street = f"{road}{rng.randint(1, 999)}号{rng.choice(OFFICES)}{rng.randint(3, 28)}层"
            if rng.random() < 0.5:
                street += f"{rng.randint(1, 20):02d}室"
        elif city.short == "上海":
            street = (f"{road}{rng.randint(10, 999)}弄{rng.randint(1, 40)}号"
                      f"{rng.randint(1, 18)}{rng.randint(1, 4):02d}室")
        else:
            street = (f"{road}{rng.randint(1, 899)}号{rng.choice(COMPOUNDS)}{rng.randint(1, 30)}栋"
                      f"{rng.randint(1, 4)}单元{rng.randint(1, 32)}{rng.randint(1, 4):02d}室")
        return Addr(recipient, phone, city, district, street)

    def chinese_name(self, used: set, surname: Optional[str] = None) -> str:
        while True:
            name = (surname or self.rng.choice(SURNAMES)) + self.rng.choice(GIVEN)
            if name not in used:
                used.add(name)
                return name

    def english_name(self, used: set) -> str:
        while True:
            name = f"{self.rng.choice(ENGLISH_FIRST)} {self.rng.choice(ENGLISH_LAST)}"
            if name not in used:
                used.add(name)
                return name

    def customers(self, n: int) -> List[Cust]:
        rng = self.rng
        ids = sorted(rng.sample(range(1001, 3000), n))
        n_en = max(1, round(n * 0.15))
        n_vip = max(1, round(n * 0.15))
        english = set(rng.sample(range(n), n_en))
        vip = set(rng.sample(range(n), n_vip))
        used: set = set()
        out = []
        city_weights = [4 if c.short in ("上海", "北京", "广州", "深圳", "杭州") else
                        2 if c.short in ("南京", "苏州", "成都", "武汉", "重庆", "西安") else 1 for c in CITIES]
        expat_cities = [c for c in CITIES if c.expat]
        for k in range(n):
            en = k in english
            name = self.english_name(used) if en else self.chinese_name(used)
            cust = Cust(f"C{ids[k]}", name, self.phone(), "vip" if k in vip else "normal", "en" if en else "zh")
            city = rng.choice(expat_cities) if en else self.weighted(CITIES, city_weights)
            cust.addresses.append(self.address(name, cust.phone, city))
            r = rng.random()
            if r < 0.2:  # also orders to the office
                cust.addresses.append(self.address(name, cust.phone, city, office=True))
            elif r < 0.5:  # also orders for a family member, elsewhere or in the same city
                if en:
                    other = self.chinese_name(used)  # a Chinese partner
                elif rng.random() < 0.6:
                    other = self.chinese_name(used, surname=name[0])
                else:
                    other = self.chinese_name(used)
                where = city if rng.random() < 0.4 else self.weighted(CITIES, city_weights)
                cust.addresses.append(self.address(other, self.phone(), where))
            out.append(cust)
        return out

    def orders_per_customer(self, customers: List[Cust]) -> List[int]:
        """Most customers 1-5 orders, a few (one a VIP, one English-speaking) 6-10; sums to n_orders."""
        rng = self.rng
        n = len(customers)
        n_heavy = min(5, n // 14)
        vips = [k for k, c in enumerate(customers) if c.tier == "vip"]
        english = [k for k, c in enumerate(customers) if c.language == "en"]
        heavy: List[int] = []
        for pool in (vips, english):
            free = [k for k in pool if k not in heavy]
            if free and len(heavy) < n_heavy:
                heavy.append(rng.choice(free))
        while len(heavy) < n_heavy:
            k = rng.randrange(n)
            if k not in heavy:
                heavy.append(k)
        counts = [1] * n
        for j, k in enumerate(heavy):
            counts[k] = 10 - j
        rest = self.n_orders - sum(counts)
        light = [k for k in range(n) if k not in heavy]
        if rest < 0 or rest > 4 * len(light):
            raise SystemExit(f"cannot spread {self.n_orders} orders over {n} customers")
        while rest:
            k = rng.choice(light)
            if counts[k] < 5:
                counts[k] += 1
                rest -= 1
        return counts

    # --- items --------------------------------------------------------------------------------

    def items(self) -> List[Tuple[Product, int]]:
        rng = self.rng
        n = self.weighted((1, 2, 3), (60, 28, 12))
        chosen: List[Product] = []
        families = set()
        while len(chosen) < n:
            p = self.weighted(CATALOGUE, [p.weight for p in CATALOGUE])
            if p.family in families:
                continue
            families.add(p.family)
            chosen.append(p)
        out = []
        for p in chosen:
            if p.price >= 30000:
                qty = 1 if rng.random() < 0.95 else 2
            else:
                qty = self.weighted((1, 2, 3), (75, 18, 7))
            out.append((p, qty))
        return out

    # --- logistics ----------------------------------------------------------------------------

    def carrier(self, city: City) -> Tuple[str, str]:
        weights = [w * (3 if zh == "EMS" and city.remote else 1) for zh, _, w in CARRIERS]
        zh = self.weighted([c[0] for c in CARRIERS], weights)
        rng = self.rng
        while True:
            if zh == "顺丰速运":
                t = "SF" + "".join(str(rng.randint(0, 9)) for _ in range(13))
            elif zh == "中通快递":
                t = rng.choice(("73", "75", "78")) + "".join(str(rng.randint(0, 9)) for _ in range(12))
            elif zh == "京东物流":
                t = "JDV" + rng.choice("ABCDE") + "".join(str(rng.randint(0, 9)) for _ in range(11))
            elif zh == "圆通速递":
                t = "YT" + "".join(str(rng.randint(0, 9)) for _ in range(13))
            else:
                t = rng.choice(("98", "11", "10")) + "".join(str(rng.randint(0, 9)) for _ in range(11))
            if t not in self.trackings:
                self.trackings.add(t)
                return zh, t

    def travel(self, a: City, b: City, carrier: str) -> timedelta:
        road = km(a, b) * 1.25
        hours = 2 + road / 65 * self.rng.uniform(0.85, 1.25)
        if carrier in ("顺丰速运", "京东物流") and road > 900:
            hours = min(hours, self.rng.uniform(8, 16))  # air freight
        return timedelta(seconds=int(hours * 3600))

    def origin(self, dest: City) -> City:
        rng = self.rng
        if rng.random() < 0.55:
            return CITY[rng.choice(MAIN_WAREHOUSES)]
        return min((CITY[w] for w in MAIN_WAREHOUSES + REGIONAL_WAREHOUSES), key=lambda c: km(c, dest))

    def journey(self, start: datetime, dest: Addr, carrier: str, short_ok: bool = True,
                redelivery: bool = False) -> List[dict]:
        """Every event of a parcel from pick-up to delivery (3-7 events), starting at `start`."""
        rng = self.rng
        cen = CARRIER_EN[carrier]
        city = dest.city
        origin = self.origin(city)
        district_zh, district_en, _ = dest.district
        station = (f"{city.short}{district_zh}营业部", f"{district_en} delivery station, {city.en}")
        events: List[dict] = []

        def add(t: datetime, code: str, where: City, zh: str, en: str) -> None:
            events.append({"time": t, "code": code, "location": where.short, "zh": zh, "en": en})

        t = start
        add(t, "picked_up", origin, f"快件已由{carrier}揽收", f"Parcel picked up by {cen}")
        if origin is city:
            if short_ok and not redelivery and rng.random() < 0.35:
                pass  # same-city express: straight out for delivery
            else:
                t += self.span(1.5, 5)
                add(t, "in_transit", origin, f"快件已从【{origin.hub[0]}】发出，下一站【{station[0]}】",
                    f"Departed {origin.hub[1]}, next stop {station[1]}")
                t += self.span(2, 6)
                add(t, "arrived", city, f"快件已到达【{station[0]}】", f"Arrived at {station[1]}")
        else:
            via = None
            distance = km(origin, city)
            if distance > 1000 and not redelivery and rng.random() < 0.7:
                hubs = [CITY[h] for h in TRANSIT_HUBS if km(origin, CITY[h]) > 300 and km(CITY[h], city) > 300]
                best = min(hubs, key=lambda h: km(origin, h) + km(h, city), default=None)
                if best is not None and km(origin, best) + km(best, city) < distance * 1.3:
                    via = best
            nxt = via or city
            t += self.span(1.5, 5)
            add(t, "in_transit", origin, f"快件已从【{origin.hub[0]}】发出，下一站【{nxt.hub[0]}】",
                f"Departed {origin.hub[1]}, next stop {nxt.hub[1]}")
            if via is not None:
                t += self.travel(origin, via, carrier)
                add(t, "arrived", via, f"快件已到达【{via.hub[0]}】", f"Arrived at {via.hub[1]}")
                t += self.span(1.5, 5)
                add(t, "in_transit", via, f"快件已从【{via.hub[0]}】发出，下一站【{city.hub[0]}】",
                    f"Departed {via.hub[1]}, next stop {city.hub[1]}")
                t += self.travel(via, city, carrier)
            else:
                t += self.travel(origin, city, carrier)
            add(t, "arrived", city, f"快件已到达【{city.hub[0]}】", f"Arrived at {city.hub[1]}")
            if via is None and not redelivery and rng.random() < 0.6:
                t += self.span(2, 6)
                add(t, "arrived", city, f"快件已到达【{station[0]}】", f"Arrived at {station[1]}")
        courier_zh, courier_en = rng.choice(COURIER_SURNAMES)
        courier_phone = rng.choice(PHONE_PREFIXES) + f"{rng.randint(0, 99999999):08d}"
        t = self.daytime(t + self.span(0.5, 3), 8, 18)
        add(t, "out_for_delivery", city, f"快件正在派送中，派送员：{courier_zh}师傅，电话：{courier_phone}",
            f"Out for delivery with courier {courier_en} ({courier_phone})")
        if redelivery:
            t += self.span(1, 4)
            add(t, "exception", city, "派送异常，收件人电话无人接听，将再次派送",
                "Delivery failed: recipient not reachable, will try again")
            t = (t + timedelta(days=1)).replace(hour=9, minute=0, second=0) + self.span(0, 2)
            add(t, "out_for_delivery", city, f"快件正在派送中，派送员：{courier_zh}师傅，电话：{courier_phone}",
                f"Out for delivery with courier {courier_en} ({courier_phone})")
        t = self.daytime(t + self.span(0.3, 4), 8, 21)
        office = "大厦" in dest.street or "中心" in dest.street or "科技园" in dest.street
        endings = [("快件已签收，签收人：本人", "Delivered, signed for by the recipient"),
                   ("快件已投放至智能快递柜，请凭取件码取件",
                    "Delivered to a parcel locker, pick it up with your code"),
                   ("快件已由驿站代收，请及时取件", "Left at the neighbourhood parcel station for pick-up")]
        if office:
            endings.append(("快件已签收，签收人：前台", "Delivered, signed for at reception"))
        else:
            endings.append(("快件已签收，签收人：家人", "Delivered, signed for by a family member"))
        zh, en = rng.choice(endings)
        add(t, "delivered", city, zh, en)
        assert 3 <= len(events) <= 7, events
        return events

    # --- orders -------------------------------------------------------------------------------

    def order_number(self, created: datetime) -> str:
        while True:
            n = yymmdd(created) + f"{self.rng.randint(0, 999999):06d}"
            if n not in self.numbers:
                self.numbers.add(n)
                return n

    def request_number(self, created: datetime) -> str:
        while True:
            n = f"AS{yymmdd(created)}{self.rng.randint(1, 400):04d}"
            if n not in self.request_numbers:
                self.request_numbers.add(n)
                return n

    def created_time(self, lo_days: float, hi_days: float) -> datetime:
        """A creation time in the window, mostly in the daytime and evening."""
        while True:
            t = self.ago(lo_days, hi_days)
            if t.hour >= 7 or self.rng.random() < 0.2:
                return t

    def pay(self, created: datetime) -> datetime:
        if self.rng.random() < 0.9:
            return created + self.span(0.005, 0.25)
        return created + self.span(0.5, 6)

    def ship_start(self, paid: datetime) -> datetime:
        return self.daytime(paid + self.span(1, 30), 9, 21)

    def shipped_parcel(self, paid_start: Tuple[float, float], accept, **journey_kw):
        """created/paid/events for a parcel whose journey `accept`s (rejection sampling, deterministic)."""
        for _ in range(5000):
            created = self.created_time(*paid_start)
            paid = self.pay(created)
            start = self.ship_start(paid)
            events = accept(created, paid, start, journey_kw)
            if events is not None:
                return created, paid, events
        raise RuntimeError(f"could not place a parcel for {paid_start}")

    def make_order(self, cust: Cust, status: str, plan: dict) -> dict:
        rng = self.rng
        addr = cust.addresses[0] if len(cust.addresses) == 1 or rng.random() < 0.6 else cust.addresses[1]
        items = self.items()
        carrier = tracking = None
        paid = shipped = delivered = cancelled = None
        events: List[dict] = []

        def delivered_between(lo: float, hi: float, **kw):
            def accept(created, paid, start, journey_kw):
                ev = self.journey(start, addr, carrier, **journey_kw)
                age = (REFERENCE_TIME - ev[-1]["time"]).total_seconds() / 86400
                if lo <= age <= hi and created >= EARLIEST and ev[-1]["time"] <= LATEST:
                    return ev
                return None
            return self.shipped_parcel((lo + 1, hi + 4), accept, **kw)

        if status == "pending_payment":
            created = self.created_time(1 / 24 + 0.01, 0.9)
        elif status == "paid":
            created = self.created_time(0.1, 3.5)
            paid = self.pay(created)
            if paid > LATEST:
                paid = created + self.span(0.005, 0.05)
        elif status == "cancelled":
            created = self.created_time(0.3, 58)
            if rng.random() < 0.5:
                paid = self.pay(created)
                cancelled = paid + self.span(0.1, 20)
            else:
                cancelled = created + (timedelta(minutes=30) if rng.random() < 0.5 else self.span(0.05, 12))
            cancelled = min(cancelled, LATEST)
        elif status == "shipped":
            carrier, tracking = self.carrier(addr.city)
            kind = plan.get("kind", "moving")

            def accept(created, paid, start, journey_kw):
                full = self.journey(start, addr, carrier, short_ok=False)
                if kind == "exception":
                    ofd = max(i for i, e in enumerate(full) if e["code"] == "out_for_delivery")
                    kept = full[:ofd + 1]
                    last = kept[-1]
                    t = last["time"] + self.span(1, 4)
                    zh, en = plan["exception"]
                    kept.append({**last, "time": t, "code": "exception", "zh": zh, "en": en})
                    ok = REFERENCE_TIME - timedelta(hours=36) <= t <= LATEST
                else:
                    cut = LATEST if kind == "moving" else REFERENCE_TIME - self.span(72, 120)
                    kept = [e for e in full if e["time"] <= cut]
                    ok = (3 <= len(kept) < len(full) and kept[-1]["code"] in ("in_transit", "arrived",
                                                                                "out_for_delivery"))
                    if kind == "stalled":
                        ok = ok and kept[-1]["code"] in ("in_transit", "arrived")
                return kept if ok and created >= EARLIEST else None

            window = (0.4, 5) if kind != "stalled" else (5, 9)
            created, paid, events = self.shipped_parcel(window, accept)
        elif status in ("delivered", "completed", "after_sales", "refunded"):
            carrier, tracking = self.carrier(addr.city)
            redelivery = rng.random() < 0.08
            lo, hi = plan["age"]
            created, paid, events = delivered_between(lo, hi, redelivery=redelivery)
        else:
            raise ValueError(status)

        if events:
            shipped = events[0]["time"]
            if events[-1]["code"] == "delivered":
                delivered = events[-1]["time"]

        requests = []
        if "request" in plan:
            requests.append(self.request(plan["request"], cust, items, delivered))

        return {
            "number": self.order_number(created),
            "customer": cust.id,
            "status": status,
            "created": iso(created),
            "paid": iso(paid),
            "shipped": iso(shipped),
            "delivered": iso(delivered),
            "cancelled": iso(cancelled),
            "carrier": carrier,
            "tracking": tracking,
            "address": Flow(recipient=addr.recipient, phone=addr.phone, province=addr.city.province,
                            city=addr.city.city, district=addr.district[0], street=addr.street),
            "items": [Flow(sku=p.sku, zh=p.zh, en=p.en, qty=q, price=yuan(p.price)) for p, q in items],
            "logistics": [Flow(time=iso(e["time"]), code=e["code"], location=e["location"], zh=e["zh"],
                               en=e["en"]) for e in events],
            "after_sales": requests,
            "_sort": created,
        }

    def request(self, state: str, cust: Cust, items: List[Tuple[Product, int]], delivered: datetime) -> Flow:
        rng = self.rng
        product = rng.choice(items)[0]
        reasons = list(TYPES_FOR_REASON)
        if product.family.startswith(SIZED_FAMILIES):
            weights = [3, 3, 2, 3, 4, 8, 1]
        else:
            weights = [4, 6, 2, 3, 5, 0, 1]
        age = (REFERENCE_TIME - delivered).total_seconds() / 3600  # hours since delivery
        for _ in range(1000):
            reason = self.weighted(reasons, weights)
            types = TYPES_FOR_REASON[reason]
            if state == "completed":
                types = tuple(t for t in types if t in ("refund", "return")) or ("return",)
            window = (15 if reason in QUALITY else 7) * 24
            # when the request was opened, in hours after delivery
            latest = min(window - 1, age - 1)
            if state == "open":
                lo, hi = max(2, age - 60), latest  # opened within the last 2.5 days
            elif state == "approved":
                lo, hi = max(2, age - 150), min(latest, age - 20)
            elif state == "completed":
                lo, hi = 2, min(latest, age - 72)  # the refund took a few days
            else:  # rejected
                lo, hi = 2, min(latest, age - 24)
            if lo <= hi:
                break
        else:
            raise RuntimeError("no request fits")
        for _ in range(20):  # customers write in the daytime and evening, mostly
            created = delivered + self.span(lo, hi)
            if 8 <= created.hour <= 23:
                break
        zh_notes, en_notes = NOTES[reason].get(product.category) or NOTES[reason]["any"]
        note = rng.choice(en_notes if cust.language == "en" else zh_notes)
        return Flow(number=self.request_number(created), sku=product.sku, type=rng.choice(types), reason=reason,
                    state=state, created=iso(created), note=note)

    # --- the whole file -----------------------------------------------------------------------

    def status_counts(self) -> Dict[str, int]:
        scale = self.n_orders / 200
        counts = {s: round(n * scale) for s, n in STATUS_MIX}
        counts["delivered"] += self.n_orders - sum(counts.values())
        return counts

    def plans(self, counts: Dict[str, int]) -> Dict[str, List[dict]]:
        """Per status, one plan per order: delivery age band, request state, kind of transit."""
        rng = self.rng
        plans: Dict[str, List[dict]] = {s: [{} for _ in range(n)] for s, n in counts.items()}
        d = plans["delivered"]
        bands = [(0.1, 6.8), (8.0, 14.8), (16.0, 45.0)]
        for k, p in enumerate(d):
            p["age"] = bands[k * 3 // max(1, len(d))]
        # rejected requests: spread over the delivered orders older than two days
        n_rej = min(round(REJECTED_REQUESTS * self.n_orders / 200), len(d))
        for j in range(n_rej):  # spread over the three bands, round robin
            band = bands[(j + 1) % 3]
            k = rng.choice([k for k, p in enumerate(d) if p["age"] == band and "request" not in p])
            d[k]["request"] = "rejected"
            if band[0] < 8:
                d[k]["age"] = (3.0, 6.8)  # old enough to have been looked at
        for p in plans["completed"]:
            p["age"] = (16.0, 50.0)
        for k, p in enumerate(plans["after_sales"]):
            p["age"] = (0.5, 13.0)
            p["request"] = "open" if k % 2 == 0 else "approved"
        for p in plans["refunded"]:
            p["age"] = (5.0, 40.0)
            p["request"] = "completed"
        exceptions = [("派送异常，收件人电话无人接听", "Delivery failed: recipient not reachable"),
                      ("派送异常，收件地址不详，请联系派送员",
                       "Delivery failed: address incomplete, please contact the courier"),
                      ("派送异常，收件人电话无人接听，将于次日再次派送",
                       "Delivery failed: recipient not reachable, will try again tomorrow"),
                      ("因天气原因派送延误", "Delivery delayed due to bad weather")]
        s = plans["shipped"]
        n_exc = min(len(s), max(1, round(len(s) * 0.13))) if s else 0
        for k in range(n_exc):
            s[k]["kind"] = "exception"
            s[k]["exception"] = exceptions[k % len(exceptions)]
        for k in range(n_exc, min(len(s), n_exc + max(1, len(s) // 15))):
            s[k]["kind"] = "stalled"  # no update for 3-5 days
        for ps in plans.values():
            rng.shuffle(ps)
        return plans

    def assign_statuses(self, per_customer: List[int], counts: Dict[str, int]) -> List[List[str]]:
        """Statuses per customer; the heavy customers (6+ orders) get as many different statuses as possible."""
        rng = self.rng
        pool = dict(counts)
        out: List[List[str]] = []
        for n in per_customer:
            if n < 6:
                out.append([])
                continue
            mine: List[str] = []
            statuses = [s for s, _ in STATUS_MIX]
            rng.shuffle(statuses)
            for s in statuses:
                if len(mine) < n and pool[s] > 0:
                    mine.append(s)
                    pool[s] -= 1
            while len(mine) < n:
                s = self.weighted(list(pool), [pool[s] for s in pool])
                mine.append(s)
                pool[s] -= 1
            out.append(mine)
        rest = [s for s, n in pool.items() for _ in range(n)]
        rng.shuffle(rest)
        for k, n in enumerate(per_customer):
            if n < 6:
                out[k] = [rest.pop() for _ in range(n)]
        assert not rest
        return out

    def build(self) -> dict:
        n_customers = max(1, round(self.n_orders * 0.35))
        customers = self.customers(n_customers)
        per_customer = self.orders_per_customer(customers)
        counts = self.status_counts()
        plans = self.plans(counts)
        statuses = self.assign_statuses(per_customer, counts)
        orders = []
        for cust, mine in zip(customers, statuses, strict=True):
            for status in mine:
                orders.append(self.make_order(cust, status, plans[status].pop()))
        orders.sort(key=lambda o: (o["_sort"], o["number"]))
        for o in orders:
            del o["_sort"]
        return {
            "reference_time": iso(REFERENCE_TIME),
            "customers": [{"id": c.id, "name": c.name, "phone": c.phone, "tier": c.tier, "language": c.language}
                          for c in customers],
            "orders": orders,
        }


def render(data: dict) -> str:
    body = yaml.dump(data, Dumper=Dumper, allow_unicode=True, sort_keys=False, default_flow_style=False,
                     width=10_000)
    # A blank line between the top-level sections and between orders, for reading.
    body = body.replace("\ncustomers:\n", "\n\ncustomers:\n").replace("\norders:\n", "\n\norders:\n")
    body = body.replace("\n  - number: ", "\n\n  - number: ")
    return HEADER + "\n" + body


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="where to write (default: data/orders/demo-orders.yml)")
    parser.add_argument("--orders", type=int, default=200, help="number of orders (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.orders < 20:
        parser.error("--orders must be at least 20")
    data = Generator(args.orders).build()
    text = render(data)
    yaml.safe_load(text)  # what we write must read back
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out} ({len(data['customers'])} customers, {len(data['orders'])} orders)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
