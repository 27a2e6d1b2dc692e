/**
 * `$(VAR)` expansion in container command, args and env values, with Kubernetes' rules:
 * `$(NAME)` becomes NAME's value when NAME is defined and stays as written when it is not;
 * `$$` is an escaped `$` (so `$$(NAME)` yields the literal `$(NAME)`); any other `$` is literal;
 * an unterminated `$(` is literal.
 */
export function expandVars(input: string, lookup: (name: string) => string | undefined): string {
  let out = '';
  let i = 0;
  while (i < input.length) {
    const ch = input[i]!;
    if (ch !== '$' || i + 1 >= input.length) {
      out += ch;
      i += 1;
      continue;
    }
    const next = input[i + 1]!;
    if (next === '$') {
      out += '$';
      i += 2;
      continue;
    }
    if (next === '(') {
      const close = input.indexOf(')', i + 2);
      if (close === -1) {
        out += '$(';
        i += 2;
        continue;
      }
      const name = input.slice(i + 2, close);
      const value = lookup(name);
      out += value ?? `$(${name})`;
      i = close + 1;
      continue;
    }
    out += '$' + next;
    i += 2;
  }
  return out;
}

/** A lookup over several maps, the first holding the name wins. */
export function lookupIn(...maps: ReadonlyMap<string, string>[]): (name: string) => string | undefined {
  return (name) => {
    for (const m of maps) if (m.has(name)) return m.get(name);
    return undefined;
  };
}
