/**
 * The handlebars templates in `templates/*.hbs`, compiled in strict mode (a missing variable is an
 * error, never an empty string) with HTML escaping off. Each call builds its own handlebars
 * environment: no global helpers, no module state.
 *
 * YAML templates never interpolate raw text into YAML: strings go through `q` (a JSON string,
 * which is valid YAML), lists through `json`, multi-line text through `block` (a literal block).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Handlebars from 'handlebars';

export const TEMPLATE_NAMES = [
  'keepalived.conf',
  'haproxy.cfg',
  'keepalived-pod.yaml',
  'haproxy-pod.yaml',
  'namespace.yaml',
  'service-accounts.yaml',
  'rbac-speaker.yaml',
  'rbac-controller.yaml',
  'config-map.yaml',
  'speaker.yaml',
  'controller.yaml',
  'webhook.yaml',
  'admission-policy.yaml',
] as const;

export type TemplateName = (typeof TEMPLATE_NAMES)[number];

/** A compiled template: context in, text out; throws on a missing variable. */
export type CompiledTemplate = (context: object) => string;

export type Templates = Record<TemplateName, CompiledTemplate>;

/** The template sources by name (file `templates/<name>.hbs`). */
export type TemplateSources = Record<TemplateName, string>;

/** Characters YAML allows unescaped in a block scalar (printable set, no CR, no BOM). */
const YAML_BLOCK_SAFE = /^[\x0A\x20-\x7E\u0085\u00A0-\uD7FF\uE000-\uFEFE\uFF00-\uFFFD\u{10000}-\u{10FFFF}]*$/u;

/** A YAML literal block scalar of `text` whose lines are indented by `indent` spaces. */
export function yamlBlock(text: string, indent: number): string {
  // A literal block keeps the text byte for byte only when it ends in exactly one newline, its
  // first line has content that does not start with a space, and no line is whitespace only;
  // anything else is written as a JSON string (also valid YAML).
  const lines = text.slice(0, -1).split('\n');
  const literal = text.endsWith('\n') && !text.endsWith('\n\n') && YAML_BLOCK_SAFE.test(text)
    && /^[^ \n]/.test(text) && lines.every((l) => l.length === 0 || /\S/.test(l));
  if (!literal) return JSON.stringify(text);
  const pad = ' '.repeat(indent);
  return `|\n${lines.map((l) => (l.length ? pad + l : '')).join('\n')}`;
}

function requireString(helper: string, v: unknown): string {
  if (typeof v !== 'string') throw new Error(`template helper ${helper} needs a string, got ${v === undefined ? 'undefined' : JSON.stringify(v)}`);
  return v;
}

/** Compile template sources with bmlb's helpers in a private handlebars environment. */
export function compileTemplates(sources: TemplateSources): Templates {
  const hb = Handlebars.create();
  hb.registerHelper('q', (v: unknown) => JSON.stringify(requireString('q', v)));
  hb.registerHelper('json', (v: unknown) => {
    if (v === undefined) throw new Error('template helper json got undefined');
    return JSON.stringify(v);
  });
  hb.registerHelper('block', (v: unknown, indent: unknown) => {
    if (typeof indent !== 'number') throw new Error('template helper block needs an indent number');
    return yamlBlock(requireString('block', v), indent);
  });
  const out = {} as Templates;
  for (const name of TEMPLATE_NAMES) {
    const fn = hb.compile(sources[name], { strict: true, noEscape: true });
    out[name] = (context: object) => fn(context);
  }
  return out;
}

/** The `templates/` directory of this package (from src/render or dist/src/render). */
export function bundledTemplatesDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = join(dir, 'templates');
    if (existsSync(join(candidate, 'keepalived.conf.hbs'))) return candidate;
    dir = dirname(dir);
  }
  throw new Error(`bmlb templates directory not found above ${fileURLToPath(import.meta.url)}`);
}

/** Read `<dir>/<name>.hbs` for every template. */
export function readTemplateSources(dir: string = bundledTemplatesDir()): TemplateSources {
  const out = {} as TemplateSources;
  for (const name of TEMPLATE_NAMES) out[name] = readFileSync(join(dir, `${name}.hbs`), 'utf8');
  return out;
}

/** Read and compile the package's templates. */
export function loadTemplates(dir?: string): Templates {
  return compileTemplates(readTemplateSources(dir));
}
