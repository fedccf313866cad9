import { OrgsyncError } from '../errors.js';

/** The policy cannot be applied to this directory (e.g. its mount department does not exist). */
export class PolicyError extends OrgsyncError {
  constructor(message: string, hint: string) {
    super({ code: 'POLICY_INVALID', message, hint });
    this.name = 'PolicyError';
  }
}

/** A stored plan was made from an older directory revision: applying it now could undo newer changes. */
export class PlanStaleError extends OrgsyncError {
  constructor(planRevision: number, currentRevision: number) {
    super({
      code: 'PLAN_STALE',
      message: `the plan was made from directory revision ${planRevision}, but the directory is now at revision ${currentRevision}`,
      hint: 'The directory changed since this plan was made. Run the import or sync again and approve the new run.',
    });
    this.name = 'PlanStaleError';
  }
}
