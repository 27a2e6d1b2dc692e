/** POSIX shell quoting for the commands bmlb sends to nodes. */

/** Quote one word for `sh`: single quotes, with embedded quotes closed, escaped and reopened. */
export function shQuote(word: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/** A command line from words, each quoted. */
export function shCommand(words: string[]): string {
  return words.map(shQuote).join(' ');
}
