/**
 * A small subset of CEL (the Common Expression Language), enough for the expressions
 * ValidatingAdmissionPolicies typically carry: literals (int, double, string, bool, null, lists,
 * maps), field selection and indexing, `!`, `-`, `* / %`, `+ -`, comparisons, `in`, `&&`, `||`
 * (with CEL's error absorption), `? :`, and the functions/macros `has()`, `size()`, `string()`,
 * `int()`, `startsWith`, `endsWith`, `contains`, `matches`, `exists`, `all`, `exists_one`,
 * `filter`, `map`. Anything else is a compile error (the policy's failurePolicy then applies).
 * Pure: parse once, evaluate against a map of variables.
 */
export type Value = null | boolean | number | string | Value[] | { [k: string]: Value };

export type Ast =
  | { k: 'lit'; v: Value }
  | { k: 'ident'; name: string }
  | { k: 'list'; items: Ast[] }
  | { k: 'map'; entries: Array<[Ast, Ast]> }
  | { k: 'select'; target: Ast; field: string }
  | { k: 'index'; target: Ast; index: Ast }
  | { k: 'call'; target?: Ast; fn: string; args: Ast[] }
  | { k: 'unary'; op: '!' | '-'; arg: Ast }
  | { k: 'binary'; op: string; left: Ast; right: Ast }
  | { k: 'cond'; test: Ast; then: Ast; else: Ast };

export class CelError extends Error {}

type Tok = { t: 'num'; v: number } | { t: 'str'; v: string } | { t: 'id'; v: string } | { t: 'op'; v: string } | { t: 'end' };

const OPS = ['||', '&&', '==', '!=', '<=', '>=', '<', '>', '!', '+', '-', '*', '/', '%', '(', ')', '[', ']', '{', '}', ',', '.', '?', ':'];

function tokenize(src: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (/\s/.test(c)) { i++; continue; }
    if (/[0-9]/.test(c)) {
      const m = /^(\d+\.\d+|\d+)(u)?/.exec(src.slice(i))!;
      out.push({ t: 'num', v: Number(m[1]) });
      i += m[0].length;
      continue;
    }
    if (c === '"' || c === "'") {
      let s = '';
      i++;
      while (i < src.length && src[i] !== c) {
        if (src[i] === '\\') {
          const n = src[i + 1];
          s += n === 'n' ? '\n' : n === 't' ? '\t' : n ?? '';
          i += 2;
        } else s += src[i++];
      }
      if (src[i] !== c) throw new CelError('unterminated string literal');
      i++;
      out.push({ t: 'str', v: s });
      continue;
    }
    if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(i))!;
      out.push({ t: 'id', v: m[0] });
      i += m[0].length;
      continue;
    }
    const op = OPS.find((o) => src.startsWith(o, i));
    if (!op) throw new CelError(`unexpected character '${c}' at ${i}`);
    out.push({ t: 'op', v: op });
    i += op.length;
  }
  out.push({ t: 'end' });
  return out;
}

export function parseCel(src: string): Ast {
  const toks = tokenize(src);
  let p = 0;
  const peek = (): Tok => toks[p]!;
  const isOp = (v: string): boolean => { const t = peek(); return t.t === 'op' && t.v === v; };
  const eat = (v: string): void => {
    if (!isOp(v)) throw new CelError(`expected '${v}'`);
    p++;
  };
  const args = (close: string): Ast[] => {
    const out: Ast[] = [];
    if (isOp(close)) { p++; return out; }
    for (;;) {
      out.push(cond());
      if (isOp(',')) { p++; if (isOp(close)) { p++; return out; } continue; }
      eat(close);
      return out;
    }
  };
  const primary = (): Ast => {
    const t = peek();
    p++;
    if (t.t === 'num') return { k: 'lit', v: t.v };
    if (t.t === 'str') return { k: 'lit', v: t.v };
    if (t.t === 'id') {
      if (t.v === 'true' || t.v === 'false') return { k: 'lit', v: t.v === 'true' };
      if (t.v === 'null') return { k: 'lit', v: null };
      if (isOp('(')) { p++; return { k: 'call', fn: t.v, args: args(')') }; }
      return { k: 'ident', name: t.v };
    }
    if (t.t === 'op' && t.v === '(') { const e = cond(); eat(')'); return e; }
    if (t.t === 'op' && t.v === '[') return { k: 'list', items: args(']') };
    if (t.t === 'op' && t.v === '{') {
      const entries: Array<[Ast, Ast]> = [];
      if (isOp('}')) { p++; return { k: 'map', entries }; }
      for (;;) {
        const key = cond();
        eat(':');
        entries.push([key, cond()]);
        if (isOp(',')) { p++; if (isOp('}')) { p++; break; } continue; }
        eat('}');
        break;
      }
      return { k: 'map', entries };
    }
    throw new CelError(`unexpected ${t.t === 'end' ? 'end of expression' : `'${(t as { v: unknown }).v}'`}`);
  };
  const member = (): Ast => {
    let e = primary();
    for (;;) {
      if (isOp('.')) {
        p++;
        const id = peek();
        if (id.t !== 'id') throw new CelError('expected a field name after "."');
        p++;
        if (isOp('(')) { p++; e = { k: 'call', target: e, fn: id.v, args: args(')') }; } else e = { k: 'select', target: e, field: id.v };
      } else if (isOp('[')) {
        p++;
        const index = cond();
        eat(']');
        e = { k: 'index', target: e, index };
      } else return e;
    }
  };
  const unary = (): Ast => {
    if (isOp('!')) { p++; return { k: 'unary', op: '!', arg: unary() }; }
    if (isOp('-')) { p++; return { k: 'unary', op: '-', arg: unary() }; }
    return member();
  };
  const level = (ops: string[], next: () => Ast, keywordIn = false) => (): Ast => {
    let left = next();
    for (;;) {
      const t = peek();
      const op = t.t === 'op' && ops.includes(t.v) ? t.v : keywordIn && t.t === 'id' && t.v === 'in' ? 'in' : undefined;
      if (!op) return left;
      p++;
      left = { k: 'binary', op, left, right: next() };
    }
  };
  const mul = level(['*', '/', '%'], unary);
  const add = level(['+', '-'], mul);
  const rel = level(['==', '!=', '<', '<=', '>', '>='], add, true);
  const and = level(['&&'], rel);
  const or = level(['||'], and);
  function cond(): Ast {
    const test = or();
    if (!isOp('?')) return test;
    p++;
    const then = cond();
    eat(':');
    return { k: 'cond', test, then, else: cond() };
  }
  const ast = cond();
  if (peek().t !== 'end') throw new CelError('unexpected trailing input');
  return ast;
}

function isMap(v: Value | undefined): v is { [k: string]: Value } {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function equal(a: Value, b: Value): boolean {
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => equal(x, b[i]!));
  if (isMap(a) && isMap(b)) {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => k in b && equal(a[k]!, b[k]!));
  }
  return a === b;
}

function typeName(v: Value): string {
  return v === null ? 'null' : Array.isArray(v) ? 'list' : typeof v === 'object' ? 'map' : typeof v === 'number' ? 'number' : typeof v;
}

const MACROS = ['exists', 'all', 'exists_one', 'filter', 'map'];

export function evalCel(ast: Ast, vars: Record<string, Value>): Value {
  const ev = (a: Ast, scope: Record<string, Value>): Value => {
    switch (a.k) {
      case 'lit': return a.v;
      case 'ident':
        if (!(a.name in scope)) throw new CelError(`undeclared reference to '${a.name}'`);
        return scope[a.name]!;
      case 'list': return a.items.map((i) => ev(i, scope));
      case 'map': return Object.fromEntries(a.entries.map(([k, v]) => [String(ev(k, scope)), ev(v, scope)]));
      case 'select': {
        const t = ev(a.target, scope);
        if (!isMap(t)) throw new CelError(`no such key: ${a.field} (on ${typeName(t)})`);
        if (!(a.field in t)) throw new CelError(`no such key: ${a.field}`);
        return t[a.field]!;
      }
      case 'index': {
        const t = ev(a.target, scope);
        const i = ev(a.index, scope);
        if (Array.isArray(t) && typeof i === 'number') {
          if (i < 0 || i >= t.length) throw new CelError(`index out of range: ${i}`);
          return t[i]!;
        }
        if (isMap(t) && typeof i === 'string') {
          if (!(i in t)) throw new CelError(`no such key: ${i}`);
          return t[i]!;
        }
        throw new CelError(`cannot index ${typeName(t)} with ${typeName(i)}`);
      }
      case 'unary': {
        const v = ev(a.arg, scope);
        if (a.op === '!') { if (typeof v !== 'boolean') throw new CelError(`no such overload: !${typeName(v)}`); return !v; }
        if (typeof v !== 'number') throw new CelError(`no such overload: -${typeName(v)}`);
        return -v;
      }
      case 'cond': {
        const t = ev(a.test, scope);
        if (typeof t !== 'boolean') throw new CelError('condition is not a bool');
        return ev(t ? a.then : a.else, scope);
      }
      case 'binary': return binary(a, scope);
      case 'call': return call(a, scope);
    }
  };
  const logical = (a: Extract<Ast, { k: 'binary' }>, scope: Record<string, Value>): boolean => {
    const short = a.op === '||';
    let err: unknown;
    for (const side of [a.left, a.right]) {
      try {
        const v = ev(side, scope);
        if (typeof v !== 'boolean') throw new CelError(`no such overload: ${a.op} on ${typeName(v)}`);
        if (v === short) return short;
      } catch (e) {
        err = e;
      }
    }
    if (err) throw err;
    return !short;
  };
  const binary = (a: Extract<Ast, { k: 'binary' }>, scope: Record<string, Value>): Value => {
    if (a.op === '||' || a.op === '&&') return logical(a, scope);
    const l = ev(a.left, scope);
    const r = ev(a.right, scope);
    switch (a.op) {
      case '==': return equal(l, r);
      case '!=': return !equal(l, r);
      case 'in':
        if (Array.isArray(r)) return r.some((x) => equal(x, l));
        if (isMap(r)) return typeof l === 'string' && l in r;
        throw new CelError(`no such overload: in ${typeName(r)}`);
      case '<': case '<=': case '>': case '>=': {
        if (typeof l !== typeof r || (typeof l !== 'number' && typeof l !== 'string')) throw new CelError(`no such overload: ${typeName(l)} ${a.op} ${typeName(r)}`);
        const x = l as number | string;
        const y = r as number | string;
        return a.op === '<' ? x < y : a.op === '<=' ? x <= y : a.op === '>' ? x > y : x >= y;
      }
      case '+':
        if (typeof l === 'number' && typeof r === 'number') return l + r;
        if (typeof l === 'string' && typeof r === 'string') return l + r;
        if (Array.isArray(l) && Array.isArray(r)) return [...l, ...r];
        throw new CelError(`no such overload: ${typeName(l)} + ${typeName(r)}`);
      default: {
        if (typeof l !== 'number' || typeof r !== 'number') throw new CelError(`no such overload: ${typeName(l)} ${a.op} ${typeName(r)}`);
        if ((a.op === '/' || a.op === '%') && r === 0) throw new CelError('division by zero');
        return a.op === '-' ? l - r : a.op === '*' ? l * r : a.op === '/' ? Math.trunc(l / r) : l % r;
      }
    }
  };
  const call = (a: Extract<Ast, { k: 'call' }>, scope: Record<string, Value>): Value => {
    if (a.fn === 'has' && !a.target) {
      const sel = a.args[0];
      if (a.args.length !== 1 || sel?.k !== 'select') throw new CelError('has() needs a field selection argument');
      const t = ev(sel.target, scope);
      return isMap(t) && sel.field in t;
    }
    if (a.target && MACROS.includes(a.fn)) {
      const coll = ev(a.target, scope);
      const v = a.args[0];
      if (a.args.length !== 2 || v?.k !== 'ident') throw new CelError(`${a.fn}() needs a variable and an expression`);
      const items = Array.isArray(coll) ? coll : isMap(coll) ? Object.keys(coll) : undefined;
      if (!items) throw new CelError(`${a.fn}() on ${typeName(coll)}`);
      const results = items.map((x) => ev(a.args[1]!, { ...scope, [v.name]: x }));
      switch (a.fn) {
        case 'exists': return results.some((r) => r === true);
        case 'all': return results.every((r) => r === true);
        case 'exists_one': return results.filter((r) => r === true).length === 1;
        case 'filter': return items.filter((_, i) => results[i] === true);
        default: return results;
      }
    }
    const self = a.target ? ev(a.target, scope) : undefined;
    const args = a.args.map((x) => ev(x, scope));
    const subject = a.target ? self! : args[0]!;
    switch (a.fn) {
      case 'size':
        if (typeof subject === 'string' || Array.isArray(subject)) return subject.length;
        if (isMap(subject)) return Object.keys(subject).length;
        throw new CelError(`no such overload: size(${typeName(subject)})`);
      case 'string': return subject === null ? 'null' : typeof subject === 'object' ? JSON.stringify(subject) : String(subject);
      case 'int': {
        const n = Number(subject);
        if (!Number.isFinite(n)) throw new CelError(`cannot convert ${String(subject)} to int`);
        return Math.trunc(n);
      }
      case 'startsWith': case 'endsWith': case 'contains': case 'matches': {
        if (typeof self !== 'string' || typeof args[0] !== 'string') throw new CelError(`no such overload: ${a.fn}`);
        if (a.fn === 'startsWith') return self.startsWith(args[0]);
        if (a.fn === 'endsWith') return self.endsWith(args[0]);
        if (a.fn === 'contains') return self.includes(args[0]);
        return new RegExp(args[0]).test(self);
      }
      default: throw new CelError(`undeclared reference to '${a.fn}'`);
    }
  };
  return ev(ast, vars);
}
