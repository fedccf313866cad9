import type { ErrorInfo } from '../errors.js';
import type { ChangeCounts } from '../reconcile/types.js';
import type { RunProgress, RunReport } from '../runs/run-service.js';
import type { RunChangeRecord } from '../runs/types.js';

export interface Output {
  out(text: string): void;
  err(text: string): void;
  /** Only on a terminal: a one-line progress bar redrawn in place on stderr. */
  progress?: ((p: RunProgress) => void) | undefined;
  endProgress?: () => void;
}

/**
 * Control characters: C0 (ESC starts an escape sequence, BEL rings, CR overwrites a line), DEL, C1 (U+009B is a
 * one-character CSI on many terminals) and the Unicode line and paragraph separators. Names, platform errors and
 * messages come from outside: printed raw they could repaint the terminal or forge lines of output.
 */
const CONTROLS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;
const CONTROLS_BUT_NEWLINE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029]/g;

/**
 * A control character as text: C0 as `\x1b`, the others as `\u009b`. The latter is also a JSON escape of the same
 * character, and C0 never occurs raw in JSON.stringify's output (it escapes them itself), so escaping a JSON
 * document leaves it valid JSON that parses to the same value.
 */
function escapeOne(c: string): string {
  const code = c.charCodeAt(0);
  return code < 0x20 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/** Every control character escaped but the line break: what reaches the terminal, whatever the command printed. */
export function terminalText(text: string): string {
  return text.replace(CONTROLS_BUT_NEWLINE, escapeOne);
}

/** A value from outside for one line of output (a table row, a tree line): line breaks and tabs escaped too. */
export function oneLine(value: string): string {
  return value.replace(CONTROLS, escapeOne);
}

/**
 * The program's output with every write escaped (`terminalText`): the one place text reaches stdout and stderr,
 * so no command can forget it.
 */
export function escapedOutput(io: Output): Output {
  return {
    out: (t) => io.out(terminalText(t)),
    err: (t) => io.err(terminalText(t)),
    ...(io.progress ? { progress: io.progress } : {}),
    ...(io.endProgress ? { endProgress: io.endProgress } : {}),
  };
}

export function terminalOutput(stdout: NodeJS.WriteStream, stderr: NodeJS.WriteStream): Output {
  const o: Output = {
    out: (t) => stdout.write(t.endsWith('\n') ? t : `${t}\n`),
    err: (t) => stderr.write(t.endsWith('\n') ? t : `${t}\n`),
  };
  if (stderr.isTTY) {
    let drawn = false;
    let last = 0;
    o.progress = (p) => {
      const now = Date.now();
      if (now - last < 80 && p.total !== undefined && p.done < p.total) return;
      last = now;
      const width = 30;
      const bar =
        p.total !== undefined && p.total > 0
          ? `[${'#'.repeat(Math.round((p.done / p.total) * width)).padEnd(width, '.')}] ${p.done}/${p.total}`
          : p.done > 0
            ? `${p.done}`
            : '';
      // The bar's own escape (erase the line) is written as it is; the phase and message are escaped.
      stderr.write(`\r\x1b[2K${oneLine(`${p.phase.padEnd(6)} ${bar} ${p.message ?? ''}`.trimEnd())}`);
      drawn = true;
    };
    o.endProgress = () => {
      if (drawn) stderr.write('\r\x1b[2K');
      drawn = false;
    };
  }
  return o;
}

const PAST: Record<string, string> = {
  create: 'created',
  update: 'updated',
  move: 'moved',
  delete: 'deleted',
  disable: 'disabled',
  enable: 'enabled',
};

function countsLine(c: ChangeCounts['departments'] | ChangeCounts['users']): string {
  return Object.entries(c)
    .map(([k, v]) => `${v} ${PAST[k] ?? k}`)
    .join(', ');
}

export function formatError(e: ErrorInfo, indent = ''): string {
  const lines = [`${indent}${e.code}${e.object ? ` ${oneLine(e.object)}` : ''}: ${oneLine(e.message)}`];
  if (e.hint) lines.push(`${indent}  hint: ${e.hint}`);
  return lines.join('\n');
}

export function formatReport(r: RunReport): string {
  const seconds =
    r.startedAt && r.finishedAt
      ? ` in ${((Date.parse(r.finishedAt) - Date.parse(r.startedAt)) / 1000).toFixed(1)} s`
      : '';
  const lines = [
    `Run ${r.runId} (${r.kind} from "${oneLine(r.source)}"${r.template && r.template !== 'full' ? `, template ${r.template}` : ''}${r.dryRun ? ', dry run' : ''}): ${r.status}${seconds}`,
  ];
  if (r.read) {
    lines.push(
      `  read:        ${r.read.departments} departments, ${r.read.users} users${r.read.complete && r.read.incompleteDepartments === 0 ? '' : ' (incomplete)'}`,
    );
  }
  if (r.enrichment) {
    const e = r.enrichment;
    lines.push(`  rows:        ${e.matched} matched (${e.enriched} enriched), ${e.unmatched} unmatched`);
    if (e.unmatchedAccounts.length > 0) {
      const more = e.unmatched > e.unmatchedAccounts.length ? ', …' : '';
      lines.push(`  unmatched:   ${e.unmatchedAccounts.map(oneLine).join(', ')}${more}`);
    }
  }
  const verb = r.status === 'planned' || r.status === 'blocked' ? 'planned' : 'changed';
  const total = [...Object.values(r.changes.departments), ...Object.values(r.changes.users)].reduce((a, b) => a + b, 0);
  if (r.status === 'failed' && total === 0) {
    lines.push('  Nothing was written to the directory.');
  } else {
    lines.push(`  departments: ${countsLine(r.changes.departments)} (${verb})`);
    lines.push(`  users:       ${countsLine(r.changes.users)} (${verb})`);
  }
  if (
    r.suppressed &&
    [...Object.values(r.suppressed.departments), ...Object.values(r.suppressed.users)].some((n) => n > 0)
  ) {
    lines.push(
      `  held back because the source was incomplete: departments ${countsLine(r.suppressed.departments)}; users ${countsLine(r.suppressed.users)}`,
    );
  }
  if (r.errors.length > 0) {
    lines.push(`  errors (${r.errors.length}):`);
    for (const e of r.errors.slice(0, 20)) lines.push(formatError(e, '    '));
    if (r.errors.length > 20) lines.push(`    … and ${r.errors.length - 20} more (see --json)`);
  }
  if (r.warnings.length > 0) {
    lines.push(`  warnings (${r.warnings.length}):`);
    for (const w of r.warnings.slice(0, 10)) {
      lines.push(formatError(w, '    '));
      if (w.rows !== undefined) lines.push(`      rows: ${w.rows}`);
      if (w.example) lines.push(`      e.g. "${oneLine(w.example.before)}" → "${oneLine(w.example.after)}"`);
    }
    if (r.warnings.length > 10) lines.push(`    … and ${r.warnings.length - 10} more (see --json)`);
  }
  if (r.notes.length > 0) {
    lines.push(`  notes (${r.notes.length}):`);
    for (const e of r.notes.slice(0, 10)) lines.push(formatError(e, '    '));
    if (r.notes.length > 10) lines.push(`    … and ${r.notes.length - 10} more (see --json)`);
  }
  if (r.status === 'blocked')
    lines.push(`  Review with \`orgsync runs show ${r.runId}\`; apply with \`orgsync runs approve ${r.runId}\`.`);
  if (r.status === 'planned')
    lines.push(`  Nothing was written. Apply exactly this plan with \`orgsync runs approve ${r.runId}\`.`);
  return lines.join('\n');
}

export function formatSteps(r: RunReport): string {
  return r.steps
    .map(
      (s) =>
        `  ${String(s.seq).padStart(2)}. ${s.name.padEnd(8)} ${s.status.padEnd(7)} ${String(s.durationMs).padStart(7)} ms  ${JSON.stringify(s.detail)}`,
    )
    .join('\n');
}

export function formatChange(c: RunChangeRecord): string {
  const head = `  ${c.action.padEnd(7)} ${c.objectKind} ${c.objectId ?? '(new)'} "${oneLine(c.label)}" [${oneLine(c.externalId)}]`;
  const fields = Object.entries(c.fields).map(
    ([f, d]) => `      ${oneLine(f)}: ${JSON.stringify(d.before)} → ${JSON.stringify(d.after)}`,
  );
  return [head, ...fields].join('\n');
}
