import { Cron } from 'croner';
import { DEFAULT_RECONCILE_CRON } from '../store/store.js';

export { DEFAULT_RECONCILE_CRON };

/**
 * The scheduled full sync of a connection (issue 7): a cron expression, read by croner. A callback lost on the way
 * (or a change WeCom sends no event for) is caught by the next scheduled sync, so by default at most a day late.
 */

/** What turns the schedule off (stored as null). */
export const RECONCILE_OFF = 'off';

/** Five fields (minute hour day month weekday), or six with seconds first; croner's nicknames (@daily, @hourly…) too. */
export const CRON_MODE = '5-or-6-parts' as const;

export const RECONCILE_CRON_RULE = `must be a cron expression of 5 fields (minute hour day-of-month month day-of-week), or 6 with seconds first, e.g. "${DEFAULT_RECONCILE_CRON}" (daily at 02:00), or "${RECONCILE_OFF}"`;

export const RECONCILE_CRON_HINT = `Give e.g. "${DEFAULT_RECONCILE_CRON}" for daily at 02:00, "30 1 * * 1-5" for 01:30 on weekdays, or "${RECONCILE_OFF}" to turn the scheduled full sync off. Times are in the server's time zone (ORGSYNC_TZ).`;

export type ReconcileCronResult = { ok: true; value: string | null } | { ok: false; message: string };

/**
 * A schedule as given (string, or null for off) to its stored form: the expression with single spaces, or null.
 * The expression must parse and fire at least once from now on (`0 0 30 2 *` never does).
 */
export function parseReconcileCron(input: unknown): ReconcileCronResult {
  if (input === null) return { ok: true, value: null };
  if (typeof input !== 'string') return { ok: false, message: `${RECONCILE_CRON_RULE}, not ${typeof input}` };
  const text = input.trim().replace(/\s+/g, ' ');
  if (text.toLowerCase() === RECONCILE_OFF) return { ok: true, value: null };
  if (text === '') return { ok: false, message: `is empty: it ${RECONCILE_CRON_RULE}` };
  const fields = text.split(' ').length;
  if (!text.startsWith('@') && fields !== 5 && fields !== 6) {
    return { ok: false, message: `"${text}" has ${fields} field${fields === 1 ? '' : 's'}: it ${RECONCILE_CRON_RULE}` };
  }
  let job: Cron;
  try {
    job = new Cron(text, { mode: CRON_MODE });
  } catch (err) {
    const reason = (err instanceof Error ? err.message : String(err)).replace(/^CronPattern:\s*/, '');
    return { ok: false, message: `"${text}" is not valid (${reason}): it ${RECONCILE_CRON_RULE}` };
  }
  if (job.nextRun() === null) return { ok: false, message: `"${text}" never fires: it ${RECONCILE_CRON_RULE}` };
  return { ok: true, value: text };
}

/** Whether an IANA time zone name is known to this runtime (croner computes with Intl). */
export function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

/** When the schedule fires next after `from`, in the given time zone; null when it is off or never fires. */
export function nextReconcileAt(cron: string | null, timezone: string, from: Date = new Date()): Date | null {
  if (cron === null) return null;
  try {
    return new Cron(cron, { mode: CRON_MODE, timezone }).nextRun(from);
  } catch {
    return null;
  }
}
