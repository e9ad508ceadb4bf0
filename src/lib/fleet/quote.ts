/**
 * Quotes one argument for a POSIX shell: OpenSSH joins the words after `--` with spaces and hands the line to
 * the remote user's shell, so every word is wrapped in single quotes (a single quote inside becomes '\'').
 */
export function shellQuote(word: string): string {
  if (word.includes('\0')) throw new Error('an argument cannot hold a NUL byte')
  return `'${word.replaceAll("'", `'\\''`)}'`
}

export function shellCommandLine(words: readonly string[]): string {
  return words.map((word) => shellQuote(word)).join(' ')
}
