/**
 * Deterministic generators for both simulators, in WeCom's shapes (dingtalk/convert.ts turns them into DingTalk's):
 *  - generateOrg: a realistic simulated corp (departments and users in WeCom's API shapes) from a seed and sizes;
 *  - randomOperations: a realistic list of changes that are valid against an org when applied in order.
 * Both use only the seeded PRNG in ./random.ts, so the same inputs give byte-identical output.
 */

import { WECOM_LIMITS } from '../connectors/wecom/limits.js';
import { emailKey, mobileKey, userIdKey } from '../directory/limits.js';
import * as names from './names.js';
import type { Bilingual, Pinyin } from './names.js';
import { Random } from './random.js';
import type { SimOperation, SimOrg, WecomDepartment, WecomExtAttr, WecomUser, WecomUserStatus } from './wecom/model.js';

const MAX_DEPTH = WECOM_LIMITS.maxDepth ?? 15;
const MAX_DEPARTMENTS = WECOM_LIMITS.maxDepartments ?? 30_000;
const MAX_DEPARTMENTS_PER_USER = WECOM_LIMITS.maxDepartmentsPerUser;
/** When the org has at least WIDE_ORG_USERS users, exactly one department has more than WIDE_THRESHOLD members. */
const WIDE_THRESHOLD = 10_000;
const WIDE_ORG_USERS = 20_000;
const INT32_MAX = 2_147_483_647;
const ROOT_ID = 1;
/** The generator's department orders count down from here (WeCom sorts a larger order first). */
export const ORDER_BASE = 100_000_000;

export interface GenerateOrgOptions {
  seed: number;
  /** Total departments, the root included: 1 … 30,000. */
  departments: number;
  /** Total users: 0 or more. */
  users: number;
}

export interface RandomOperationsOptions {
  count: number;
  seed: number;
}

// ---------------------------------------------------------------------------------------------------------------
// Shared helpers: names, userids, contact details, department names
// ---------------------------------------------------------------------------------------------------------------

interface Company {
  name: string;
  nameEn: string;
  domain: string;
}

function makeCompany(rng: Random): Company {
  const city = rng.pick(names.COMPANY_CITIES);
  const brand = rng.pick(names.COMPANY_BRANDS);
  const industry = rng.pick(names.COMPANY_INDUSTRIES);
  const slug = brand[1].toLowerCase();
  return {
    name: `${city[0]}${brand[0]}${industry[0]}有限公司`,
    nameEn: `${city[1]} ${brand[1]} ${industry[1]} Co., Ltd.`,
    domain: rng.chance(0.5) ? `${slug}.com` : `${slug}-tech.com`,
  };
}

interface PersonName {
  name: string;
  surname: string;
  given: string[];
}

/** A 2-3 character Chinese name with the pinyin of its parts; some use rare or supplementary-plane characters. */
function makePersonName(rng: Random): PersonName {
  let surname: Pinyin;
  let givenCount: number;
  const r = rng.next();
  if (r < 0.015) {
    surname = rng.pick(names.RARE_SURNAMES);
    givenCount = rng.chance(0.4) ? 1 : 2;
  } else if (r < 0.035) {
    surname = rng.pick(names.COMPOUND_SURNAMES);
    givenCount = 1;
  } else {
    // The list is roughly by frequency: squaring the draw favours the common surnames.
    const u = rng.next();
    surname = names.SURNAMES[Math.floor(names.SURNAMES.length * u * u)] ?? names.SURNAMES[0]!;
    givenCount = rng.chance(0.35) ? 1 : 2;
  }
  let name = surname[0];
  const given: string[] = [];
  for (let i = 0; i < givenCount; i++) {
    const g = rng.next();
    const list = g < 0.004 ? names.SUPPLEMENTARY_GIVEN_CHARS : g < 0.03 ? names.RARE_GIVEN_CHARS : names.GIVEN_CHARS;
    const ch = rng.pick(list);
    name += ch[0];
    given.push(ch[1]);
  }
  return { name, surname: surname[1], given };
}

const cap = (s: string): string => (s.length === 0 ? s : s[0]!.toUpperCase() + s.slice(1));

/** A userid in one of the styles real corps use: ZhangWei, zhangwei, li.na, wang_fang, E102345, zhangwei@bj … */
function userIdBase(rng: Random, person: PersonName): string {
  const sur = person.surname;
  const given = person.given.join('');
  const r = rng.next();
  let base: string;
  if (r < 0.26) base = cap(sur) + person.given.map(cap).join('');
  else if (r < 0.48) base = sur + given;
  else if (r < 0.62) base = `${sur}.${given}`;
  else if (r < 0.72) base = `${sur}_${given}`;
  else if (r < 0.78) base = `${given}.${sur}`;
  else if (r < 0.84) base = cap(sur) + person.given.map((g) => g[0]!.toUpperCase()).join('');
  else if (r < 0.88) base = `${sur}-${given}`;
  else if (r < 0.93) base = rng.chance(0.6) ? `E${rng.digits(6)}` : `${rng.int(1, 9)}${rng.digits(5)}`;
  else if (r < 0.96) base = `${sur}${given}@${rng.pick(names.USERID_SITE_SUFFIXES)}`;
  else base = `${sur}${given}${rng.int(1, 99)}`;
  return base;
}

/** Hands out userids unique ignoring case, appending a counter on a clash (wang_fang, wang_fang2 …). */
class UserIdAllocator {
  private readonly counters = new Map<string, number>();
  constructor(private readonly taken: Set<string>) {}

  allocate(base: string): string {
    const key = userIdKey(base);
    if (!this.taken.has(key)) {
      this.taken.add(key);
      return base;
    }
    let n = this.counters.get(key) ?? 2;
    for (;;) {
      const candidate = `${base}${n}`;
      n++;
      const candidateKey = userIdKey(candidate);
      if (!this.taken.has(candidateKey)) {
        this.taken.add(candidateKey);
        this.counters.set(key, n);
        return candidate;
      }
    }
  }
}

/** `+86 1xxxxxxxxxx`, unique (by mobileKey) within `taken`. */
function makeMobile(rng: Random, taken: Set<string>): string {
  for (;;) {
    const key = `1${rng.pick(names.MOBILE_PREFIXES)}${rng.digits(8)}`; // what mobileKey gives for +86 numbers
    if (!taken.has(key)) {
      taken.add(key);
      return `+86 ${key}`;
    }
  }
}

/** Like makeMobile, with the number itself as the key (cheaper to hash than a string). */
function makeMobileFast(rng: Random, taken: Set<number>): string {
  for (;;) {
    const prefix = rng.int(0, names.MOBILE_PREFIXES.length - 1);
    const rest = rng.uint32() % 100_000_000;
    const key = prefix * 100_000_000 + rest;
    if (!taken.has(key)) {
      taken.add(key);
      return `+86 1${names.MOBILE_PREFIXES[prefix]!}${String(rest).padStart(8, '0')}`;
    }
  }
}

/**
 * An address unique within `taken` (which holds emailKey values); a clash gets digits before the @. `local` and
 * `domain` are lowercase and trimmed already, so the address is its own key.
 */
function uniqueEmail(local: string, domain: string, taken: Set<string>): string {
  let email = `${local}@${domain}`;
  for (let n = 2; taken.has(email); n++) email = `${local}${n}@${domain}`;
  taken.add(email);
  return email;
}

function corporateLocalPart(userid: string): string {
  return userid.toLowerCase().replace(/@/g, '.');
}

function personalLocalPart(rng: Random): string {
  return `${rng.pick(names.PINYIN_SYLLABLES)}${rng.pick(names.PINYIN_SYLLABLES)}${rng.int(1, 9999)}`;
}

function makeTelephone(rng: Random): string {
  const area = rng.pick(names.AREA_CODES);
  const local = rng.digits(area.length === 2 ? 8 : 7);
  const ext = rng.chance(0.2) ? `,${rng.digits(4)}` : '';
  return `0${area}-${local}${ext}`;
}

function makeAddress(rng: Random): string {
  const floor = rng.chance(0.5) ? `${rng.int(1, 30)}层` : '';
  return `${rng.pick(names.ADDRESS_CITIES)}${rng.pick(names.ADDRESS_STREETS)}${rng.int(1, 399)}号${floor}`;
}

function makeGender(rng: Random): '0' | '1' | '2' {
  const r = rng.next();
  return r < 0.04 ? '0' : r < 0.52 ? '1' : '2';
}

function makeAlias(rng: Random, person: PersonName): string {
  return rng.chance(0.75) ? rng.pick(names.ENGLISH_ALIASES) : `小${person.name.slice(0, 1)}`;
}

/** One candidate department name for a department at `level` (root = 1). */
function candidateDepartmentName(rng: Random, level: number): Bilingual {
  if (rng.chance(0.03)) return rng.pick(names.ODD_DEPARTMENT_NAMES);
  if (level <= 2) return rng.pick(names.DIVISIONS);
  const func = rng.pick(names.DEPARTMENT_FUNCTIONS);
  const prefix = rng.chance(0.55) ? rng.pick(names.DEPARTMENT_PREFIXES) : null;
  if (level >= 5 && rng.chance(0.25)) {
    const n = rng.int(1, names.CHINESE_NUMERALS.length);
    return [
      `${prefix?.[0] ?? ''}${func[0]}${names.CHINESE_NUMERALS[n - 1]}组`,
      `${prefix ? `${prefix[1]} ` : ''}${func[1]} Team ${n}`,
    ];
  }
  const suffixes =
    level === 3
      ? names.DEPARTMENT_SUFFIXES_UPPER
      : level <= 5
        ? names.DEPARTMENT_SUFFIXES_MIDDLE
        : names.DEPARTMENT_SUFFIXES_LOWER;
  const suffix = rng.pick(suffixes);
  return [`${prefix?.[0] ?? ''}${func[0]}${suffix[0]}`, `${prefix ? `${prefix[1]} ` : ''}${func[1]} ${suffix[1]}`];
}

/** A name not in `taken` (the sibling names under the same parent); a clash after a few tries gets a number. */
function uniqueDepartmentName(
  rng: Random,
  level: number,
  taken: ReadonlySet<string>,
  preferred?: Bilingual,
): Bilingual {
  if (preferred && !taken.has(preferred[0])) return preferred;
  let last: Bilingual = preferred ?? candidateDepartmentName(rng, level);
  for (let attempt = 0; attempt < 8; attempt++) {
    last = candidateDepartmentName(rng, level);
    if (!taken.has(last[0])) return last;
  }
  for (let n = 2; ; n++) {
    const zh = `${last[0]}${n}`;
    if (!taken.has(zh)) return [zh, `${last[1]} ${n}`];
  }
}

function siblingOrder(rng: Random, childIndex: number, previous: number | undefined): number {
  const r = rng.next();
  if (previous !== undefined && r < 0.05) return previous; // ties happen: consumers must break them stably
  if (r < 0.08) return 0;
  return Math.max(0, ORDER_BASE - childIndex * 1000 - rng.int(0, 999));
}

// ---------------------------------------------------------------------------------------------------------------
// generateOrg
// ---------------------------------------------------------------------------------------------------------------

interface DeptDraft {
  parent: number; // index, -1 for the root
  level: number;
  name: string;
  nameEn: string;
  order: number;
  children: number;
  childNames: Set<string>;
  childNamesEn: Set<string>;
  lastChildOrder: number | undefined;
}

function validateSizes(options: GenerateOrgOptions): void {
  const { seed, departments, users } = options;
  if (typeof seed !== 'number' || !Number.isFinite(seed))
    throw new Error(`generateOrg: seed must be a finite number, got ${String(seed)}`);
  if (!Number.isSafeInteger(departments) || departments < 1) {
    throw new Error(`generateOrg: departments must be an integer ≥ 1 (the root counts), got ${String(departments)}`);
  }
  if (departments > MAX_DEPARTMENTS) {
    throw new Error(`generateOrg: departments must be at most ${MAX_DEPARTMENTS} (WeCom's limit), got ${departments}`);
  }
  if (!Number.isSafeInteger(users) || users < 0) {
    throw new Error(`generateOrg: users must be an integer ≥ 0, got ${String(users)}`);
  }
}

/** Departments per level: one chain down to the deepest level, a few top divisions, widening then narrowing. */
function levelCounts(rng: Random, n: number): number[] {
  const maxLevel = n >= MAX_DEPTH ? MAX_DEPTH : Math.min(n, 2 + Math.floor(n / 3));
  const counts = new Array<number>(maxLevel + 1).fill(0);
  for (let l = 1; l <= maxLevel; l++) counts[l] = 1;
  let rem = n - maxLevel;
  if (maxLevel >= 2 && rem > 0) {
    const bits = 32 - Math.clz32(n);
    const top = Math.min(12, Math.max(3, 1 + Math.round(bits * 0.6) + rng.int(0, 2)));
    const extra = Math.min(rem, top - 1);
    counts[2]! += extra;
    rem -= extra;
  }
  if (rem > 0) {
    // Relative sizes of levels 3…15: a bulge at levels 4-5, a thin tail down to 15.
    const shape = [16, 24, 22, 14, 8, 5, 3.5, 2.5, 1.6, 1.1, 0.8, 0.5, 0.3];
    const levels: number[] = [];
    const weights: number[] = [];
    for (let l = 3; l <= maxLevel; l++) {
      levels.push(l);
      weights.push((shape[l - 3] ?? 0.3) * (0.85 + 0.3 * rng.next()));
    }
    if (levels.length === 0) {
      counts[maxLevel]! += rem;
    } else {
      const total = weights.reduce((a, b) => a + b, 0);
      const fractions: { level: number; frac: number }[] = [];
      let given = 0;
      levels.forEach((level, i) => {
        const exact = (rem * weights[i]!) / total;
        const whole = Math.floor(exact);
        counts[level]! += whole;
        given += whole;
        fractions.push({ level, frac: exact - whole });
      });
      fractions.sort((a, b) => b.frac - a.frac || a.level - b.level);
      for (let i = 0; given < rem; i++, given++) counts[fractions[i % fractions.length]!.level]! += 1;
    }
  }
  return counts;
}

function buildDepartments(
  rng: Random,
  n: number,
  company: Company,
): { drafts: DeptDraft[]; ids: Int32Array; wide: number } {
  const counts = levelCounts(rng, n);
  const maxLevel = counts.length - 1;
  const drafts: DeptDraft[] = [];
  const fertility: number[] = [];
  const newDraft = (parent: number, level: number, name: Bilingual, withEn: boolean): number => {
    const p = parent >= 0 ? drafts[parent]! : undefined;
    let nameEn = withEn ? name[1] : '';
    if (p && nameEn !== '' && p.childNamesEn.has(nameEn)) nameEn = '';
    const order = p ? siblingOrder(rng, p.children, p.lastChildOrder) : ORDER_BASE;
    if (p) {
      p.children++;
      p.childNames.add(name[0]);
      if (nameEn !== '') p.childNamesEn.add(nameEn);
      p.lastChildOrder = order;
    }
    drafts.push({
      parent,
      level,
      name: name[0],
      nameEn,
      order,
      children: 0,
      childNames: new Set(),
      childNamesEn: new Set(),
      lastChildOrder: undefined,
    });
    const u1 = rng.next();
    const u2 = rng.next();
    fertility.push(0.2 + 3 * u1 * u2);
    return drafts.length - 1;
  };

  newDraft(-1, 1, [company.name, company.nameEn], true);
  let wide = -1;
  let previousLevel = [0];
  for (let level = 2; level <= maxLevel; level++) {
    const current: number[] = [];
    const cumulative: number[] = [];
    let sum = 0;
    for (const p of previousLevel) {
      sum += fertility[p]!;
      cumulative.push(sum);
    }
    for (let k = 0; k < counts[level]!; k++) {
      // The first department of each level hangs under the first of the level above: one chain reaches maxLevel.
      const parent = k === 0 ? previousLevel[0]! : previousLevel[rng.weightedIndex(cumulative)]!;
      const taken = drafts[parent]!.childNames;
      const isWide = level === 2 && k === 1;
      const preferred = isWide ? rng.pick(names.WIDE_DIVISIONS) : undefined;
      const name = uniqueDepartmentName(rng, level, taken, preferred);
      const index = newDraft(parent, level, name, rng.chance(level <= 2 ? 0.6 : 0.25));
      if (isWide) {
        wide = index;
        fertility[index] = 0.05; // a call centre or the stores: many people, few sub-departments
      }
      current.push(index);
    }
    previousLevel = current;
  }
  if (wide < 0) wide = n === 1 ? 0 : drafts.length - 1;

  // Ids: increasing with occasional gaps, then a few swapped so some children have smaller ids than their parents
  // (as after moves in a real corp).
  const ids = new Int32Array(n);
  ids[0] = ROOT_ID;
  let next = 2;
  for (let i = 1; i < n; i++) {
    ids[i] = next;
    next += 1 + (rng.chance(0.08) ? rng.int(1, 30) : 0);
  }
  if (n > 2) {
    for (let i = 1; i < n; i++) {
      if (rng.chance(0.03)) {
        const j = rng.int(1, n - 1);
        const tmp = ids[i]!;
        ids[i] = ids[j]!;
        ids[j] = tmp;
      }
    }
  }
  return { drafts, ids, wide };
}

/** Direct (primary) member counts per department, with the wide department's share decided first. */
function primaryCounts(
  rng: Random,
  drafts: DeptDraft[],
  wide: number,
  users: number,
): { counts: Int32Array; cap: number; cumulative: Float64Array } {
  const n = drafts.length;
  const counts = new Int32Array(n);
  const cumulative = new Float64Array(n);
  if (n === 1) {
    counts[0] = users;
    return { counts, cap: users, cumulative };
  }
  const big = users >= WIDE_ORG_USERS;
  const target = big
    ? Math.max(WIDE_THRESHOLD + 1 + rng.int(0, 1500), Math.round(users * (0.1 + 0.05 * rng.next())))
    : Math.round(users * (0.12 + 0.06 * rng.next()));
  const cap = big ? WIDE_THRESHOLD : Math.max(1, target);
  const others = n - 1;
  const wideCount = Math.min(users, Math.max(target, users - others * cap));
  counts[wide] = wideCount;

  // Weights for everyone else: leaves hold most people, the root very few.
  const weights = new Float64Array(n);
  let total = 0;
  for (let i = 0; i < n; i++) {
    if (i === wide) continue;
    const base = i === 0 ? 0.05 : drafts[i]!.children === 0 ? 1 : 0.35;
    const u1 = rng.next();
    const u2 = rng.next();
    weights[i] = base * (0.1 + 3 * u1 * u2);
    total += weights[i]!;
  }
  let sum = 0;
  for (let i = 0; i < n; i++) {
    sum += weights[i]!;
    cumulative[i] = sum;
  }
  const rem = users - wideCount;
  let leftover = rem;
  for (let i = 0; i < n; i++) {
    if (i === wide || total === 0) continue;
    const c = Math.min(cap, Math.floor((rem * weights[i]!) / total));
    counts[i] = c;
    leftover -= c;
  }
  let misses = 0;
  while (leftover > 0) {
    let d = rng.weightedIndex(cumulative);
    if (counts[d]! >= cap) {
      if (++misses < 50) continue;
      // Everything likely is nearly full: scan for room.
      d = -1;
      for (let i = 0; i < n; i++) {
        if (i !== wide && counts[i]! < cap) {
          d = i;
          break;
        }
      }
      if (d < 0) {
        counts[wide]! += leftover;
        break;
      }
    }
    misses = 0;
    counts[d]!++;
    leftover--;
  }
  return { counts, cap, cumulative };
}

function pickStatus(rng: Random): WecomUserStatus {
  const r = rng.next();
  return r < 0.02 ? 2 : r < 0.05 ? 4 : 1;
}

/**
 * A simulated WeCom corp: `departments` departments (root id 1 included) and `users` users, deterministic in
 * (seed, departments, users). The department tree depends only on (seed, departments).
 */
export function generateOrg(options: GenerateOrgOptions): SimOrg {
  validateSizes(options);
  const { departments: n, users: userCount } = options;
  const master = new Random(options.seed);
  const companyRng = master.fork();
  const deptRng = master.fork();
  const memberRng = master.fork();
  const userRng = master.fork();
  const leaderRng = master.fork();
  const profileRng = master.fork();

  const company = makeCompany(companyRng);
  const { drafts, ids, wide } = buildDepartments(deptRng, n, company);

  // --- memberships ---------------------------------------------------------------------------------------------
  const { counts, cap, cumulative } = primaryCounts(memberRng, drafts, wide, userCount);
  const primary = new Int32Array(userCount);
  {
    let k = 0;
    for (let d = 0; d < n; d++) for (let c = counts[d]!; c > 0; c--) primary[k++] = d;
  }
  memberRng.shuffleInts(primary);
  const memberCount = Int32Array.from(counts);
  const extras: (number[] | undefined)[] = new Array<number[] | undefined>(userCount);
  const canAddExtras = n >= 2 && (cumulative[n - 1] ?? 0) > 0;
  for (let u = 0; u < userCount; u++) {
    if (!canAddExtras || !memberRng.chance(0.1)) continue;
    const wanted = memberRng.chance(0.75) ? 1 : 2;
    const p = primary[u]!;
    let list: number[] | undefined;
    for (let tries = 0; tries < 8 && (list?.length ?? 0) < wanted; tries++) {
      const d = memberRng.weightedIndex(cumulative);
      if (d === p || d === wide || list?.includes(d) || memberCount[d]! >= cap) continue;
      (list ??= []).push(d);
      memberCount[d]!++;
    }
    extras[u] = list;
  }

  // Members of each department, in user order (compressed rows).
  const offsets = new Int32Array(n + 1);
  for (let d = 0; d < n; d++) offsets[d + 1] = offsets[d]! + memberCount[d]!;
  const fill = offsets.slice(0, n);
  const members = new Int32Array(offsets[n]!);
  for (let u = 0; u < userCount; u++) {
    members[fill[primary[u]!]!++] = u;
    const ex = extras[u];
    if (ex) for (const d of ex) members[fill[d]!++] = u;
  }

  // --- identities ----------------------------------------------------------------------------------------------
  const personNames: string[] = new Array<string>(userCount);
  const userids: string[] = new Array<string>(userCount);
  const statuses = new Uint8Array(userCount);
  const allocator = new UserIdAllocator(new Set());
  const aliases: string[] = new Array<string>(userCount);
  for (let u = 0; u < userCount; u++) {
    const person = makePersonName(userRng);
    personNames[u] = person.name;
    userids[u] = allocator.allocate(userIdBase(userRng, person));
    statuses[u] = pickStatus(userRng);
    aliases[u] = userRng.chance(0.2) ? makeAlias(userRng, person) : '';
  }

  // --- leaders -------------------------------------------------------------------------------------------------
  // leaderBits[u]: bit 0 = leader in the primary department, bit i = leader in extras[u][i-1].
  const leaderBits = new Uint8Array(userCount);
  const deptLeaders: number[][] = new Array<number[]>(n);
  for (let d = 0; d < n; d++) {
    const start = offsets[d]!;
    const size = offsets[d + 1]! - start;
    const chosen: number[] = [];
    deptLeaders[d] = chosen;
    if (size === 0) continue;
    const r = leaderRng.next();
    const wantedLeaders = Math.min(size, d === 0 ? 1 : r < 0.12 ? 0 : r < 0.92 ? 1 : 2);
    for (let tries = 0; tries < 10 && chosen.length < wantedLeaders; tries++) {
      const u = members[start + leaderRng.int(0, size - 1)]!;
      if (chosen.includes(u)) continue;
      if (statuses[u] !== 1 && tries < 6) continue; // leaders are mostly active accounts
      chosen.push(u);
      const bit = primary[u] === d ? 0 : 1 + (extras[u]?.indexOf(d) ?? -1);
      leaderBits[u]! |= 1 << bit;
    }
  }

  // --- users ---------------------------------------------------------------------------------------------------
  const mobiles = new Set<number>();
  const emails = new Set<string>();
  const bizMails = new Set<string>();
  const bizDomain = `${company.domain.split('.')[0]}.wecom.work`;
  const users: WecomUser[] = new Array<WecomUser>(userCount);
  const rng = profileRng;
  for (let u = 0; u < userCount; u++) {
    const userid = userids[u]!;
    const ex = extras[u];
    const slots = 1 + (ex ? ex.length : 0);
    const bits = leaderBits[u]!;
    const department: number[] = [];
    const isLeader: number[] = [];
    const order: number[] = [];
    for (let i = 0; i < slots; i++) {
      const d = i === 0 ? primary[u]! : ex![i - 1]!;
      const leader = (bits >> i) & 1;
      department.push(ids[d]!);
      isLeader.push(leader);
      order.push(leader === 1 ? rng.int(100, 999) : rng.chance(0.7) ? 0 : rng.int(1, 99));
    }
    const mainSlot = slots > 1 && rng.chance(0.2) ? rng.int(1, slots - 1) : 0;
    const mainIndex = mainSlot === 0 ? primary[u]! : ex![mainSlot - 1]!;
    const leadsMain = isLeader[mainSlot] === 1;
    const position = leadsMain
      ? mainIndex === 0
        ? rng.pick(['总经理', 'CEO', '董事长'])
        : rng.pick(names.LEADER_POSITIONS)
      : rng.chance(0.96)
        ? rng.pick(names.POSITIONS)
        : '';
    const mobile = makeMobileFast(rng, mobiles);
    const gender = makeGender(rng);
    const er = rng.next();
    const email =
      er < 0.05
        ? ''
        : er < 0.13
          ? uniqueEmail(personalLocalPart(rng), rng.pick(names.PERSONAL_EMAIL_DOMAINS), emails)
          : uniqueEmail(corporateLocalPart(userid), company.domain, emails);
    const bizMail = rng.chance(0.25) ? uniqueEmail(corporateLocalPart(userid), bizDomain, bizMails) : '';
    const leaders = deptLeaders[mainIndex]!.filter((l) => l !== u);
    const directLeader = leaders.length > 0 && rng.chance(0.85) ? [userids[rng.pick(leaders)]!] : [];
    const status = statuses[u] as WecomUserStatus;
    const hasAvatar = status !== 4 && rng.chance(0.92);
    const avatarKey = hasAvatar ? rng.hex(32) : '';
    const telephone = rng.chance(0.2) ? makeTelephone(rng) : '';
    const address = rng.chance(0.15) ? makeAddress(rng) : '';
    const attrs: WecomExtAttr[] = [{ type: 0, name: '工号', text: { value: `HX${String(u + 1).padStart(6, '0')}` } }];
    if (rng.chance(0.45)) {
      attrs.push(
        rng.chance(0.5)
          ? {
              type: 1,
              name: '个人主页',
              web: {
                url: `https://wiki.${company.domain}/people/${encodeURIComponent(userid.toLowerCase())}`,
                title: '个人主页',
              },
            }
          : { type: 0, name: '办公地点', text: { value: rng.pick(names.ADDRESS_CITIES) } },
      );
    }
    users[u] = {
      userid,
      name: personNames[u]!,
      department,
      order,
      position,
      mobile,
      gender,
      email,
      biz_mail: bizMail,
      is_leader_in_dept: isLeader,
      direct_leader: directLeader,
      avatar: hasAvatar ? `https://wework.qpic.cn/wwpic/${avatarKey}/0` : '',
      thumb_avatar: hasAvatar ? `https://wework.qpic.cn/wwpic/${avatarKey}/100` : '',
      telephone,
      alias: aliases[u]!,
      address,
      main_department: ids[mainIndex]!,
      extattr: { attrs },
      status,
      qr_code: `https://open.work.weixin.qq.com/wwopen/userQRCode?vcode=vc${rng.hex(16)}`,
      external_position: rng.chance(0.15) ? rng.pick(names.EXTERNAL_POSITIONS) : '',
    };
  }

  // --- departments, by id --------------------------------------------------------------------------------------
  const departments: WecomDepartment[] = drafts.map((d, i) => ({
    id: ids[i]!,
    name: d.name,
    name_en: d.nameEn,
    parentid: d.parent < 0 ? 0 : ids[d.parent]!,
    order: d.order,
    department_leader: deptLeaders[i]!.map((u) => userids[u]!),
  }));
  departments.sort((a, b) => a.id - b.id);
  return { departments, users };
}

// ---------------------------------------------------------------------------------------------------------------
// randomOperations
// ---------------------------------------------------------------------------------------------------------------

/** A set with O(1) add, remove and uniform random pick (swap-remove keeps it deterministic). */
class Pool<T> {
  private readonly items: T[] = [];
  private readonly pos = new Map<T, number>();
  get size(): number {
    return this.items.length;
  }
  add(x: T): void {
    if (this.pos.has(x)) return;
    this.pos.set(x, this.items.length);
    this.items.push(x);
  }
  remove(x: T): void {
    const i = this.pos.get(x);
    if (i === undefined) return;
    const last = this.items.pop() as T;
    this.pos.delete(x);
    if (i < this.items.length) {
      this.items[i] = last;
      this.pos.set(last, i);
    }
  }
  pick(rng: Random): T | undefined {
    return this.items.length === 0 ? undefined : this.items[rng.int(0, this.items.length - 1)];
  }
}

interface DeptState {
  id: number;
  name: string;
  parentid: number;
  children: Set<number>;
  childNames: Set<string>;
  members: Set<string>;
}

interface UserState {
  userid: string;
  name: string;
  department: number[];
  order: number[];
  is_leader_in_dept: number[];
  main_department: number;
  position: string;
  mobileKey: string;
  emailKey: string;
  alias: string;
}

type OpKind =
  | 'createUser'
  | 'deleteUser'
  | 'renameUser'
  | 'changePosition'
  | 'moveUser'
  | 'updateUserContact'
  | 'createDepartment'
  | 'renameDepartment'
  | 'moveDepartment'
  | 'reorderDepartment'
  | 'deleteDepartment';

const OP_WEIGHTS: readonly (readonly [OpKind, number])[] = [
  ['createUser', 18],
  ['deleteUser', 12],
  ['renameUser', 5],
  ['changePosition', 10],
  ['moveUser', 14],
  ['updateUserContact', 6],
  ['createDepartment', 9],
  ['renameDepartment', 6],
  ['moveDepartment', 6],
  ['reorderDepartment', 3],
  ['deleteDepartment', 11],
];

/** Kinds every list long enough contains at least once. */
const REQUIRED_KINDS: readonly OpKind[] = [
  'createUser',
  'deleteUser',
  'renameUser',
  'changePosition',
  'moveUser',
  'createDepartment',
  'renameDepartment',
  'moveDepartment',
  'deleteDepartment',
];

function classify(op: SimOperation): OpKind {
  switch (op.op) {
    case 'createUser':
      return 'createUser';
    case 'deleteUser':
      return 'deleteUser';
    case 'createDepartment':
      return 'createDepartment';
    case 'deleteDepartment':
      return 'deleteDepartment';
    case 'updateDepartment':
      return op.department.parentid !== undefined
        ? 'moveDepartment'
        : op.department.name !== undefined
          ? 'renameDepartment'
          : 'reorderDepartment';
    case 'updateUser':
      return op.user.department !== undefined
        ? 'moveUser'
        : op.user.name !== undefined
          ? 'renameUser'
          : op.user.position !== undefined
            ? 'changePosition'
            : 'updateUserContact';
  }
}

class OrgState {
  readonly depts = new Map<number, DeptState>();
  readonly users = new Map<string, UserState>();
  readonly deptPool = new Pool<number>(); // every department but the root(s)
  readonly userPool = new Pool<string>();
  readonly roots: number[] = [];
  readonly mobiles = new Set<string>();
  readonly emails = new Set<string>();
  readonly userKeys = new Set<string>();
  readonly allocator: UserIdAllocator;
  readonly domain: string;
  maxId = 0;

  constructor(org: SimOrg) {
    for (const d of org.departments) {
      this.depts.set(d.id, {
        id: d.id,
        name: d.name,
        parentid: d.parentid,
        children: new Set(),
        childNames: new Set(),
        members: new Set(),
      });
      if (d.id > this.maxId) this.maxId = d.id;
    }
    for (const d of org.departments) {
      const parent = this.depts.get(d.parentid);
      if (parent) {
        parent.children.add(d.id);
        parent.childNames.add(d.name);
        this.deptPool.add(d.id);
      } else {
        this.roots.push(d.id);
      }
    }
    if (this.roots.length === 0) throw new Error('randomOperations: the org has no root department');
    const domainCounts = new Map<string, number>();
    for (const u of org.users) {
      const key = userIdKey(u.userid);
      const state: UserState = {
        userid: u.userid,
        name: u.name,
        department: [...u.department],
        order: u.department.map((_, i) => u.order[i] ?? 0),
        is_leader_in_dept: u.department.map((_, i) => u.is_leader_in_dept[i] ?? 0),
        main_department: u.main_department,
        position: u.position,
        mobileKey: u.mobile ? mobileKey(u.mobile) : '',
        emailKey: u.email ? emailKey(u.email) : '',
        alias: u.alias,
      };
      this.users.set(key, state);
      this.userPool.add(key);
      this.userKeys.add(key);
      if (state.mobileKey) this.mobiles.add(state.mobileKey);
      if (state.emailKey) this.emails.add(state.emailKey);
      if (u.biz_mail) this.emails.add(emailKey(u.biz_mail));
      for (const d of u.department) this.depts.get(d)?.members.add(key);
      const domain = u.email.split('@')[1]?.trim().toLowerCase();
      if (domain) domainCounts.set(domain, (domainCounts.get(domain) ?? 0) + 1);
    }
    let best = 'example.com';
    let bestCount = 0;
    for (const [domain, c] of domainCounts) {
      if (c > bestCount) {
        best = domain;
        bestCount = c;
      }
    }
    this.domain = best;
    this.allocator = new UserIdAllocator(this.userKeys);
  }

  /** Levels from the top (a root is level 1). */
  depth(id: number): number {
    let level = 0;
    for (let d = this.depts.get(id); d; d = this.depts.get(d.parentid)) level++;
    return level;
  }

  /** Levels in the subtree rooted at id (1 for a leaf). */
  height(id: number): number {
    let level = 0;
    let frontier = [id];
    while (frontier.length > 0) {
      level++;
      const next: number[] = [];
      for (const d of frontier) for (const c of this.depts.get(d)!.children) next.push(c);
      frontier = next;
    }
    return level;
  }

  /** True when `ancestor` is `id` or above it. */
  isAncestorOrSelf(ancestor: number, id: number): boolean {
    for (let d = this.depts.get(id); d; d = this.depts.get(d.parentid)) if (d.id === ancestor) return true;
    return false;
  }

  /** Any department, roots included (rarely). */
  pickDepartment(rng: Random): number {
    if (this.deptPool.size === 0 || rng.chance(0.02)) return rng.pick(this.roots);
    return this.deptPool.pick(rng)!;
  }

  setMemberships(key: string, user: UserState, department: number[]): void {
    for (const d of user.department) this.depts.get(d)?.members.delete(key);
    for (const d of department) this.depts.get(d)?.members.add(key);
  }
}

class OperationGenerator {
  constructor(
    private readonly s: OrgState,
    private readonly rng: Random,
  ) {}

  produce(kind: OpKind, budget: number): SimOperation[] | null {
    switch (kind) {
      case 'createUser':
        return [this.createUser()];
      case 'deleteUser':
        return this.one(this.deleteUser());
      case 'renameUser':
        return this.one(this.renameUser());
      case 'changePosition':
        return this.one(this.changePosition());
      case 'moveUser':
        return this.one(this.moveUser());
      case 'updateUserContact':
        return this.one(this.updateUserContact());
      case 'createDepartment':
        return this.one(this.createDepartment());
      case 'renameDepartment':
        return this.one(this.renameDepartment());
      case 'moveDepartment':
        return this.one(this.moveDepartment());
      case 'reorderDepartment':
        return this.one(this.reorderDepartment());
      case 'deleteDepartment':
        return this.deleteDepartment(budget);
    }
  }

  private one(op: SimOperation | null): SimOperation[] | null {
    return op ? [op] : null;
  }

  private pickUser(): [string, UserState] | null {
    const key = this.s.userPool.pick(this.rng);
    if (key === undefined) return null;
    return [key, this.s.users.get(key)!];
  }

  createUser(): SimOperation {
    const { s, rng } = this;
    const person = makePersonName(rng);
    const userid = s.allocator.allocate(userIdBase(rng, person));
    const key = userIdKey(userid);
    const mobile = makeMobile(rng, s.mobiles);
    const email = uniqueEmail(corporateLocalPart(userid), s.domain, s.emails);
    const department = [s.pickDepartment(rng)];
    if (rng.chance(0.2)) {
      const second = s.pickDepartment(rng);
      if (!department.includes(second)) department.push(second);
    }
    const isLeader = department.map(() => (rng.chance(0.05) ? 1 : 0));
    const order = isLeader.map((l) => (l === 1 ? rng.int(100, 999) : 0));
    const position = rng.pick(names.POSITIONS);
    const alias = rng.chance(0.2) ? makeAlias(rng, person) : '';
    const user: UserState = {
      userid,
      name: person.name,
      department,
      order,
      is_leader_in_dept: isLeader,
      main_department: department[0]!,
      position,
      mobileKey: mobileKey(mobile),
      emailKey: emailKey(email),
      alias,
    };
    s.users.set(key, user);
    s.userPool.add(key);
    for (const d of department) s.depts.get(d)!.members.add(key);
    return {
      op: 'createUser',
      user: {
        userid,
        name: person.name,
        department: [...department],
        order: [...order],
        is_leader_in_dept: [...isLeader],
        main_department: department[0]!,
        position,
        mobile,
        gender: makeGender(rng),
        email,
        ...(alias ? { alias } : {}),
      },
    };
  }

  deleteUser(): SimOperation | null {
    const picked = this.pickUser();
    if (!picked) return null;
    const [key, user] = picked;
    this.removeUser(key, user);
    return { op: 'deleteUser', userid: user.userid };
  }

  private removeUser(key: string, user: UserState): void {
    const { s } = this;
    s.setMemberships(key, user, []);
    s.users.delete(key);
    s.userPool.remove(key);
    s.userKeys.delete(key);
    if (user.mobileKey) s.mobiles.delete(user.mobileKey);
    if (user.emailKey) s.emails.delete(user.emailKey);
  }

  renameUser(): SimOperation | null {
    const picked = this.pickUser();
    if (!picked) return null;
    const [, user] = picked;
    let name = makePersonName(this.rng).name;
    if (name === user.name) name = `${name}${this.rng.pick(names.GIVEN_CHARS)[0]}`;
    user.name = name;
    return { op: 'updateUser', user: { userid: user.userid, name } };
  }

  changePosition(): SimOperation | null {
    const picked = this.pickUser();
    if (!picked) return null;
    const [, user] = picked;
    let position = this.rng.pick(this.rng.chance(0.15) ? names.LEADER_POSITIONS : names.POSITIONS);
    if (position === user.position) position = `高级${position}`;
    user.position = position;
    return { op: 'updateUser', user: { userid: user.userid, position } };
  }

  moveUser(): SimOperation | null {
    const { s, rng } = this;
    const picked = this.pickUser();
    if (!picked) return null;
    const [key, user] = picked;
    const department = [...user.department];
    const order = [...user.order];
    const isLeader = [...user.is_leader_in_dept];
    let main = user.main_department;
    const fresh = (): number | null => {
      for (let tries = 0; tries < 10; tries++) {
        const d = s.pickDepartment(rng);
        if (!department.includes(d)) return d;
      }
      return null;
    };
    const r = rng.next();
    if (r < 0.55 || department.length === 0) {
      // Transfer: the main department is replaced by another one.
      const target = fresh();
      if (target === null) return null;
      const slot = Math.max(0, department.indexOf(main));
      if (department.length === 0) {
        department.push(target);
        order.push(0);
        isLeader.push(0);
      } else {
        department[slot] = target;
        order[slot] = 0;
        isLeader[slot] = rng.chance(0.08) ? 1 : 0;
      }
      main = target;
    } else if (r < 0.75 && department.length < Math.min(3, MAX_DEPARTMENTS_PER_USER)) {
      const target = fresh();
      if (target === null) return null;
      department.push(target);
      order.push(rng.chance(0.7) ? 0 : rng.int(1, 99));
      isLeader.push(0);
    } else if (r < 0.9 && department.length >= 2) {
      const slot = rng.int(0, department.length - 1);
      department.splice(slot, 1);
      order.splice(slot, 1);
      isLeader.splice(slot, 1);
      if (!department.includes(main)) main = department[0]!;
    } else {
      // Promotion or step-down within the current departments.
      const slot = rng.int(0, department.length - 1);
      isLeader[slot] = isLeader[slot] === 1 ? 0 : 1;
      order[slot] = isLeader[slot] === 1 ? rng.int(100, 999) : 0;
    }
    if (!department.includes(main)) main = department[0]!;
    s.setMemberships(key, user, department);
    user.department = department;
    user.order = order;
    user.is_leader_in_dept = isLeader;
    user.main_department = main;
    return {
      op: 'updateUser',
      user: {
        userid: user.userid,
        department: [...department],
        order: [...order],
        is_leader_in_dept: [...isLeader],
        main_department: main,
      },
    };
  }

  updateUserContact(): SimOperation | null {
    const { s, rng } = this;
    const picked = this.pickUser();
    if (!picked) return null;
    const [, user] = picked;
    const r = rng.next();
    if (r < 0.3) {
      const mobile = makeMobile(rng, s.mobiles);
      if (user.mobileKey) s.mobiles.delete(user.mobileKey);
      user.mobileKey = mobileKey(mobile);
      return { op: 'updateUser', user: { userid: user.userid, mobile } };
    }
    if (r < 0.55) {
      const email = uniqueEmail(corporateLocalPart(user.userid), s.domain, s.emails);
      if (user.emailKey) s.emails.delete(user.emailKey);
      user.emailKey = emailKey(email);
      return { op: 'updateUser', user: { userid: user.userid, email } };
    }
    if (r < 0.8) {
      const alias = rng.pick(names.ENGLISH_ALIASES);
      user.alias = alias;
      return { op: 'updateUser', user: { userid: user.userid, alias } };
    }
    return { op: 'updateUser', user: { userid: user.userid, telephone: makeTelephone(rng) } };
  }

  createDepartment(): SimOperation | null {
    const { s, rng } = this;
    if (s.depts.size >= MAX_DEPARTMENTS) return null;
    for (let tries = 0; tries < 10; tries++) {
      const parentId = s.pickDepartment(rng);
      const level = s.depth(parentId) + 1;
      if (level > MAX_DEPTH) continue;
      const id = s.maxId + rng.int(1, 3);
      if (id > INT32_MAX) return null;
      const parent = s.depts.get(parentId)!;
      const [name] = uniqueDepartmentName(rng, level, parent.childNames);
      const order = siblingOrder(rng, parent.children.size, undefined);
      s.maxId = id;
      s.depts.set(id, { id, name, parentid: parentId, children: new Set(), childNames: new Set(), members: new Set() });
      parent.children.add(id);
      parent.childNames.add(name);
      s.deptPool.add(id);
      return { op: 'createDepartment', department: { id, name, parentid: parentId, order } };
    }
    return null;
  }

  renameDepartment(): SimOperation | null {
    const { s, rng } = this;
    const id = s.deptPool.pick(rng);
    if (id === undefined) return null;
    const dept = s.depts.get(id)!;
    const parent = s.depts.get(dept.parentid)!;
    const [name] = uniqueDepartmentName(rng, s.depth(id), parent.childNames);
    parent.childNames.delete(dept.name);
    parent.childNames.add(name);
    dept.name = name;
    return { op: 'updateDepartment', department: { id, name } };
  }

  moveDepartment(): SimOperation | null {
    const { s, rng } = this;
    for (let tries = 0; tries < 20; tries++) {
      const id = s.deptPool.pick(rng);
      if (id === undefined) return null;
      const dept = s.depts.get(id)!;
      const target = s.pickDepartment(rng);
      if (target === dept.parentid || s.isAncestorOrSelf(id, target)) continue;
      const newParent = s.depts.get(target)!;
      if (newParent.childNames.has(dept.name)) continue;
      if (s.depth(target) + s.height(id) > MAX_DEPTH) continue;
      const oldParent = s.depts.get(dept.parentid)!;
      oldParent.children.delete(id);
      oldParent.childNames.delete(dept.name);
      newParent.children.add(id);
      newParent.childNames.add(dept.name);
      dept.parentid = target;
      return { op: 'updateDepartment', department: { id, parentid: target } };
    }
    return null;
  }

  reorderDepartment(): SimOperation | null {
    const id = this.s.deptPool.pick(this.rng);
    if (id === undefined) return null;
    return { op: 'updateDepartment', department: { id, order: this.rng.int(0, ORDER_BASE) } };
  }

  /**
   * Deletes a leaf department; when it still has a few members, first moves them out (to the parent, or just out
   * of it when they have other departments) or lets them go, within `budget` operations in total.
   */
  deleteDepartment(budget: number): SimOperation[] | null {
    const { s, rng } = this;
    let fallback: DeptState | null = null;
    for (let tries = 0; tries < 40; tries++) {
      const id = s.deptPool.pick(rng);
      if (id === undefined) return null;
      const dept = s.depts.get(id)!;
      if (dept.children.size > 0) continue;
      if (dept.members.size === 0) return [this.removeDepartment(dept)];
      if (
        dept.members.size + 1 <= Math.min(budget, 5) &&
        (fallback === null || dept.members.size < fallback.members.size)
      ) {
        fallback = dept;
      }
    }
    if (!fallback) return null;
    const dept = fallback;
    const ops: SimOperation[] = [];
    for (const key of [...dept.members]) {
      const user = s.users.get(key)!;
      const slot = user.department.indexOf(dept.id);
      if (user.department.length > 1) {
        ops.push(this.replaceDepartment(key, user, slot, null));
      } else if (rng.chance(0.7)) {
        ops.push(this.replaceDepartment(key, user, slot, dept.parentid));
      } else {
        this.removeUser(key, user);
        ops.push({ op: 'deleteUser', userid: user.userid });
      }
    }
    ops.push(this.removeDepartment(dept));
    return ops;
  }

  /** Takes the user out of the department at `slot`, into `target` (or nowhere when null). */
  private replaceDepartment(key: string, user: UserState, slot: number, target: number | null): SimOperation {
    const department = [...user.department];
    const order = [...user.order];
    const isLeader = [...user.is_leader_in_dept];
    const leaving = department[slot]!;
    if (target === null || department.includes(target)) {
      department.splice(slot, 1);
      order.splice(slot, 1);
      isLeader.splice(slot, 1);
    } else {
      department[slot] = target;
      order[slot] = 0;
      isLeader[slot] = 0;
    }
    let main = user.main_department;
    if (main === leaving || !department.includes(main))
      main = target !== null && department.includes(target) ? target : department[0]!;
    this.s.setMemberships(key, user, department);
    user.department = department;
    user.order = order;
    user.is_leader_in_dept = isLeader;
    user.main_department = main;
    return {
      op: 'updateUser',
      user: {
        userid: user.userid,
        department: [...department],
        order: [...order],
        is_leader_in_dept: [...isLeader],
        main_department: main,
      },
    };
  }

  private removeDepartment(dept: DeptState): SimOperation {
    const { s } = this;
    const parent = s.depts.get(dept.parentid)!;
    parent.children.delete(dept.id);
    parent.childNames.delete(dept.name);
    s.depts.delete(dept.id);
    s.deptPool.remove(dept.id);
    return { op: 'deleteDepartment', id: dept.id };
  }
}

/**
 * `count` changes to `org` (taken as the current state, and not modified), valid when applied in order under
 * WeCom's rules: parents exist, sibling names stay unique, depth stays ≤ 15, only empty leaf departments are deleted
 * (their members are moved out or let go first), userids (ignoring case), mobiles and emails stay unique. Roots are
 * only ever used as parents. Deterministic in (org, count, seed).
 */
export function randomOperations(org: SimOrg, options: RandomOperationsOptions): SimOperation[] {
  const { count, seed } = options;
  if (!Number.isSafeInteger(count) || count < 0)
    throw new Error(`randomOperations: count must be an integer ≥ 0, got ${String(count)}`);
  if (typeof seed !== 'number' || !Number.isFinite(seed))
    throw new Error(`randomOperations: seed must be a finite number, got ${String(seed)}`);
  const rng = new Random(seed);
  const state = new OrgState(org);
  const gen = new OperationGenerator(state, rng);
  const cumulative: number[] = [];
  let sum = 0;
  for (const [, w] of OP_WEIGHTS) cumulative.push((sum += w));

  const ops: SimOperation[] = [];
  const seen = new Set<OpKind>();
  const infeasible = new Set<OpKind>();
  while (ops.length < count) {
    const remaining = count - ops.length;
    const missing = REQUIRED_KINDS.filter((k) => !seen.has(k) && !infeasible.has(k));
    const forced = missing.length > 0 && missing.length >= remaining;
    let produced: SimOperation[] | null = null;
    if (forced) {
      const kind = missing[0]!;
      produced = gen.produce(kind, remaining - (missing.length - 1));
      if (!produced) infeasible.add(kind);
    } else {
      for (let attempt = 0; attempt < 3 && !produced; attempt++) {
        const kind = OP_WEIGHTS[rng.weightedIndex(cumulative)]![0];
        const reserve = missing.filter((k) => k !== kind).length;
        produced = gen.produce(kind, Math.max(1, remaining - reserve));
      }
    }
    produced ??= gen.produce('createUser', 1)!;
    for (const op of produced) {
      ops.push(op);
      seen.add(classify(op));
    }
  }
  return ops;
}
