"""The seed exhibition's words: zones, exhibitors, products (from ../shared/SEED-BRIEF.md)."""

from __future__ import annotations

# (slug, code, hall, kind, zh-Hans, en, colour, x, y, w, h, description zh-Hans, description en)
ZONES = (
    ("preface", "1P", "1", "preface", "序厅", "Preface hall", "#c8102e", 20, 70, 460, 120,
     "中国质量工作成果、质量国际交流合作，以及大会各主办单位质量工作举措成效。",
     "China's quality achievements, international quality cooperation, and the measures of the organisers."),
    ("innovation", "1A", "1", "theme", "质量管理创新企业", "Quality-management innovation enterprises", "#13315c",
     20, 205, 460, 395,
     "中国质量管理创新先进企业：大国重器、新能源汽车、家用电器、电子消费品与服务业。",
     "Leading enterprises in quality-management innovation: heavy equipment, new-energy vehicles, appliances, electronics and services."),
    ("regional", "2B", "2", "theme", "区域品牌", "Regional brands", "#1d6f5f", 520, 70, 460, 170,
     "各地区域公用品牌与质量强市建设成果。",
     "Regional public brands and the results of quality-city programmes."),
    ("institutions", "2C", "2", "theme", "国家级质量技术机构", "National quality technical institutions", "#6b3fa0",
     520, 255, 220, 345,
     "国家级标准、计量、检验检测与认证机构。",
     "National standards, metrology, testing and certification institutions."),
    ("geo-indication", "2D", "2", "theme", "地理标志产品", "Geographical-indication products", "#a15c00",
     760, 255, 220, 345,
     "地理标志产品的保护与发展。",
     "Protecting and developing geographical-indication products."),
)

HALLS = (
    ("1", "1号馆", "Hall 1", 10, 40, 480, 570),
    ("2", "2号馆", "Hall 2", 510, 40, 480, 570),
)

# Sichuan first and often: the exhibition is in Chengdu.
CITIES = (
    ("成都", "Chengdu", "sichuan"), ("绵阳", "Mianyang", "sichuan"), ("德阳", "Deyang", "sichuan"),
    ("宜宾", "Yibin", "sichuan"), ("泸州", "Luzhou", "sichuan"), ("自贡", "Zigong", "sichuan"),
    ("乐山", "Leshan", "sichuan"), ("眉山", "Meishan", "sichuan"), ("遂宁", "Suining", "sichuan"),
    ("重庆", "Chongqing", "chongqing"), ("深圳", "Shenzhen", "guangdong"), ("杭州", "Hangzhou", "zhejiang"),
    ("苏州", "Suzhou", "jiangsu"), ("青岛", "Qingdao", "shandong"), ("武汉", "Wuhan", "hubei"),
    ("长沙", "Changsha", "hunan"), ("合肥", "Hefei", "anhui"), ("西安", "Xi'an", "shaanxi"),
    ("北京", "Beijing", "beijing"), ("上海", "Shanghai", "shanghai"), ("厦门", "Xiamen", "fujian"),
    ("郑州", "Zhengzhou", "henan"), ("贵阳", "Guiyang", "guizhou"), ("天津", "Tianjin", "tianjin"),
)

BRANDS = (
    ("天府", "Tianfu"), ("蜀光", "Shuguang"), ("锦江", "Jinjiang"), ("华西", "Huaxi"), ("长城", "Great Wall"),
    ("恒信", "Hengxin"), ("卓越", "Zhuoyue"), ("远航", "Yuanhang"), ("精工", "Jinggong"), ("宏达", "Hongda"),
    ("金桥", "Jinqiao"), ("星辰", "Xingchen"), ("启明", "Qiming"), ("瑞丰", "Ruifeng"), ("明德", "Mingde"),
    ("峨眉", "Emei"), ("青城", "Qingcheng"), ("岷江", "Minjiang"), ("嘉陵", "Jialing"), ("九州", "Jiuzhou"),
    ("东方", "Dongfang"), ("和谐", "Hexie"), ("新锐", "Xinrui"), ("安逸", "Anyi"), ("博远", "Boyuan"),
)

# industry: (noun zh, noun en, tagline zh, tagline en, [(product zh, product en, [(label zh, label en, value)])])
INDUSTRY_WORDS = {
    "heavy-equipment": (
        "重型装备", "Heavy Equipment",
        "大国重器，质量为本", "Heavy equipment built on quality",
        (
            ("大型水轮发电机组", "Large hydro-generator unit", (("额定功率", "Rated power", "1000 MW"), ("效率", "Efficiency", "96.5%"))),
            ("重型燃气轮机", "Heavy-duty gas turbine", (("功率等级", "Power class", "50 MW"), ("热效率", "Thermal efficiency", "38%"))),
            ("智能数控机床", "Smart CNC machine tool", (("定位精度", "Positioning accuracy", "±0.003 mm"),)),
            ("盾构机", "Tunnel boring machine", (("开挖直径", "Cutting diameter", "12.5 m"),)),
            ("风力发电机组", "Wind turbine", (("单机容量", "Unit capacity", "6.25 MW"),)),
            ("工业机器人", "Industrial robot", (("重复定位精度", "Repeatability", "±0.02 mm"), ("负载", "Payload", "20 kg"))),
        ),
    ),
    "new-energy-vehicles": (
        "新能源汽车", "New Energy Vehicles",
        "绿色出行，品质驱动", "Green mobility driven by quality",
        (
            ("纯电动轿车", "Battery-electric saloon", (("续航里程", "Range", "620 km"), ("快充时间", "Fast charge", "30 min"))),
            ("氢燃料电池客车", "Hydrogen fuel-cell bus", (("续航里程", "Range", "450 km"),)),
            ("动力电池包", "Traction battery pack", (("能量密度", "Energy density", "180 Wh/kg"),)),
            ("智能网联系统", "Connected-car system", (("通信", "Connectivity", "5G V2X"),)),
            ("电驱动总成", "Electric drive unit", (("峰值功率", "Peak power", "150 kW"),)),
        ),
    ),
    "home-appliances": (
        "家用电器", "Home Appliances",
        "品质家电，安逸生活", "Quality appliances for a comfortable home",
        (
            ("变频空调", "Inverter air conditioner", (("能效等级", "Energy class", "1"),)),
            ("智能冰箱", "Smart refrigerator", (("容积", "Capacity", "520 L"),)),
            ("滚筒洗衣机", "Front-load washing machine", (("洗涤容量", "Load", "10 kg"),)),
            ("智能电视", "Smart TV", (("屏幕尺寸", "Screen", "75 in"), ("分辨率", "Resolution", "4K"))),
            ("油烟机", "Range hood", (("风量", "Airflow", "22 m³/min"),)),
        ),
    ),
    "consumer-electronics": (
        "电子科技", "Electronics",
        "智造精品，连接未来", "Smart devices connecting the future",
        (
            ("5G智能手机", "5G smartphone", (("屏幕", "Display", "6.7 in OLED"),)),
            ("笔记本电脑", "Laptop", (("重量", "Weight", "1.2 kg"),)),
            ("智能手表", "Smartwatch", (("续航", "Battery life", "14 days"),)),
            ("无人机", "Drone", (("续航", "Flight time", "46 min"),)),
            ("显示面板", "Display panel", (("刷新率", "Refresh rate", "144 Hz"),)),
        ),
    ),
    "food-agriculture": (
        "食品", "Foods",
        "天府粮仓，舌尖品质", "From the Tianfu granary, quality you can taste",
        (
            ("有机大米", "Organic rice", (("净含量", "Net weight", "5 kg"),)),
            ("川味火锅底料", "Sichuan hot-pot base", (("辣度", "Spiciness", "★★★"),)),
            ("浓香型白酒", "Strong-aroma baijiu", (("酒精度", "ABV", "52%"),)),
            ("高山绿茶", "Mountain green tea", (("产地海拔", "Altitude", "1200 m"),)),
            ("鲜榨果汁", "Fresh juice", (("保质期", "Shelf life", "12 months"),)),
        ),
    ),
    "services": (
        "服务", "Services",
        "标准引领，服务至上", "Standards-led service",
        (
            ("质量管理咨询", "Quality-management consulting", (("服务范围", "Scope", "ISO 9001"),)),
            ("智慧物流服务", "Smart logistics", (("覆盖城市", "Cities", "300+"),)),
            ("工程建设管理", "Construction management", (("资质", "Qualification", "Grade A"),)),
            ("数字化质量平台", "Digital quality platform", (("部署方式", "Deployment", "Cloud / on-premises"),)),
        ),
    ),
}

PREFACE = (
    ("中国质量工作成果", "China's Quality Achievements", "beijing", "services"),
    ("质量国际交流与合作", "International Quality Cooperation", "international", "services"),
    ("国家市场监督管理总局", "State Administration for Market Regulation", "beijing", "quality-institutions"),
    ("中国质量报刊社", "China Quality Daily", "beijing", "services"),
    ("四川省市场监督管理局", "Sichuan Administration for Market Regulation", "sichuan", "quality-institutions"),
    ("成都市市场监督管理局", "Chengdu Administration for Market Regulation", "sichuan", "quality-institutions"),
    ("中国质量奖获奖组织风采", "China Quality Award Winners", "beijing", "services"),
    ("天府质量奖", "Tianfu Quality Award", "sichuan", "services"),
    ("川质通质量基础设施一站式服务平台", "Chuanzhitong One-stop Quality Infrastructure Platform", "sichuan", "services"),
    ("成渝地区双城经济圈质量协同", "Chengdu–Chongqing Quality Cooperation", "chongqing", "services"),
    ("国家南亚标准化研究中心", "National South Asia Standardisation Research Center", "sichuan", "quality-institutions"),
    ("首席质量官制度实践", "Chief Quality Officers in Practice", "sichuan", "services"),
)

REGIONAL = (
    ("宜宾", "Yibin", "sichuan", "白酒", "Baijiu"), ("泸州", "Luzhou", "sichuan", "酒城", "Liquor City"),
    ("自贡", "Zigong", "sichuan", "彩灯", "Lanterns"), ("眉山", "Meishan", "sichuan", "泡菜", "Pickles"),
    ("郫都", "Pidu", "sichuan", "川菜", "Sichuan Cuisine"), ("攀枝花", "Panzhihua", "sichuan", "钒钛", "Vanadium-Titanium"),
    ("德阳", "Deyang", "sichuan", "装备制造", "Equipment Manufacturing"), ("绵阳", "Mianyang", "sichuan", "科技城", "Science City"),
    ("内江", "Neijiang", "sichuan", "质量贷", "Quality Loans"), ("遂宁", "Suining", "sichuan", "锂电", "Lithium Batteries"),
    ("乐山", "Leshan", "sichuan", "文旅", "Culture and Tourism"), ("雅安", "Ya'an", "sichuan", "藏茶", "Tibetan Tea"),
    ("广元", "Guangyuan", "sichuan", "绿色家居", "Green Furniture"), ("达州", "Dazhou", "sichuan", "天然气化工", "Natural-gas Chemicals"),
    ("南充", "Nanchong", "sichuan", "丝绸", "Silk"), ("资阳", "Ziyang", "sichuan", "口腔装备", "Dental Equipment"),
    ("广安", "Guang'an", "sichuan", "红色旅游", "Heritage Tourism"), ("巴中", "Bazhong", "sichuan", "富硒茶", "Selenium Tea"),
    ("阿坝", "Aba", "sichuan", "高原农产品", "Plateau Produce"), ("甘孜", "Garzê", "sichuan", "全域旅游", "Tourism"),
    ("凉山", "Liangshan", "sichuan", "特色农业", "Specialty Agriculture"), ("重庆两江", "Chongqing Liangjiang", "chongqing", "智能制造", "Smart Manufacturing"),
    ("重庆涪陵", "Chongqing Fuling", "chongqing", "榨菜", "Zhacai"), ("深圳", "Shenzhen", "guangdong", "标准", "Standards"),
    ("杭州", "Hangzhou", "zhejiang", "数字经济", "Digital Economy"), ("宁波", "Ningbo", "zhejiang", "品质", "Quality"),
    ("苏州", "Suzhou", "jiangsu", "工业园区", "Industrial Park"), ("青岛", "Qingdao", "shandong", "家电", "Appliances"),
    ("潍坊", "Weifang", "shandong", "风筝", "Kites"), ("景德镇", "Jingdezhen", "jiangxi", "陶瓷", "Porcelain"),
    ("义乌", "Yiwu", "zhejiang", "小商品", "Small Commodities"), ("佛山", "Foshan", "guangdong", "家居", "Home Furnishing"),
    ("泉州", "Quanzhou", "fujian", "鞋服", "Footwear and Apparel"), ("株洲", "Zhuzhou", "hunan", "轨道交通", "Rail Transit"),
    ("十堰", "Shiyan", "hubei", "商用车", "Commercial Vehicles"), ("合肥", "Hefei", "anhui", "新型显示", "New Displays"),
    ("西安", "Xi'an", "shaanxi", "航空航天", "Aerospace"), ("贵阳", "Guiyang", "guizhou", "大数据", "Big Data"),
    ("昆明", "Kunming", "yunnan", "鲜花", "Flowers"), ("哈尔滨", "Harbin", "heilongjiang", "冰雪", "Ice and Snow"),
    ("大连", "Dalian", "liaoning", "海产", "Seafood"), ("天津滨海", "Tianjin Binhai", "tianjin", "港口服务", "Port Services"),
    ("保定", "Baoding", "hebei", "新能源", "New Energy"), ("郑州", "Zhengzhou", "henan", "速冻食品", "Frozen Foods"),
    ("柳州", "Liuzhou", "guangxi", "螺蛳粉", "Luosifen"), ("海口", "Haikou", "hainan", "自贸港", "Free Trade Port"),
    ("兰州", "Lanzhou", "gansu", "牛肉面", "Beef Noodles"), ("银川", "Yinchuan", "ningxia", "葡萄酒", "Wine"),
    ("西宁", "Xining", "qinghai", "牦牛乳", "Yak Milk"), ("拉萨", "Lhasa", "xizang", "藏药", "Tibetan Medicine"),
)

INSTITUTIONS = (
    ("国家机械产品质量检验检测中心", "National Machinery Product Quality Testing Center"),
    ("国家新能源汽车质量检验检测中心", "National New-Energy Vehicle Quality Testing Center"),
    ("国家家用电器质量检验检测中心", "National Household Appliance Quality Testing Center"),
    ("国家电子产品质量检验检测中心", "National Electronic Products Quality Testing Center"),
    ("国家食品质量检验检测中心", "National Food Quality Testing Center"),
    ("国家酒类质量检验检测中心", "National Liquor Quality Testing Center"),
    ("国家茶叶质量检验检测中心", "National Tea Quality Testing Center"),
    ("国家锂电池产品质量检验检测中心", "National Lithium Battery Quality Testing Center"),
    ("国家钒钛制品质量检验检测中心", "National Vanadium-Titanium Products Testing Center"),
    ("国家无人机质量检验检测中心", "National UAV Quality Testing Center"),
    ("国家计量科学研究院", "National Institute of Metrology"),
    ("中国标准化研究院", "China National Institute of Standardization"),
    ("中国计量科学研究院西南分院", "National Institute of Metrology, Southwest Branch"),
    ("国家西南计量测试中心", "National Southwest Metrology Center"),
    ("中国质量认证中心", "China Quality Certification Centre"),
    ("中国合格评定国家认可中心", "China National Accreditation Service"),
    ("国家标准技术审评中心", "National Standards Technical Review Center"),
    ("全国质量管理和质量保证标准化技术委员会", "National Technical Committee on Quality Management and Assurance"),
    ("国家工业机器人质量检验检测中心", "National Industrial Robot Quality Testing Center"),
    ("国家光伏产品质量检验检测中心", "National Photovoltaic Products Testing Center"),
    ("国家纺织服装质量检验检测中心", "National Textile and Apparel Testing Center"),
    ("国家建筑工程质量检验检测中心", "National Construction Engineering Testing Center"),
    ("国家医疗器械质量检验检测中心", "National Medical Device Testing Center"),
    ("国家化工产品质量检验检测中心", "National Chemical Products Testing Center"),
    ("国家轨道交通装备质量检验检测中心", "National Rail Transit Equipment Testing Center"),
    ("国家特种设备安全与节能技术中心", "National Special Equipment Safety Center"),
    ("国家能源计量中心", "National Energy Metrology Center"),
    ("国家卫星导航产品质量检验检测中心", "National Satellite Navigation Products Testing Center"),
    ("国家人工智能产品质量检验检测中心", "National AI Products Testing Center"),
    ("国家检验检测高技术服务业集聚区（成都）", "National Testing High-tech Service Cluster (Chengdu)"),
)

GEO = (
    ("郫县豆瓣", "Pixian Douban chilli bean paste", "sichuan"), ("蒲江猕猴桃", "Pujiang kiwifruit", "sichuan"),
    ("汉源花椒", "Hanyuan Sichuan pepper", "sichuan"), ("宜宾芽菜", "Yibin yacai", "sichuan"),
    ("蒙顶山茶", "Mengdingshan tea", "sichuan"), ("通江银耳", "Tongjiang white fungus", "sichuan"),
    ("苍溪红心猕猴桃", "Cangxi red kiwifruit", "sichuan"), ("会理石榴", "Huili pomegranate", "sichuan"),
    ("攀枝花芒果", "Panzhihua mango", "sichuan"), ("安岳柠檬", "Anyue lemon", "sichuan"),
    ("雅安藏茶", "Ya'an Tibetan tea", "sichuan"), ("南江黄羊", "Nanjiang yellow goat", "sichuan"),
    ("广安龙安柚", "Guang'an Long'an pomelo", "sichuan"), ("丹棱桔橙", "Danling citrus", "sichuan"),
    ("涪陵榨菜", "Fuling zhacai", "chongqing"), ("奉节脐橙", "Fengjie navel orange", "chongqing"),
    ("五常大米", "Wuchang rice", "heilongjiang"), ("西湖龙井", "West Lake Longjing tea", "zhejiang"),
    ("安溪铁观音", "Anxi Tieguanyin tea", "fujian"), ("宁夏枸杞", "Ningxia goji", "ningxia"),
    ("库尔勒香梨", "Korla fragrant pear", "xinjiang"), ("阳澄湖大闸蟹", "Yangcheng Lake hairy crab", "jiangsu"),
    ("普洱茶", "Pu'er tea", "yunnan"), ("金华火腿", "Jinhua ham", "zhejiang"),
    ("镇江香醋", "Zhenjiang vinegar", "jiangsu"), ("烟台苹果", "Yantai apple", "shandong"),
    ("吐鲁番葡萄", "Turpan grape", "xinjiang"), ("信阳毛尖", "Xinyang Maojian tea", "henan"),
    ("赣南脐橙", "Gannan navel orange", "jiangxi"), ("章丘大葱", "Zhangqiu scallion", "shandong"),
    ("洛川苹果", "Luochuan apple", "shaanxi"), ("横县茉莉花茶", "Hengxian jasmine tea", "guangxi"),
    ("琼中绿橙", "Qiongzhong green orange", "hainan"), ("文山三七", "Wenshan sanqi", "yunnan"),
    ("长白山人参", "Changbaishan ginseng", "jilin"), ("哈密瓜", "Hami melon", "xinjiang"),
    ("武夷岩茶", "Wuyi rock tea", "fujian"), ("东阿阿胶", "Dong'e ejiao", "shandong"),
    ("盱眙龙虾", "Xuyi crayfish", "jiangsu"), ("平谷大桃", "Pinggu peach", "beijing"),
)
