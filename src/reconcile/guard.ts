import type { ErrorInfo } from '../errors.js';
import type { Policy } from './policy.js';
import type { DepartmentChange, Plan, UserChange } from './types.js';

export interface GuardResult {
  /** The plan without the changes the guard held back. */
  plan: Plan;
  /** Deletions and disables inside a subtree the source could not read in full: never applied. */
  suppressed: { departments: DepartmentChange[]; users: UserChange[] };
  /** Set when the plan disables or deletes too many users: the run stops for approval. */
  blocked: (ErrorInfo & { count: number; base: number }) | null;
}

/**
 * guard(plan, policy): an incomplete source deletes and disables nothing it could not see, and a plan that would
 * remove too many users at once waits for a person to approve it.
 */
export function guard(plan: Plan, policy: Policy): GuardResult {
  const suppressed: GuardResult['suppressed'] = { departments: [], users: [] };
  const departments = plan.departments.filter((c) => {
    if (c.action === 'delete' && c.incompleteScope) {
      suppressed.departments.push(c);
      return false;
    }
    return true;
  });
  const users = plan.users.filter((c) => {
    if ((c.action === 'delete' || c.action === 'disable') && c.gone && c.incompleteScope) {
      suppressed.users.push(c);
      return false;
    }
    return true;
  });

  const removals = users.filter((c) => c.action === 'delete' || c.action === 'disable').length;
  const base = Math.max(plan.activeLinkedUsers, 1);
  const { maxUsers, maxRatio } = policy.guard;
  const blocked =
    removals > maxUsers && removals / base > maxRatio
      ? {
          code: 'GUARD_BLOCKED',
          message: `the plan disables or deletes ${removals} of ${plan.activeLinkedUsers} active users of source "${plan.source}" (${((removals / base) * 100).toFixed(1)}%), more than the limit of ${maxUsers} users and ${(maxRatio * 100).toFixed(0)}%`,
          hint: "Check the run's changes; if they are right, approve the run (`orgsync runs approve RUN_ID`). If not, fix the source and run again.",
          count: removals,
          base: plan.activeLinkedUsers,
          zh: {
            message: `计划停用或删除来源「${plan.source}」${plan.activeLinkedUsers} 名在职成员中的 ${removals} 名（${((removals / base) * 100).toFixed(1)}%），超过上限 ${maxUsers} 人且超过 ${(maxRatio * 100).toFixed(0)}%`,
            hint: '请检查本次运行的变更；若无误，批准该运行（`orgsync runs approve RUN_ID` 或运行日志中的「批准」）。若有误，修正来源后重新运行。',
          },
        }
      : null;

  return { plan: { ...plan, departments, users }, suppressed, blocked };
}
