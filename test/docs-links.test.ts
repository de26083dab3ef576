// The documentation holds together: README.md is the front door and docs/ the reference, so every
// relative link and image in them must name a file that exists, and every #fragment a heading of
// that file, as GitHub renders it (lowercase, punctuation dropped, spaces to hyphens, -1, -2 for
// repeated headings). Links to http(s):// and mailto: are not followed; fenced code is not Markdown.
// Every page of docs/ is linked from the README, the README stays short, and the figures tables the
// README points to in docs/performance.md are there.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { globSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';

const root = join(import.meta.dirname, '..');
const README_MAX_LINES = 320;

interface Heading { slug: string; level: number; line: number }
interface Link { target: string; line: number; text: string }

/** The lines of a Markdown file with fenced code blocks blanked out (line numbers are kept). */
export function proseLines(text: string): string[] {
  const lines = text.split('\n');
  let fence: { char: string; length: number } | undefined;
  return lines.map((line) => {
    const m = /^ {0,3}(`{3,}|~{3,})/.exec(line);
    if (fence) {
      if (m && m[1][0] === fence.char && m[1].length >= fence.length && line.trim() === m[1]) fence = undefined;
      return '';
    }
    if (m) {
      fence = { char: m[1][0], length: m[1].length };
      return '';
    }
    return line;
  });
}

/** A heading's text as GitHub renders it (inline markup gone), before slugging. */
function headingText(raw: string): string {
  return raw
    .replace(/\s+#+\s*$/, '') // closing #s
    .replace(/!\[([^\]]*)\]\([^)]*\)/g, '$1') // images: their alt text
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1') // links: their text
    .replace(/<[^>]+>/g, '') // inline HTML tags
    .replace(/`/g, '')
    .replace(/\*+/g, '')
    .trim();
}

/** GitHub's anchor for a heading text (github-slugger, without the duplicate suffix). */
export function slug(text: string): string {
  return headingText(text).toLowerCase().replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '').replace(/ /g, '-');
}

/** The headings of a Markdown file with their anchors, -1, -2, ... for repeats, as GitHub makes them. */
export function headings(text: string): Heading[] {
  const seen = new Map<string, number>();
  const out: Heading[] = [];
  proseLines(text).forEach((line, i) => {
    const m = /^ {0,3}(#{1,6})[ \t]+(.*)$/.exec(line) ?? /^ {0,3}(#{1,6})$/.exec(line);
    if (!m) return;
    const base = slug(m[2] ?? '');
    let s = base;
    if (seen.has(base)) {
      let n = seen.get(base)!;
      do { n += 1; s = `${base}-${n}`; } while (seen.has(s));
      seen.set(base, n);
    }
    seen.set(s, seen.get(s) ?? 0);
    out.push({ slug: s, level: m[1].length, line: i + 1 });
  });
  return out;
}

/** Every link and image target of a Markdown file outside fenced code and inline code spans. */
export function links(text: string): Link[] {
  const out: Link[] = [];
  proseLines(text).forEach((raw, i) => {
    const line = raw.replace(/(`+)(?:(?!\1).)+?\1/g, (span) => ' '.repeat(span.length));
    for (const m of line.matchAll(/!?\[([^\]]*)\]\(\s*(<[^>]*>|[^()\s]*(?:\([^()\s]*\)[^()\s]*)*)(?:\s+(?:"[^"]*"|'[^']*'))?\s*\)/g)) {
      out.push({ target: m[2].replace(/^<|>$/g, ''), line: i + 1, text: m[0] });
    }
    for (const m of line.matchAll(/^ {0,3}\[([^\]]+)\]:\s*(\S+)/g)) out.push({ target: m[2].replace(/^<|>$/g, ''), line: i + 1, text: m[0] });
    for (const m of line.matchAll(/<(?:img|a|source)\b[^>]*?\b(?:src|href|srcset)\s*=\s*["']([^"']+)["'][^>]*>/gi)) {
      out.push({ target: m[1], line: i + 1, text: m[0] });
    }
  });
  return out;
}

const external = (target: string) => /^(https?:\/\/|mailto:)/i.test(target);

/** What is wrong with the links of `files` (paths relative to the repo): one line per broken link. */
export function brokenLinks(files: string[], read: (path: string) => string | undefined, isDir: (path: string) => boolean): string[] {
  const problems: string[] = [];
  const headingCache = new Map<string, Heading[]>();
  const headingsOf = (path: string) => {
    if (!headingCache.has(path)) headingCache.set(path, headings(read(path) ?? ''));
    return headingCache.get(path)!;
  };
  for (const file of files) {
    const text = read(file);
    if (text === undefined) { problems.push(`${file}: cannot be read`); continue; }
    for (const link of links(text)) {
      if (external(link.target)) continue;
      const where = `${file}:${link.line}: ${link.text}`;
      const hash = link.target.indexOf('#');
      const pathPart = decodeURIComponent(hash < 0 ? link.target : link.target.slice(0, hash));
      const fragment = hash < 0 ? undefined : decodeURIComponent(link.target.slice(hash + 1));
      if (/^[a-z][a-z0-9+.-]*:/i.test(pathPart)) { problems.push(`${where}: a scheme other than http(s) or mailto`); continue; }
      if (pathPart.startsWith('/')) { problems.push(`${where}: an absolute path (GitHub resolves it from the repository root; use a relative one)`); continue; }
      const target = pathPart === '' ? file : normalize(join(dirname(file), pathPart));
      if (target.startsWith('..')) { problems.push(`${where}: ${target} is outside the repository`); continue; }
      if (read(target) === undefined && !isDir(target)) { problems.push(`${where}: ${target} does not exist`); continue; }
      if (fragment === undefined || fragment === '' || !target.endsWith('.md')) continue;
      const anchors = headingsOf(target).map((h) => h.slug);
      if (!anchors.includes(fragment)) {
        problems.push(`${where}: ${target} has no heading with the anchor #${fragment} (its anchors: ${anchors.map((a) => `#${a}`).join(' ')})`);
      }
    }
  }
  return problems;
}

/** The lines of `text` under the heading with anchor `anchor`, up to the next heading of its level or above. */
export function section(text: string, anchor: string): string[] | undefined {
  const all = headings(text);
  const i = all.findIndex((h) => h.slug === anchor);
  if (i < 0) return undefined;
  const end = all.slice(i + 1).find((h) => h.level <= all[i].level);
  return proseLines(text).slice(all[i].line, end ? end.line - 1 : undefined);
}

/** Does a block of lines hold a Markdown table: a line starting with | and a |---| separator after it? */
export function hasTable(lines: string[]): boolean {
  return lines.some((line, i) => line.trimStart().startsWith('|') && /^\s*\|(\s*:?-{3,}:?\s*\|)+\s*$/.test(lines[i + 1] ?? ''));
}

function readRepo(path: string): string | undefined {
  const full = join(root, path);
  try { return statSync(full).isFile() ? readFileSync(full, 'utf8') : undefined; } catch { return undefined; }
}
const isRepoDir = (path: string) => { try { return statSync(join(root, path)).isDirectory(); } catch { return false; } };
const docFiles = () => ['README.md', ...globSync('docs/**/*.md', { cwd: root }).sort()];

it('the checker finds a missing file, a missing anchor, and ignores code, external links and inline code', () => {
  const files = new Map<string, string>([
    ['README.md', [
      '# Title', '',
      '[ok](docs/a.md#second-heading) [ok2](docs/a.md#repeat-1) [self](#title) [img](docs/pic.png)',
      '[missing file](docs/nope.md) [missing anchor](docs/a.md#nowhere) <img src="docs/gone.png">',
      '[web](https://example.com/x#y) [mail](mailto:a@b.c) `[in code](nope.md)`',
      '```sh', '[in a fence](nope.md)', '```',
    ].join('\n')],
    ['docs/a.md', '# A\n\n## Second `heading`!\n\n## Repeat\n\n## Repeat\n\n| a | b |\n|---|---|\n| 1 | 2 |\n'],
    ['docs/pic.png', 'png'],
  ]);
  const problems = brokenLinks(['README.md', 'docs/a.md'], (p) => files.get(p), () => false);
  assert.equal(problems.length, 3, problems.join('\n'));
  assert.match(problems[0], /docs\/nope\.md does not exist/);
  assert.match(problems[1], /no heading with the anchor #nowhere/);
  assert.match(problems[2], /docs\/gone\.png does not exist/);
  assert.deepEqual(headings(files.get('docs/a.md')!).map((h) => h.slug), ['a', 'second-heading', 'repeat', 'repeat-1']);
  assert.equal(slug('RBAC: what creating a ChaosRun lets you do'), 'rbac-what-creating-a-chaosrun-lets-you-do');
  assert.equal(slug('Metrics (controller, `:8080/metrics`)'), 'metrics-controller-8080metrics');
  assert.equal(slug("At scale: targets, and where the kill switch's time goes"), 'at-scale-targets-and-where-the-kill-switchs-time-goes');
  assert.equal(hasTable(section(files.get('docs/a.md')!, 'repeat-1')!), true);
  assert.equal(hasTable(section(files.get('docs/a.md')!, 'repeat')!), false);
});

it('every relative link and image in README.md and docs/ resolves, with its #anchor', () => {
  const files = docFiles();
  assert.ok(files.length > 1, 'docs/ has Markdown files');
  const problems = brokenLinks(files, readRepo, isRepoDir);
  assert.deepEqual(problems, [], `broken links:\n${problems.join('\n')}`);
});

it('every page of docs/ is linked from README.md', () => {
  const readme = readRepo('README.md')!;
  const linked = new Set(links(readme).filter((l) => !external(l.target))
    .map((l) => normalize(decodeURIComponent(l.target.split('#')[0]))));
  const unlinked = docFiles().filter((f) => f !== 'README.md' && !linked.has(f));
  assert.deepEqual(unlinked, [], `docs pages the README does not link: ${unlinked.join(', ')}`);
});

it(`README.md is at most ${README_MAX_LINES} lines`, () => {
  const lines = readRepo('README.md')!.replace(/\n$/, '').split('\n').length;
  assert.ok(lines <= README_MAX_LINES, `README.md has ${lines} lines; the reference belongs in docs/`);
});

it('the figures tables the README points to in docs/performance.md exist', () => {
  const readme = readRepo('README.md')!;
  const perf = readRepo('docs/performance.md');
  assert.ok(perf !== undefined, 'docs/performance.md exists');
  const pointers = links(readme).filter((l) => normalize(l.target.split('#')[0]) === 'docs/performance.md');
  assert.ok(pointers.length > 0, 'README.md links to docs/performance.md');
  const top = headings(perf)[0]?.slug;
  const missing = pointers.flatMap((l) => {
    const anchor = l.target.includes('#') ? decodeURIComponent(l.target.slice(l.target.indexOf('#') + 1)) : top;
    const lines = anchor === undefined ? undefined : section(perf, anchor);
    if (lines === undefined) return [`README.md:${l.line}: ${l.text}: no such heading in docs/performance.md`];
    return hasTable(lines) ? [] : [`README.md:${l.line}: ${l.text}: no table under #${anchor} in docs/performance.md`];
  });
  assert.deepEqual(missing, [], missing.join('\n'));
});
