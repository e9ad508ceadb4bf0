/**
 * `agnes --version` on its own, answered before oclif is loaded: loading it is most of the start-up
 * (bench/README.md, part 1), and the fleet asks every host for its version. The line is oclif's
 * (Config.userAgent), so both paths print the same; test/commands/usage-errors.test.ts compares them.
 */
export function answerVersionFlag(argv: readonly string[], pjson: {name: string; version: string}, write: (text: string) => void): boolean {
  if (argv.length !== 1 || argv[0] !== '--version') return false
  write(`${pjson.name}/${pjson.version} ${process.platform}-${process.arch === 'ia32' ? 'x86' : process.arch} node-${process.version}\n`)
  return true
}
