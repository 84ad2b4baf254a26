// The layering the folders promise: src/core runs anywhere (Node, a browser, a worker), so it imports nothing from
// Node and uses none of Node's globals; only src/node, src/cli and src/bench may.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) {
      if (name !== 'assembly') out.push(...sources(path)); // AssemblyScript compiles to WebAssembly, not JS
    } else if (name.endsWith('.ts')) out.push(path);
  }
  return out;
}

/** Code without comments and string contents, so a comment that mentions `node:fs` is not an import. */
function code(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
}

describe('layering', () => {
  const core = sources(join(ROOT, 'src', 'core'));

  it('finds the core sources', () => {
    expect(core.length).toBeGreaterThan(20);
  });

  it('src/core imports nothing from Node and nothing outside src/core', () => {
    const problems: string[] = [];
    for (const file of core) {
      const text = code(readFileSync(file, 'utf8'));
      for (const match of text.matchAll(/(?:from|import)\s*\(?\s*['"]([^'"]+)['"]/g)) {
        const spec = match[1];
        const where = relative(ROOT, file);
        if (spec.startsWith('node:') || ['fs', 'path', 'os', 'worker_threads', 'v8', 'crypto', 'zlib', 'util'].includes(spec)) {
          problems.push(`${where} imports ${spec}`);
        } else if (spec.startsWith('.')) {
          const target = relative(join(ROOT, 'src', 'core'), join(file, '..', spec));
          if (target.startsWith('..')) problems.push(`${where} imports ${spec}, outside src/core`);
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it("src/core uses none of Node's globals (Buffer, process, require, setImmediate, __dirname)", () => {
    const problems: string[] = [];
    for (const file of core) {
      const text = code(readFileSync(file, 'utf8')).replace(/(['"`])(?:\\.|(?!\1)[^\\])*\1/g, "''");
      for (const name of ['Buffer', 'process', 'require', 'setImmediate', '__dirname', '__filename']) {
        if (new RegExp(`(?<![\\w.$])${name}\\b`).test(text)) problems.push(`${relative(ROOT, file)} uses ${name}`);
      }
    }
    expect(problems).toEqual([]);
  });
});
