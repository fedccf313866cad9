/**
 * Data for the simulator's generators: Chinese names (with pinyin, for userids), department name parts, positions.
 * Pure data, no logic. Pairs are [Chinese, pinyin] for people and [Chinese, English] for departments.
 */

export type Pinyin = readonly [hanzi: string, pinyin: string];
export type Bilingual = readonly [zh: string, en: string];

/** Common single-character surnames, roughly by frequency. */
export const SURNAMES: readonly Pinyin[] = [
  ['王', 'wang'], ['李', 'li'], ['张', 'zhang'], ['刘', 'liu'], ['陈', 'chen'], ['杨', 'yang'], ['黄', 'huang'],
  ['赵', 'zhao'], ['吴', 'wu'], ['周', 'zhou'], ['徐', 'xu'], ['孙', 'sun'], ['马', 'ma'], ['朱', 'zhu'],
  ['胡', 'hu'], ['郭', 'guo'], ['何', 'he'], ['高', 'gao'], ['林', 'lin'], ['罗', 'luo'], ['郑', 'zheng'],
  ['梁', 'liang'], ['谢', 'xie'], ['宋', 'song'], ['唐', 'tang'], ['许', 'xu'], ['韩', 'han'], ['冯', 'feng'],
  ['邓', 'deng'], ['曹', 'cao'], ['彭', 'peng'], ['曾', 'zeng'], ['肖', 'xiao'], ['田', 'tian'], ['董', 'dong'],
  ['袁', 'yuan'], ['潘', 'pan'], ['于', 'yu'], ['蒋', 'jiang'], ['蔡', 'cai'], ['余', 'yu'], ['杜', 'du'],
  ['叶', 'ye'], ['程', 'cheng'], ['苏', 'su'], ['魏', 'wei'], ['吕', 'lv'], ['丁', 'ding'], ['任', 'ren'],
  ['沈', 'shen'], ['姚', 'yao'], ['卢', 'lu'], ['姜', 'jiang'], ['崔', 'cui'], ['钟', 'zhong'], ['谭', 'tan'],
  ['陆', 'lu'], ['汪', 'wang'], ['范', 'fan'], ['金', 'jin'], ['石', 'shi'], ['廖', 'liao'], ['贾', 'jia'],
  ['夏', 'xia'], ['韦', 'wei'], ['付', 'fu'], ['方', 'fang'], ['白', 'bai'], ['邹', 'zou'], ['孟', 'meng'],
  ['熊', 'xiong'], ['秦', 'qin'], ['邱', 'qiu'], ['江', 'jiang'], ['尹', 'yin'], ['薛', 'xue'], ['闫', 'yan'],
  ['段', 'duan'], ['雷', 'lei'], ['侯', 'hou'], ['龙', 'long'], ['史', 'shi'], ['陶', 'tao'], ['黎', 'li'],
  ['贺', 'he'], ['顾', 'gu'], ['毛', 'mao'], ['郝', 'hao'], ['龚', 'gong'], ['邵', 'shao'], ['万', 'wan'],
  ['钱', 'qian'], ['严', 'yan'], ['覃', 'qin'], ['武', 'wu'], ['戴', 'dai'], ['莫', 'mo'], ['孔', 'kong'],
  ['向', 'xiang'], ['汤', 'tang'],
];

/** Two-character surnames; with one given character they make three-character names. */
export const COMPOUND_SURNAMES: readonly Pinyin[] = [
  ['欧阳', 'ouyang'], ['司马', 'sima'], ['诸葛', 'zhuge'], ['上官', 'shangguan'], ['慕容', 'murong'],
  ['令狐', 'linghu'], ['皇甫', 'huangfu'], ['东方', 'dongfang'], ['尉迟', 'yuchi'], ['端木', 'duanmu'],
];

/** Rare surnames, all in the BMP. */
export const RARE_SURNAMES: readonly Pinyin[] = [
  ['亓', 'qi'], ['蹇', 'jian'], ['仝', 'tong'], ['逯', 'lu'], ['禚', 'zhuo'], ['昝', 'zan'], ['郗', 'xi'],
  ['隗', 'wei'], ['訾', 'zi'], ['璩', 'qu'],
];

/** Common given-name characters. */
export const GIVEN_CHARS: readonly Pinyin[] = [
  ['伟', 'wei'], ['芳', 'fang'], ['娜', 'na'], ['敏', 'min'], ['静', 'jing'], ['丽', 'li'], ['强', 'qiang'],
  ['磊', 'lei'], ['军', 'jun'], ['洋', 'yang'], ['勇', 'yong'], ['艳', 'yan'], ['杰', 'jie'], ['娟', 'juan'],
  ['涛', 'tao'], ['明', 'ming'], ['超', 'chao'], ['秀', 'xiu'], ['霞', 'xia'], ['平', 'ping'], ['刚', 'gang'],
  ['桂', 'gui'], ['英', 'ying'], ['华', 'hua'], ['玉', 'yu'], ['萍', 'ping'], ['红', 'hong'], ['建', 'jian'],
  ['文', 'wen'], ['辉', 'hui'], ['力', 'li'], ['斌', 'bin'], ['宇', 'yu'], ['浩', 'hao'], ['凯', 'kai'],
  ['鹏', 'peng'], ['俊', 'jun'], ['帆', 'fan'], ['晨', 'chen'], ['欣', 'xin'], ['怡', 'yi'], ['婷', 'ting'],
  ['雪', 'xue'], ['琳', 'lin'], ['颖', 'ying'], ['佳', 'jia'], ['慧', 'hui'], ['莉', 'li'], ['梅', 'mei'],
  ['倩', 'qian'], ['兰', 'lan'], ['丹', 'dan'], ['晶', 'jing'], ['博', 'bo'], ['峰', 'feng'], ['亮', 'liang'],
  ['毅', 'yi'], ['龙', 'long'], ['成', 'cheng'], ['志', 'zhi'], ['国', 'guo'], ['海', 'hai'], ['东', 'dong'],
  ['林', 'lin'], ['波', 'bo'], ['嘉', 'jia'], ['子', 'zi'], ['梓', 'zi'], ['涵', 'han'], ['轩', 'xuan'],
  ['睿', 'rui'], ['泽', 'ze'], ['铭', 'ming'], ['一', 'yi'], ['诺', 'nuo'], ['若', 'ruo'], ['晗', 'han'],
  ['悦', 'yue'], ['然', 'ran'], ['思', 'si'], ['雨', 'yu'], ['宁', 'ning'], ['安', 'an'], ['心', 'xin'],
  ['乐', 'le'], ['阳', 'yang'], ['天', 'tian'], ['昊', 'hao'], ['瑞', 'rui'], ['航', 'hang'], ['远', 'yuan'],
  ['凡', 'fan'], ['晓', 'xiao'], ['春', 'chun'], ['秋', 'qiu'], ['燕', 'yan'], ['云', 'yun'], ['飞', 'fei'],
  ['翔', 'xiang'], ['家', 'jia'], ['振', 'zhen'], ['永', 'yong'], ['立', 'li'], ['健', 'jian'], ['伦', 'lun'],
  ['彬', 'bin'], ['琪', 'qi'], ['瑶', 'yao'], ['露', 'lu'], ['蕾', 'lei'], ['薇', 'wei'], ['璐', 'lu'],
  ['菲', 'fei'], ['妍', 'yan'], ['诗', 'shi'], ['语', 'yu'], ['清', 'qing'], ['月', 'yue'], ['晴', 'qing'],
  ['婉', 'wan'], ['鸿', 'hong'], ['旭', 'xu'], ['楠', 'nan'], ['蓉', 'rong'], ['宏', 'hong'], ['卫', 'wei'],
];

/**
 * Rare given-name characters that are still in the BMP (CJK Unified Ideographs and Extension A): fine for UTF-8
 * storage but absent from many legacy (GB2312) code pages and fonts.
 */
export const RARE_GIVEN_CHARS: readonly Pinyin[] = [
  ['翀', 'chong'], ['犇', 'ben'], ['淼', 'miao'], ['燚', 'yi'], ['鑫', 'xin'], ['婞', 'xing'], ['喆', 'zhe'],
  ['昇', 'sheng'], ['玥', 'yue'], ['赟', 'yun'], ['旻', 'min'], ['珺', 'jun'], ['璟', 'jing'], ['玙', 'yu'],
  ['犨', 'chou'], ['垚', 'yao'], ['堃', 'kun'], ['焱', 'yan'], ['彧', 'yu'], ['昶', 'chang'], ['甯', 'ning'],
  ['頔', 'di'], ['祎', 'yi'], ['瑄', 'xuan'], ['䶮', 'yan'],
];

/**
 * Given-name characters outside the BMP (CJK Extension B and later): two UTF-16 code units each, four bytes in
 * UTF-8 (MySQL's utf8mb3 refuses them). They exercise surrogate-pair handling.
 */
export const SUPPLEMENTARY_GIVEN_CHARS: readonly Pinyin[] = [
  ['𠮷', 'ji'], ['𪚥', 'zhe'], ['𰻞', 'biang'], ['𩽾', 'an'],
];

/** Pinyin syllables for userids that are not derived from a name (service accounts, contractors). */
export const PINYIN_SYLLABLES: readonly string[] = [
  'a', 'ai', 'an', 'ang', 'ao', 'ba', 'bai', 'ban', 'bang', 'bao', 'bei', 'ben', 'bi', 'bian', 'biao', 'bin', 'bing',
  'bo', 'bu', 'cai', 'can', 'cao', 'ce', 'chang', 'chao', 'chen', 'cheng', 'chi', 'chong', 'chu', 'chuan', 'chun',
  'ci', 'cong', 'cui', 'da', 'dai', 'dan', 'dao', 'de', 'deng', 'di', 'dian', 'ding', 'dong', 'du', 'duan', 'dun',
  'e', 'en', 'er', 'fa', 'fan', 'fang', 'fei', 'fen', 'feng', 'fu', 'gai', 'gan', 'gang', 'gao', 'ge', 'gen',
  'geng', 'gong', 'gu', 'guan', 'guang', 'gui', 'guo', 'hai', 'han', 'hang', 'hao', 'he', 'hei', 'heng', 'hong',
  'hou', 'hu', 'hua', 'huai', 'huan', 'huang', 'hui', 'hun', 'huo', 'ji', 'jia', 'jian', 'jiang', 'jiao', 'jie',
  'jin', 'jing', 'jiu', 'ju', 'juan', 'jun', 'kai', 'kan', 'kang', 'ke', 'kong', 'kun', 'lai', 'lan', 'lang',
  'lei', 'li', 'lian', 'liang', 'lin', 'ling', 'liu', 'long', 'lu', 'lun', 'luo', 'ma', 'mai', 'man', 'mao',
  'mei', 'men', 'meng', 'mi', 'mian', 'miao', 'min', 'ming', 'mo', 'mu', 'na', 'nan', 'neng', 'ni', 'nian',
  'ning', 'nuo', 'ou', 'pan', 'pei', 'peng', 'pin', 'ping', 'qi', 'qian', 'qiang', 'qiao', 'qin', 'qing', 'qiu',
  'quan', 'ran', 'rao', 'ren', 'rong', 'ru', 'rui', 'run', 'sen', 'shan', 'shang', 'shao', 'shen', 'sheng', 'shi',
  'shu', 'shuang', 'shui', 'shun', 'si', 'song', 'su', 'sui', 'sun', 'tai', 'tan', 'tang', 'tao', 'teng', 'tian',
  'ting', 'tong', 'tu', 'wan', 'wang', 'wei', 'wen', 'wu', 'xi', 'xia', 'xian', 'xiang', 'xiao', 'xin', 'xing',
  'xiong', 'xiu', 'xu', 'xuan', 'xue', 'xun', 'ya', 'yan', 'yang', 'yao', 'ye', 'yi', 'yin', 'ying', 'yong',
  'you', 'yu', 'yuan', 'yue', 'yun', 'zai', 'zan', 'ze', 'zeng', 'zhan', 'zhang', 'zhao', 'zhe', 'zhen', 'zheng',
  'zhi', 'zhong', 'zhou', 'zhu', 'zhuang', 'zi', 'zong', 'zou', 'zu', 'zuo',
];

/** English names people put in `alias`. */
export const ENGLISH_ALIASES: readonly string[] = [
  'Tony', 'Kevin', 'Jason', 'Eric', 'Leo', 'Jack', 'Frank', 'David', 'Michael', 'Vincent', 'Allen', 'Peter',
  'Alice', 'Cathy', 'Lucy', 'Grace', 'Vivian', 'Sunny', 'Coco', 'Amy', 'Linda', 'Iris', 'Echo', 'Wendy',
  'Zoe', 'Bella', 'Jenny', 'Nancy', 'Ryan', 'Sean', 'Simon', 'Steven', 'Ken', 'Andy', 'Bob', 'Chris',
];

/** [Chinese, English] of the company name parts for the root department. */
export const COMPANY_CITIES: readonly Bilingual[] = [
  ['北京', 'Beijing'], ['上海', 'Shanghai'], ['深圳', 'Shenzhen'], ['杭州', 'Hangzhou'], ['广州', 'Guangzhou'],
  ['成都', 'Chengdu'], ['南京', 'Nanjing'], ['苏州', 'Suzhou'], ['武汉', 'Wuhan'], ['西安', "Xi'an"],
];
export const COMPANY_BRANDS: readonly Bilingual[] = [
  ['云帆', 'Yunfan'], ['星河', 'Xinghe'], ['华信', 'Huaxin'], ['启明', 'Qiming'], ['蓝海', 'Lanhai'],
  ['中科', 'Zhongke'], ['天际', 'Tianji'], ['恒通', 'Hengtong'], ['智联', 'Zhilian'], ['鼎盛', 'Dingsheng'],
  ['鑫源', 'Xinyuan'], ['远景', 'Yuanjing'],
];
export const COMPANY_INDUSTRIES: readonly Bilingual[] = [
  ['科技', 'Technology'], ['信息技术', 'Information Technology'], ['网络科技', 'Network Technology'],
  ['实业', 'Industrial'], ['零售', 'Retail'], ['电子商务', 'E-commerce'], ['软件', 'Software'],
];

/** Top-level divisions (level 2 under the root). */
export const DIVISIONS: readonly Bilingual[] = [
  ['研发中心', 'R&D Center'], ['产品部', 'Product'], ['市场部', 'Marketing'], ['销售部', 'Sales'],
  ['财务部', 'Finance'], ['人力资源部', 'Human Resources'], ['行政部', 'Administration'], ['法务部', 'Legal'],
  ['运营中心', 'Operations Center'], ['供应链中心', 'Supply Chain'], ['华东区', 'East China Region'],
  ['华南区', 'South China Region'], ['华北区', 'North China Region'], ['西南区', 'Southwest Region'],
  ['北京分公司', 'Beijing Branch'], ['上海分公司', 'Shanghai Branch'], ['深圳分公司', 'Shenzhen Branch'],
  ['成都分公司', 'Chengdu Branch'], ['海外事业部', 'International BU'], ['战略投资部', 'Strategy & Investment'],
  ['质量管理部', 'Quality Management'], ['信息技术部', 'IT'], ['总裁办', "CEO's Office"], ['采购部', 'Procurement'],
  ['品牌公关部', 'Brand & PR'], ['内审部', 'Internal Audit'], ['数据中心', 'Data Center'], ['安全部', 'Security'],
];

/** Names for the one very wide department (call centre, stores): many direct members, few sub-departments. */
export const WIDE_DIVISIONS: readonly Bilingual[] = [
  ['客服中心', 'Customer Service Center'], ['呼叫中心', 'Call Center'], ['门店运营部', 'Store Operations'],
  ['零售门店事业部', 'Retail Stores BU'],
];

/** Optional first part of a lower department's name. */
export const DEPARTMENT_PREFIXES: readonly Bilingual[] = [
  ['华东', 'East China'], ['华南', 'South China'], ['华北', 'North China'], ['西南', 'Southwest'],
  ['北京', 'Beijing'], ['上海', 'Shanghai'], ['深圳', 'Shenzhen'], ['杭州', 'Hangzhou'], ['成都', 'Chengdu'],
  ['武汉', 'Wuhan'], ['平台', 'Platform'], ['基础', 'Infrastructure'], ['移动', 'Mobile'], ['云', 'Cloud'],
  ['智能', 'AI'], ['支付', 'Payments'], ['电商', 'E-commerce'], ['国际', 'International'], ['大客户', 'Key Account'],
  ['零售', 'Retail'], ['中台', 'Middle Platform'], ['增长', 'Growth'], ['企业', 'Enterprise'], ['海外', 'Overseas'],
];

/** The function part of a lower department's name. */
export const DEPARTMENT_FUNCTIONS: readonly Bilingual[] = [
  ['研发', 'R&D'], ['测试', 'QA'], ['运维', 'Ops'], ['前端', 'Frontend'], ['后端', 'Backend'], ['算法', 'Algorithms'],
  ['数据', 'Data'], ['设计', 'Design'], ['产品', 'Product'], ['市场', 'Marketing'], ['销售', 'Sales'],
  ['财务', 'Finance'], ['人力资源', 'HR'], ['行政', 'Admin'], ['采购', 'Procurement'], ['物流', 'Logistics'],
  ['客服', 'Customer Service'], ['运营', 'Operations'], ['法务', 'Legal'], ['品牌', 'Brand'], ['渠道', 'Channel'],
  ['招聘', 'Recruiting'], ['培训', 'Training'], ['薪酬', 'Compensation'], ['审计', 'Audit'], ['安全', 'Security'],
  ['质量', 'Quality'], ['交付', 'Delivery'], ['实施', 'Implementation'], ['售前', 'Presales'], ['会计', 'Accounting'],
  ['税务', 'Tax'],
];

/** Suffixes by depth: divisions and centres near the top, teams further down. */
export const DEPARTMENT_SUFFIXES_UPPER: readonly Bilingual[] = [
  ['部', 'Dept'], ['中心', 'Center'], ['事业部', 'BU'],
];
export const DEPARTMENT_SUFFIXES_MIDDLE: readonly Bilingual[] = [
  ['部', 'Dept'], ['组', 'Team'], ['科', 'Section'], ['处', 'Office'],
];
export const DEPARTMENT_SUFFIXES_LOWER: readonly Bilingual[] = [
  ['组', 'Team'], ['小组', 'Squad'], ['项目组', 'Project Team'], ['室', 'Office'], ['团队', 'Team'],
];

/**
 * Valid but awkward department names: spaces, Latin letters, full-width parentheses, "/", "&", "·", "'", "#", "-".
 * None contains a character WeCom refuses (\ : * ? " < > | ｜).
 */
export const ODD_DEPARTMENT_NAMES: readonly Bilingual[] = [
  ['AI Lab', 'AI Lab'], ['Growth Hacking 小组', 'Growth Hacking'], ['销售部（华东）', 'Sales (East China)'],
  ['数据·智能组', 'Data & Intelligence'], ['R&D / 平台', 'R&D / Platform'], ['Team A-1', 'Team A-1'],
  ["O'Neil 项目组", "O'Neil Project"], ['#应急响应', 'Incident Response'], ['新零售 2.0', 'New Retail 2.0'],
  ['SRE', 'SRE'], ['Design System', 'Design System'], ['临时项目组 (2024)', 'Task Force 2024'],
];

/** Chinese numerals for numbered teams (一组, 二组 …). */
export const CHINESE_NUMERALS: readonly string[] = ['一', '二', '三', '四', '五', '六', '七', '八', '九', '十'];

export const POSITIONS: readonly string[] = [
  '工程师', '高级工程师', '资深工程师', '前端工程师', '后端工程师', '测试工程师', '运维工程师', '算法工程师',
  '数据工程师', '产品经理', '高级产品经理', '项目经理', 'UI设计师', '交互设计师', '数据分析师', '销售代表',
  '客户经理', '大客户经理', '市场专员', '品牌经理', '会计', '出纳', '财务专员', 'HRBP', '招聘专员', '行政专员',
  '法务专员', '客服专员', '客服组长', '店长', '店员', '实习生', '架构师', 'Java开发工程师', 'iOS 开发工程师',
  '技术支持', '采购专员', '物流专员', '运营专员', '内容编辑',
];

export const LEADER_POSITIONS: readonly string[] = [
  '部门经理', '总监', '高级总监', '主管', '组长', '负责人', '副总裁', '技术总监', '销售总监', '区域经理',
];

/** Short external positions (WeCom: at most 12 Chinese characters). */
export const EXTERNAL_POSITIONS: readonly string[] = [
  '客户经理', '技术顾问', '高级顾问', '售后服务', '商务合作', '专属客服', '解决方案专家',
];

export const ADDRESS_CITIES: readonly string[] = [
  '北京市海淀区', '北京市朝阳区', '上海市浦东新区', '上海市徐汇区', '深圳市南山区', '深圳市福田区', '杭州市西湖区',
  '杭州市滨江区', '广州市天河区', '成都市高新区', '武汉市洪山区', '南京市鼓楼区',
];
export const ADDRESS_STREETS: readonly string[] = [
  '中关村大街', '科技园路', '世纪大道', '深南大道', '文三路', '天府大道', '珠江新城华夏路', '光谷大道', '建国路',
  '软件园二期', '望京街',
];

/** [area code without the trunk 0] for landline numbers. */
export const AREA_CODES: readonly string[] = ['10', '21', '20', '755', '571', '28', '27', '25', '512', '29'];

/** Mainland mobile prefixes after the leading 1. */
export const MOBILE_PREFIXES: readonly string[] = [
  '30', '31', '32', '33', '35', '36', '37', '38', '39', '50', '51', '52', '55', '56', '57', '58', '59', '66', '70',
  '73', '76', '77', '78', '80', '81', '82', '83', '85', '86', '87', '88', '89', '91', '98', '99',
];

export const PERSONAL_EMAIL_DOMAINS: readonly string[] = ['qq.com', '163.com', '126.com', 'gmail.com', 'outlook.com', 'foxmail.com'];

export const USERID_SITE_SUFFIXES: readonly string[] = ['bj', 'sh', 'sz', 'hq', 'ext'];
