import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';
import { describeChain, findCycles, importGraph, importsOf, sourceFiles, type ImportEdge } from './import-graph.js';

/**
 * The layers of src/ point one way. Type-only imports count as edges too: `import type` leaves nothing at run time,
 * but a type cycle ties the modules together just the same (neither can be read, moved or split without the other),
 * and a runtime cycle usually starts as one.
 */

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const files = sourceFiles(ROOT, 'src');
const edges = importGraph(ROOT, files);

/** What a folder of src/ may import from, besides itself and packages: everything below it. */
const BELOW: Record<string, readonly string[]> = {
  // The directory model is the bottom layer: the local model, the platforms' limits, snapshots.
  'src/directory/': ['src/errors.ts'],
  // The store sees the model it stores and the error type; its ports declare their own row types.
  'src/store/': ['src/directory/', 'src/errors.ts'],
};

function layerViolations(folder: string): string[] {
  const allowed = [folder, ...(BELOW[folder] ?? [])];
  return edges
    .filter(
      (e) => e.from.startsWith(folder) && !allowed.some((a) => (a.endsWith('/') ? e.to.startsWith(a) : e.to === a)),
    )
    .map((e) => `${e.from}:${e.line} imports ${e.to}${e.typeOnly ? ' (type only)' : ''}`);
}

describe('imports of src/', () => {
  it('reads every file of src/ and the imports between them', () => {
    expect(files.length).toBeGreaterThan(50);
    // The store is opened by the CLI and the server: a graph without these edges would be reading nothing.
    expect(edges.some((e) => e.from === 'src/cli/main.ts' && e.to === 'src/store/open.ts')).toBe(true);
  });

  it('has no import cycle, type-only imports included', () => {
    const cycles = findCycles(edges).map(describeChain);
    expect(cycles, `import cycles (fix each; "(type)" marks an import type):\n${cycles.join('\n')}`).toEqual([]);
  });

  for (const folder of Object.keys(BELOW)) {
    it(`${folder} imports nothing from a higher layer`, () => {
      expect(layerViolations(folder)).toEqual([]);
    });
  }
});

/** The repositories of a Store (StoreRepos): a route reaching one of them reads or writes the store itself. */
const REPOS = new Set(['directory', 'runs', 'locks', 'connections', 'access', 'views', 'inbox', 'settings']);

/** `store.<repo>` and `deps.store.<repo>` in a file, with their lines. */
function storeAccesses(file: string): string[] {
  const source = ts.createSourceFile(file, readFileSync(path.join(ROOT, file), 'utf8'), ts.ScriptTarget.Latest, true);
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isPropertyAccessExpression(node) && REPOS.has(node.name.text)) {
      const target = node.expression;
      const named = ts.isIdentifier(target)
        ? target.text
        : ts.isPropertyAccessExpression(target)
          ? target.name.text
          : '';
      if (named === 'store')
        found.push(
          `${file}:${source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1} ${node.getText(source)}`,
        );
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

describe('the API routes', () => {
  const routes = files.filter((f) => f.startsWith('src/server/api/'));

  it('call services, never the store directly', () => {
    expect(routes.length).toBeGreaterThan(3);
    expect(routes).toContain('src/server/api/connections.ts');
    expect(routes.flatMap(storeAccesses)).toEqual([]);
    // The check sees the store where it is used: the run runner (a service) reads runs through it.
    expect(storeAccesses('src/server/runner.ts').some((f) => f.endsWith(' this.store.runs'))).toBe(true);
  });
});

describe('the import graph itself', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'orgsync-imports-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function project(sources: Record<string, string>): ImportEdge[] {
    for (const [name, text] of Object.entries(sources)) {
      mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
      writeFileSync(path.join(dir, name), text);
    }
    return importGraph(dir, sourceFiles(dir, 'src'));
  }

  it('finds a cycle made of runtime and type-only imports and names every file of it', () => {
    const graph = project({
      'src/a.ts': "import { b } from './b.js';\nexport const a = b;\n",
      'src/b.ts':
        "// import { nothing } from './d.js'\nimport type { C } from './sub/c.js';\nexport const b = 1 as C;\n",
      'src/sub/c.ts': "export type { A } from '../a.js';\nexport type C = number;\nconst text = \"import './d.js'\";\n",
      'src/d.ts': "import { a } from './a.js';\nexport const d = a;\n",
    });
    const cycles = findCycles(graph);
    expect(cycles.map(describeChain)).toEqual(['src/a.ts:1 → src/b.ts:2 (type) → src/sub/c.ts:1 (type) → src/a.ts']);
  });

  it('finds nothing in a graph that points one way, and reports each separate cycle once', () => {
    expect(findCycles([{ from: 'x', to: 'y', typeOnly: false, line: 1 }])).toEqual([]);
    const two = findCycles([
      { from: 'p', to: 'q', typeOnly: false, line: 1 },
      { from: 'q', to: 'p', typeOnly: false, line: 2 },
      { from: 'r', to: 'r', typeOnly: true, line: 3 },
    ]);
    expect(two.map(describeChain).sort()).toEqual(['p:1 → q:2 → p', 'r:3 (type) → r']);
  });

  it('sees import types and dynamic imports, and refuses a relative import it cannot resolve', () => {
    expect(importsOf('x.ts', "type T = import('./t.js').T;\nconst m = await import('./m.js');\n")).toEqual([
      { specifier: './t.js', typeOnly: true, line: 1 },
      { specifier: './m.js', typeOnly: false, line: 2 },
    ]);
    expect(() => project({ 'src/e.ts': "import { gone } from './gone.js';\n" })).toThrow(
      'src/e.ts: cannot resolve "./gone.js"',
    );
  });
});
