import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

/** One import of a module by another: `from` imports `to`; `typeOnly` when nothing of it remains at run time. */
export interface ImportEdge {
  from: string;
  to: string;
  typeOnly: boolean;
  /** The statement's line, 1-based. */
  line: number;
}

/** Every `.ts` file under `dir`, as paths relative to `root` with `/` separators, sorted. */
export function sourceFiles(root: string, dir: string): string[] {
  const out: string[] = [];
  const walk = (abs: string): void => {
    for (const name of readdirSync(abs)) {
      const full = path.join(abs, name);
      if (statSync(full).isDirectory()) walk(full);
      else if (/\.tsx?$/.test(name) && !name.endsWith('.d.ts'))
        out.push(path.relative(root, full).split(path.sep).join('/'));
    }
  };
  walk(path.join(root, dir));
  return out.sort();
}

/**
 * The module specifiers a file names, with whether each is type-only: `import`, `import type`, `export … from`,
 * `import('…')` calls and `import('…').T` types. Parsed with the TypeScript compiler, so strings and comments that
 * look like imports are not taken for them.
 */
export function importsOf(
  fileName: string,
  text: string,
): Array<{ specifier: string; typeOnly: boolean; line: number }> {
  const source = ts.createSourceFile(
    fileName,
    text,
    ts.ScriptTarget.Latest,
    true,
    fileName.endsWith('.tsx') ? ts.ScriptKind.TSX : ts.ScriptKind.TS,
  );
  const found: Array<{ specifier: string; typeOnly: boolean; line: number }> = [];
  const add = (node: ts.Node, specifier: ts.Expression | undefined, typeOnly: boolean): void => {
    if (specifier && ts.isStringLiteralLike(specifier)) {
      found.push({
        specifier: specifier.text,
        typeOnly,
        line: source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1,
      });
    }
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node)) {
      // Only `import type` is erased: under verbatimModuleSyntax `import { type A } from` stays as `import {} from`.
      add(node, node.moduleSpecifier, node.importClause?.isTypeOnly === true);
    } else if (ts.isExportDeclaration(node)) {
      add(node, node.moduleSpecifier, node.isTypeOnly);
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      add(node, node.moduleReference.expression, node.isTypeOnly);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      add(node, node.arguments[0], false);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
      add(node, node.argument.literal, true);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/**
 * The file a relative specifier names (`./x.js` is `./x.ts` in the sources), relative to `root`; undefined for a
 * package or a built-in. Throws for a relative specifier that names no file, so an import the graph cannot follow
 * is never silently left out of it.
 */
export function resolveSpecifier(root: string, from: string, specifier: string): string | undefined {
  if (!specifier.startsWith('.')) return undefined;
  const base = path.resolve(root, path.dirname(from), specifier);
  const stem = base.replace(/\.(js|jsx|ts|tsx|mjs)$/, '');
  const candidates = [`${stem}.ts`, `${stem}.tsx`, base, path.join(base, 'index.ts'), path.join(base, 'index.tsx')];
  const hit = candidates.find((c) => /\.tsx?$/.test(c) && existsSync(c) && statSync(c).isFile());
  if (hit === undefined) throw new Error(`${from}: cannot resolve "${specifier}"`);
  return path.relative(root, hit).split(path.sep).join('/');
}

/** The edges between the given files (imports of files outside them are left out). */
export function importGraph(root: string, files: readonly string[]): ImportEdge[] {
  const known = new Set(files);
  const edges: ImportEdge[] = [];
  for (const file of files) {
    const text = readFileSync(path.join(root, file), 'utf8');
    for (const { specifier, typeOnly, line } of importsOf(file, text)) {
      const to = resolveSpecifier(root, file, specifier);
      if (to !== undefined && known.has(to)) edges.push({ from: file, to, typeOnly, line });
    }
  }
  return edges;
}

/**
 * The import cycles of a graph, found per strongly connected component (Tarjan): for each file of a component the
 * shortest chain from it back to itself, each step with the edge that makes it, every cycle once. Files tied
 * together by longer cycles only show the shorter ones; fixing those brings the rest out.
 */
export function findCycles(edges: readonly ImportEdge[]): ImportEdge[][] {
  const out = new Map<string, ImportEdge[]>();
  for (const e of edges) {
    const list = out.get(e.from);
    if (list) list.push(e);
    else out.set(e.from, [e]);
  }
  const nodes = [...new Set(edges.flatMap((e) => [e.from, e.to]))].sort();
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const components: string[][] = [];
  let next = 0;
  // Iterative, so a long chain of imports cannot overflow the call stack.
  for (const start of nodes) {
    if (index.has(start)) continue;
    const work: Array<{ node: string; edge: number }> = [{ node: start, edge: 0 }];
    index.set(start, next);
    low.set(start, next++);
    stack.push(start);
    onStack.add(start);
    while (work.length > 0) {
      const frame = work[work.length - 1] as { node: string; edge: number };
      const outs = out.get(frame.node) ?? [];
      if (frame.edge < outs.length) {
        const to = (outs[frame.edge++] as ImportEdge).to;
        if (!index.has(to)) {
          index.set(to, next);
          low.set(to, next++);
          stack.push(to);
          onStack.add(to);
          work.push({ node: to, edge: 0 });
        } else if (onStack.has(to)) {
          low.set(frame.node, Math.min(low.get(frame.node) as number, index.get(to) as number));
        }
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent) low.set(parent.node, Math.min(low.get(parent.node) as number, low.get(frame.node) as number));
      if (low.get(frame.node) === index.get(frame.node)) {
        const component: string[] = [];
        let member: string;
        do {
          member = stack.pop() as string;
          onStack.delete(member);
          component.push(member);
        } while (member !== frame.node);
        const selfLoop = (out.get(frame.node) ?? []).some((e) => e.to === frame.node);
        if (component.length > 1 || selfLoop) components.push(component.sort());
      }
    }
  }
  const cycles: ImportEdge[][] = [];
  for (const component of components) {
    const seen = new Set<string>();
    for (const file of component) {
      const chain = shortestCycle(file, new Set(component), out);
      // The same cycle found from another of its files: keyed by its edges from the smallest file on.
      const keys = chain.map((e) => `${e.from}:${e.line}`);
      const at = keys.indexOf([...keys].sort()[0] as string);
      const key = [...keys.slice(at), ...keys.slice(0, at)].join(' ');
      if (seen.has(key)) continue;
      seen.add(key);
      cycles.push([...chain.slice(at), ...chain.slice(0, at)]);
    }
  }
  return cycles;
}

function shortestCycle(
  first: string,
  inside: ReadonlySet<string>,
  out: ReadonlyMap<string, readonly ImportEdge[]>,
): ImportEdge[] {
  const via = new Map<string, ImportEdge>();
  const queue: string[] = [first];
  for (let i = 0; i < queue.length; i++) {
    const node = queue[i] as string;
    for (const e of out.get(node) ?? []) {
      if (!inside.has(e.to)) continue;
      if (e.to === first) {
        const chain: ImportEdge[] = [e];
        for (let at = node; at !== first; ) {
          const step = via.get(at) as ImportEdge;
          chain.unshift(step);
          at = step.from;
        }
        return chain;
      }
      if (!via.has(e.to)) {
        via.set(e.to, e);
        queue.push(e.to);
      }
    }
  }
  throw new Error(`no cycle through ${first}`);
}

/** A cycle as people read it: `a.ts:3 → b.ts:7 (type) → a.ts`. */
export function describeChain(chain: readonly ImportEdge[]): string {
  const steps = chain.map((e) => `${e.from}:${e.line}${e.typeOnly ? ' (type)' : ''}`);
  return `${steps.join(' → ')} → ${(chain[0] as ImportEdge).from}`;
}
