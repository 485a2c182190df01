import { writeSync } from 'node:fs'

/**
 * Reports a measured figure: one line starting with `[figure]`, written to the process's own
 * stdout, since Nuxt's build in the e2e suites wraps `console` and `process.stdout` with a
 * quiet log level.
 */
export function figure(text: string): void {
  writeSync(1, `[figure] ${text}\n`)
}
