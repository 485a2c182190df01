import { builtinModules } from 'node:module'
import { readdir } from 'node:fs/promises'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'
import { beforeAll, describe, expect, it } from 'vitest'

/**
 * The runtime files (everything under src/runtime, shipped as dist/runtime and bundled into the
 * user's server) must run on Workers, Deno and Bun: no `node:*` or Node built-in imports, and no
 * Node-only globals (Buffer, process, setImmediate, __dirname, require, ...) except where the code
 * guards them. A global is Node-only when every declaration TypeScript knows for it comes from
 * @types/node, that is when neither the ES nor the DOM library has it; type-only uses are erased
 * and allowed.
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const RUNTIME = join(ROOT, 'src/runtime')
const NODE_BUILTINS = new Set(builtinModules.filter(name => !name.startsWith('_')))

interface Finding {
  file: string
  line: number
  what: string
}

async function runtimeFiles(): Promise<string[]> {
  const entries = await readdir(RUNTIME, { recursive: true, withFileTypes: true })
  return entries.filter(e => e.isFile() && e.name.endsWith('.ts')).map(e => join(e.parentPath, e.name)).sort()
}

function isNodeBuiltin(specifier: string): boolean {
  return specifier.startsWith('node:') || NODE_BUILTINS.has(specifier.split('/')[0]!)
}

/** Inside a type annotation, an interface, a type alias or an `import type`: erased at build time. */
function inTypePosition(node: ts.Node): boolean {
  for (let n: ts.Node | undefined = node; n; n = n.parent) {
    if (ts.isTypeNode(n) || ts.isInterfaceDeclaration(n) || ts.isTypeAliasDeclaration(n)) return true
    if (ts.isImportDeclaration(n) && n.importClause?.isTypeOnly) return true
    if (ts.isStatement(n) || ts.isExpression(n)) return false
  }
  return false
}

/** A name looked up in scope: not a property name (`a.name`, `{ name: 1 }`) nor a declared name. */
function isFreeReference(node: ts.Identifier): boolean {
  const parent = node.parent
  if (ts.isPropertyAccessExpression(parent) && parent.name === node) return false
  if (ts.isQualifiedName(parent) && parent.right === node) return false
  if ((ts.isPropertyAssignment(parent) || ts.isPropertyDeclaration(parent) || ts.isMethodDeclaration(parent) || ts.isPropertySignature(parent) || ts.isGetAccessor(parent) || ts.isSetAccessor(parent)) && parent.name === node) return false
  if (ts.isBindingElement(parent) && parent.propertyName === node) return false
  return !((ts.isVariableDeclaration(parent) || ts.isFunctionDeclaration(parent) || ts.isClassDeclaration(parent) || ts.isParameter(parent)) && parent.name === node)
}

/** `typeof x`, or inside a `try` block, or under a condition that tests `typeof x`. */
function guarded(node: ts.Identifier): boolean {
  if (ts.isTypeOfExpression(node.parent)) return true
  const name = node.text
  const testsTypeof = (expr: ts.Node): boolean => {
    let found = false
    const visit = (n: ts.Node) => {
      if (ts.isTypeOfExpression(n) && ts.isIdentifier(n.expression) && n.expression.text === name) found = true
      else n.forEachChild(visit)
    }
    visit(expr)
    return found
  }
  for (let n: ts.Node = node; n.parent; n = n.parent) {
    const parent = n.parent
    if (ts.isTryStatement(parent) && parent.tryBlock === n) return true
    if ((ts.isIfStatement(parent) || ts.isConditionalExpression(parent)) && n !== (ts.isIfStatement(parent) ? parent.expression : parent.condition) && testsTypeof(ts.isIfStatement(parent) ? parent.expression : parent.condition)) return true
    if (ts.isBinaryExpression(parent) && n === parent.right && (parent.operatorToken.kind === ts.SyntaxKind.AmpersandAmpersandToken) && testsTypeof(parent.left)) return true
  }
  return false
}

function scan(program: ts.Program, files: string[]): Finding[] {
  const checker = program.getTypeChecker()
  const findings: Finding[] = []
  for (const file of files) {
    const source = program.getSourceFile(file)!
    const at = (node: ts.Node, what: string) => findings.push({ file: relative(ROOT, file), line: source.getLineAndCharacterOfPosition(node.getStart()).line + 1, what })
    const visit = (node: ts.Node) => {
      // import ... from 'x', export ... from 'x', import('x'), require('x')
      let specifier: ts.Expression | undefined
      if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier) {
        const typeOnly = ts.isImportDeclaration(node) ? node.importClause?.isTypeOnly : node.isTypeOnly
        if (!typeOnly) specifier = node.moduleSpecifier
      }
      if (ts.isCallExpression(node) && (node.expression.kind === ts.SyntaxKind.ImportKeyword || (ts.isIdentifier(node.expression) && node.expression.text === 'require'))) specifier = node.arguments[0]
      if (specifier && ts.isStringLiteralLike(specifier) && isNodeBuiltin(specifier.text)) at(node, `imports ${specifier.text}`)

      if (ts.isIdentifier(node) && isFreeReference(node) && !inTypePosition(node)) {
        const symbol = checker.getSymbolAtLocation(node)
        const declarations = symbol?.declarations ?? []
        const global = declarations.length > 0 && declarations.every(d => d.getSourceFile().fileName.includes('/@types/node/'))
        if (global && !guarded(node)) at(node, `uses the Node-only global ${node.text}`)
      }
      node.forEachChild(visit)
    }
    visit(source)
  }
  return findings
}

describe('[nuxt-server-session] runtime files use web-standard APIs only', () => {
  let files: string[]
  let program: ts.Program

  beforeAll(async () => {
    files = await runtimeFiles()
    program = ts.createProgram(files, {
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.ESNext,
      moduleResolution: ts.ModuleResolutionKind.Bundler,
      lib: ['lib.es2023.d.ts', 'lib.dom.d.ts'],
      types: ['node'],
      noEmit: true,
      skipLibCheck: true,
    })
  }, 60_000)

  it('[nuxt-server-session] scans every runtime file, the stores and the Nitro plugin included', () => {
    const names = files.map(f => relative(ROOT, f))
    expect(names).toEqual(expect.arrayContaining([
      'src/runtime/h3.ts',
      'src/runtime/server/core/session.ts',
      'src/runtime/server/core/crypto.ts',
      'src/runtime/server/stores/unstorage.ts',
      'src/runtime/server/stores/redis.ts',
      'src/runtime/server/nitro/plugin-v2.ts',
      'src/runtime/server/nitro/plugin-v3.ts',
      'src/runtime/server/adapters/h3-v2/middleware.ts',
      'src/runtime/server/nitro/utils.ts',
    ]))
  })

  it('[nuxt-server-session] no runtime file imports node:* or a Node built-in, nor uses a Node-only global unguarded', () => {
    expect(scan(program, files)).toEqual([])
  })

  it('[nuxt-server-session] the scan finds what it looks for (imports, Buffer, process, setImmediate; guards allowed)', () => {
    const probe = join(RUNTIME, '__probe__.ts')
    const text = [
      `import { createHash } from 'node:crypto'`,
      `import fs from 'fs'`,
      `import type { Socket } from 'node:net'`,
      `export const a = Buffer.from('x')`,
      `export const b = process.env.X`,
      `setImmediate(() => {})`,
      `export const c = typeof process !== 'undefined' ? process.env.Y : undefined`,
      `export function d() { try { return process.env.Z } catch { return undefined } }`,
      `export const e = new TextEncoder().encode('x')`,
      `export const f = (s: Socket) => s`,
      `setTimeout(() => {}, 1)`,
      `export const g = [createHash, fs]`,
    ].join('\n')
    const host = ts.createCompilerHost(program.getCompilerOptions())
    const read = host.getSourceFile.bind(host)
    host.getSourceFile = (name, lang, ...rest) => name === probe ? ts.createSourceFile(name, text, lang) : read(name, lang, ...rest)
    const withProbe = ts.createProgram([probe], program.getCompilerOptions(), host)
    expect(scan(withProbe, [probe]).map(f => `${f.line}: ${f.what}`)).toEqual([
      '1: imports node:crypto',
      '2: imports fs',
      '4: uses the Node-only global Buffer',
      '5: uses the Node-only global process',
      '6: uses the Node-only global setImmediate',
    ])
  })
})
