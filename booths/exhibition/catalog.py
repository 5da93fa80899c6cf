"""Fixed choices of the exhibition: industries and regions, named in three languages."""

from __future__ import annotations

INDUSTRIES: dict[str, dict[str, str]] = {
    "heavy-equipment": {"zh-Hans": "大国重器与装备制造", "zh-Hant": "大國重器與裝備製造", "en": "Heavy equipment"},
    "new-energy-vehicles": {"zh-Hans": "新能源汽车", "zh-Hant": "新能源汽車", "en": "New-energy vehicles"},
    "home-appliances": {"zh-Hans": "家用电器", "zh-Hant": "家用電器", "en": "Home appliances"},
    "consumer-electronics": {"zh-Hans": "电子消费品", "zh-Hant": "電子消費品", "en": "Consumer electronics"},
    "food-agriculture": {"zh-Hans": "食品农产品", "zh-Hant": "食品農產品", "en": "Food and agriculture"},
    "geographical-indication": {"zh-Hans": "地理标志产品", "zh-Hant": "地理標誌產品", "en": "Geographical-indication products"},
    "services": {"zh-Hans": "服务业", "zh-Hant": "服務業", "en": "Services"},
    "quality-institutions": {"zh-Hans": "质量技术机构", "zh-Hant": "質量技術機構", "en": "Quality institutions"},
}

REGIONS: dict[str, dict[str, str]] = {
    code: {"zh-Hans": hans, "zh-Hant": hant, "en": en}
    for code, hans, hant, en in (
        ("sichuan", "四川", "四川", "Sichuan"),
        ("chongqing", "重庆", "重慶", "Chongqing"),
        ("beijing", "北京", "北京", "Beijing"),
        ("shanghai", "上海", "上海", "Shanghai"),
        ("guangdong", "广东", "廣東", "Guangdong"),
        ("zhejiang", "浙江", "浙江", "Zhejiang"),
        ("jiangsu", "江苏", "江蘇", "Jiangsu"),
        ("shandong", "山东", "山東", "Shandong"),
        ("hubei", "湖北", "湖北", "Hubei"),
        ("hunan", "湖南", "湖南", "Hunan"),
        ("fujian", "福建", "福建", "Fujian"),
        ("anhui", "安徽", "安徽", "Anhui"),
        ("henan", "河南", "河南", "Henan"),
        ("shaanxi", "陕西", "陝西", "Shaanxi"),
        ("guizhou", "贵州", "貴州", "Guizhou"),
        ("yunnan", "云南", "雲南", "Yunnan"),
        ("xinjiang", "新疆", "新疆", "Xinjiang"),
        ("heilongjiang", "黑龙江", "黑龍江", "Heilongjiang"),
        ("liaoning", "辽宁", "遼寧", "Liaoning"),
        ("tianjin", "天津", "天津", "Tianjin"),
        ("hebei", "河北", "河北", "Hebei"),
        ("jiangxi", "江西", "江西", "Jiangxi"),
        ("guangxi", "广西", "廣西", "Guangxi"),
        ("hainan", "海南", "海南", "Hainan"),
        ("gansu", "甘肃", "甘肅", "Gansu"),
        ("ningxia", "宁夏", "寧夏", "Ningxia"),
        ("qinghai", "青海", "青海", "Qinghai"),
        ("xizang", "西藏", "西藏", "Xizang"),
        ("inner-mongolia", "内蒙古", "內蒙古", "Inner Mongolia"),
        ("jilin", "吉林", "吉林", "Jilin"),
        ("shanxi", "山西", "山西", "Shanxi"),
        ("hong-kong", "香港", "香港", "Hong Kong"),
        ("macao", "澳门", "澳門", "Macao"),
        ("international", "国际", "國際", "International"),
    )
}

APPLICATION_STATES = ("pending", "approved", "rejected")
