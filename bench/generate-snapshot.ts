import type { Gender, UserStatus } from '../src/directory/model.js';
import type { Snapshot, SnapshotDepartment, SnapshotMembership, SnapshotUser } from '../src/directory/snapshot.js';
import { Random } from '../src/simulator/random.js';

/**
 * A deterministic, WeCom-valid org chart for benchmarks: the same options always give the same snapshot
 * (a seeded PRNG, never Math.random), so figures from different machines and commits compare.
 */

export interface GenerateOptions {
  users: number;
  departments: number;
  /** Levels of the tree, counted from the source's top departments (level 1). */
  maxDepth?: number;
  seed?: number;
  /**
   * Users u000001… up to this count get their first membership in one department (the first of level 2, or of
   * level 1 in a one-level tree), as crowded as a real company's largest; the others spread at random. Default 0,
   * which leaves the generated data exactly as without the option.
   */
  crowdedMembers?: number;
}

const SURNAMES = [
  ...'王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤',
];
const GIVEN = [
  ...'伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉萍红娥玲芬燕彬鹏辉建林亮成斌宇浩凯健俊帆帅旭晨晓欣怡婷雪琳颖佳琪梦雨思涵子轩博文一鸣天佑嘉睿泽阳昊然',
];
const DEPT_BASES = [
  '研发',
  '产品',
  '销售',
  '市场',
  '财务',
  '人力资源',
  '行政',
  '法务',
  '采购',
  '客服',
  '运营',
  '质量',
  '测试',
  '设计',
  '数据',
  '安全',
  '运维',
  '供应链',
  '物流',
  '培训',
  '战略',
  '投资',
  '审计',
  '品牌',
  '公关',
  '渠道',
  '大客户',
  '平台',
  '架构',
  '算法',
  '前端',
  '后端',
  '移动',
  '基础设施',
  '交付',
  '售前',
  '售后',
  '合规',
  '风控',
  '信息',
];
const TOP_SUFFIX = ['事业群', '公司', '集团'];
const DEPT_SUFFIX = ['部', '中心', '组', '科', '室', '处'];
const NUMERALS = [...'一二三四五六七八九十'];
const POSITIONS = [
  '工程师',
  '高级工程师',
  '资深工程师',
  '技术专家',
  '产品经理',
  '项目经理',
  '销售代表',
  '客户经理',
  '会计',
  '出纳',
  '人事专员',
  '行政助理',
  '设计师',
  '测试工程师',
  '运维工程师',
  '数据分析师',
  '部门经理',
  '总监',
  '副总裁',
  '实习生',
];
const CITIES = ['北京', '上海', '广州', '深圳', '杭州', '成都', '武汉', '南京', '西安', '苏州'];

/** Level sizes, per thousand departments, for levels 1..8: a pyramid that widens towards the leaves. */
const LEVEL_WEIGHTS = [1, 5, 20, 60, 140, 240, 280, 254];

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

function levelSizes(total: number, maxDepth: number): number[] {
  const weights = LEVEL_WEIGHTS.slice(0, maxDepth);
  while (weights.length < maxDepth) weights.push(weights[weights.length - 1] ?? 1);
  const sum = weights.reduce((a, b) => a + b, 0);
  const sizes = weights.map((w) => Math.max(1, Math.floor((total * w) / sum)));
  // Fit the sizes to the total: trim from the deepest levels, or add the rest to the deepest level.
  let diff = total - sizes.reduce((a, b) => a + b, 0);
  for (let i = sizes.length - 1; diff < 0 && i >= 0; i--) {
    const take = Math.min(-diff, (sizes[i] as number) - (i === 0 ? 1 : 0));
    sizes[i] = (sizes[i] as number) - take;
    diff += take;
  }
  if (diff > 0) sizes[sizes.length - 1] = (sizes[sizes.length - 1] as number) + diff;
  return sizes.filter((s) => s > 0);
}

export function generateSnapshot(options: GenerateOptions): Snapshot {
  const { users: userCount, departments: deptCount } = options;
  const maxDepth = options.maxDepth ?? 8;
  const crowdedMembers = options.crowdedMembers ?? 0;
  if (!Number.isInteger(userCount) || userCount < 0)
    throw new Error(`users must be a whole number ≥ 0, not ${userCount}`);
  if (!Number.isInteger(deptCount) || deptCount < 1)
    throw new Error(`departments must be a whole number ≥ 1, not ${deptCount}`);
  if (!Number.isInteger(crowdedMembers) || crowdedMembers < 0)
    throw new Error(`crowdedMembers must be a whole number ≥ 0, not ${crowdedMembers}`);
  const random = new Random(options.seed ?? 20261122);
  const rnd = (): number => random.next();
  const int = (n: number): number => Math.floor(rnd() * n);
  const pick = <T>(list: readonly T[]): T => list[int(list.length)] as T;

  // ---------------------------------------------------------------- departments
  const deptWidth = Math.max(5, String(deptCount).length);
  const departments: SnapshotDepartment[] = [];
  const namesUnder = new Map<string | null, Set<string>>();
  /** Sibling names are distinct, as on WeCom: 研发部 → 研发二部 → … → 研发十部 → 研发部11. */
  const uniqueName = (parent: string | null, stem: string, suffix: string): string => {
    let names = namesUnder.get(parent);
    if (!names) namesUnder.set(parent, (names = new Set()));
    let name = stem + suffix;
    for (let k = 1; names.has(name); k++) {
      name = k < NUMERALS.length ? `${stem}${NUMERALS[k]}${suffix}` : `${stem}${suffix}${k + 1}`;
    }
    names.add(name);
    return name;
  };
  let previousLevel: string[] = [];
  let crowded: string | undefined;
  for (const [level, size] of levelSizes(deptCount, maxDepth).entries()) {
    const thisLevel: string[] = [];
    for (let k = 0; k < size; k++) {
      const externalId = `d${pad(departments.length + 1, deptWidth)}`;
      const parentExternalId = level === 0 ? null : (pick(previousLevel) as string);
      const name =
        level === 0
          ? uniqueName(null, pick(CITIES), pick(TOP_SUFFIX))
          : uniqueName(parentExternalId, pick(DEPT_BASES), pick(DEPT_SUFFIX));
      departments.push({ externalId, parentExternalId, name, order: int(100_000) });
      thisLevel.push(externalId);
    }
    if (level <= 1) crowded = thisLevel[0];
    previousLevel = thisLevel;
  }

  // ---------------------------------------------------------------- users
  const userWidth = Math.max(6, String(userCount).length);
  const users: SnapshotUser[] = [];
  for (let i = 1; i <= userCount; i++) {
    const userid = `u${pad(i, userWidth)}`;
    const name = pick(SURNAMES) + pick(GIVEN) + (rnd() < 0.7 ? pick(GIVEN) : '');
    const membershipCount = Math.min(departments.length, rnd() < 0.1 ? 2 + int(2) : 1);
    const memberships: SnapshotMembership[] = [];
    const taken = new Set<string>();
    if (i <= crowdedMembers && crowded !== undefined) {
      taken.add(crowded);
      memberships.push({ externalId: crowded, order: int(1000), leader: rnd() < 0.03 });
    }
    while (memberships.length < membershipCount) {
      const d = (departments[int(departments.length)] as SnapshotDepartment).externalId;
      if (taken.has(d)) continue;
      taken.add(d);
      memberships.push({ externalId: d, order: int(1000), leader: rnd() < 0.03 });
    }
    const main =
      memberships.length > 0 ? (memberships[int(memberships.length)] as SnapshotMembership).externalId : undefined;
    // A permutation of 0..10^8-1 (48271 is prime to 10^8), so every mobile is distinct but not sequential.
    const mobileDigits = pad((i * 48271 + 12_345_678) % 100_000_000, 8);
    const user: SnapshotUser = {
      externalId: userid,
      userid,
      name,
      position: rnd() < 0.85 ? pick(POSITIONS) : null,
      mobile: `+86 138${mobileDigits}`,
      email: `${userid}@corp.example.com`,
      gender: (rnd() < 0.5 ? 'male' : 'female') as Gender,
      employeeNo: `E${pad(i, userWidth)}`,
      status: (rnd() < 0.01 ? 'disabled' : 'active') as UserStatus,
      departments: memberships,
      ...(main !== undefined ? { mainDepartment: main } : {}),
      attributes: { 工作地点: pick(CITIES), costCenter: `CC${pad(int(500), 4)}` },
    };
    users.push(user);
  }

  return { complete: true, incompleteDepartments: [], unseenFields: [], departments, users };
}

/** The deepest level of the snapshot's tree (top departments are level 1). */
export function treeDepth(snapshot: Snapshot): number {
  const parent = new Map(snapshot.departments.map((d) => [d.externalId, d.parentExternalId]));
  let max = 0;
  for (const d of snapshot.departments) {
    let n = 1;
    for (let p = d.parentExternalId; p !== null && p !== undefined; p = parent.get(p) ?? null) n++;
    max = Math.max(max, n);
  }
  return max;
}
