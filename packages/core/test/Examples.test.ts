/**
 * Type-checks every ```ts example in the JSDoc of every public module of every
 * published package (`packages/*\/src/**\/*.ts`, without `internal/` and `index.ts`), and
 * checks that every export of those modules is documented.
 *
 * All examples are compiled in one TypeScript program. Each example is a
 * virtual module `packages/<pkg>/.examples/<Module>.example<N>.ts`, served from
 * memory, so that it resolves `@effect-resilience/core` and `effect` exactly as
 * a file of that package would. Failures point at the line in `src`.
 */
import { assert, beforeAll, describe, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import ts from "typescript"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..")
const packagesDir = path.join(root, "packages")

const relative = (file: string): string => path.relative(root, file).split(path.sep).join("/")

// ---------------------------------------------------------------------------
// Public modules
// ---------------------------------------------------------------------------

interface Module {
  /** Absolute path of the source file. */
  readonly file: string
  /** Path relative to the repository root, e.g. `packages/core/src/Backoff.ts`. */
  readonly name: string
  /** Absolute path of the package directory. */
  readonly packageDir: string
  /** Path relative to `src`, without `.ts`, e.g. `Backoff`. */
  readonly modulePath: string
  readonly text: string
}

const sourceFilesUnder = (dir: string): Array<string> =>
  fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const file = path.join(dir, entry.name)
    if (entry.isDirectory()) {
      return entry.name === "internal" ? [] : sourceFilesUnder(file)
    }
    return entry.isFile() && entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts") && entry.name !== "index.ts"
      ? [file]
      : []
  })

const isPrivatePackage = (packageDir: string): boolean => {
  const manifest = path.join(packageDir, "package.json")
  return fs.existsSync(manifest) && JSON.parse(fs.readFileSync(manifest, "utf8")).private === true
}

const modules: ReadonlyArray<Module> = fs.readdirSync(packagesDir, { withFileTypes: true })
  .filter((entry) => entry.isDirectory() && fs.existsSync(path.join(packagesDir, entry.name, "src")))
  // Private packages (the demo, the benchmarks) are programs, not public API.
  .filter((entry) => !isPrivatePackage(path.join(packagesDir, entry.name)))
  .flatMap((entry) => {
    const packageDir = path.join(packagesDir, entry.name)
    const srcDir = path.join(packageDir, "src")
    return sourceFilesUnder(srcDir).map((file): Module => ({
      file,
      name: relative(file),
      packageDir,
      modulePath: path.relative(srcDir, file).slice(0, -".ts".length).split(path.sep).join("/"),
      text: fs.readFileSync(file, "utf8")
    }))
  })
  .sort((a, b) => a.name.localeCompare(b.name))

// ---------------------------------------------------------------------------
// Examples
// ---------------------------------------------------------------------------

interface Example {
  readonly module: Module
  /** 1-based index of the example within its module. */
  readonly index: number
  /** Absolute path of the virtual file the example is compiled as. */
  readonly virtualFile: string
  /** 1-based line of the opening fence in the source module. */
  readonly fenceLine: number
  /** Width of the stripped ` * ` prefix of each example line, to map columns back. */
  readonly prefixWidths: ReadonlyArray<number>
  readonly code: string
}

/**
 * Every `/** ... *\/` comment of a file, with its offset. Comments are read from the
 * trivia of every token of the parsed file, so a `/**` inside a string or template never counts.
 */
const jsDocComments = (file: string, text: string): Array<{ readonly pos: number; readonly text: string }> => {
  const sourceFile = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true)
  const comments = new Map<number, string>()
  const visit = (node: ts.Node): void => {
    for (const range of ts.getLeadingCommentRanges(text, node.getFullStart()) ?? []) {
      const comment = text.slice(range.pos, range.end)
      if (range.kind === ts.SyntaxKind.MultiLineCommentTrivia && comment.startsWith("/**")) {
        comments.set(range.pos, comment)
      }
    }
    node.getChildren(sourceFile).forEach(visit)
  }
  visit(sourceFile)
  return Array.from(comments, ([pos, text]) => ({ pos, text })).sort((a, b) => a.pos - b.pos)
}

const lineOf = (text: string, pos: number): number => text.slice(0, pos).split("\n").length

const openingFence = /^```(?:ts|typescript)\s*$/
const closingFence = /^```\s*$/

const extractExamples = (module: Module): Array<Example> => {
  const examples: Array<Example> = []
  for (const comment of jsDocComments(module.file, module.text)) {
    const firstLine = lineOf(module.text, comment.pos)
    // Strip `/**`, `*/` and the leading ` * ` of every line, remembering its width.
    const lines = comment.text.split("\n").map((raw, i) => {
      let line = raw.replace(/\r$/, "")
      let width = 0
      if (i === 0) {
        width = 3
        line = line.slice(3)
      }
      const prefix = /^\s*\*(?!\/) ?/.exec(line)
      if (prefix !== null) {
        width += prefix[0].length
        line = line.slice(prefix[0].length)
      }
      line = line.replace(/\s*\*\/$/, "")
      return { line, width }
    })
    let open: number | undefined
    for (let i = 0; i < lines.length; i++) {
      if (open === undefined) {
        if (openingFence.test(lines[i].line.trim())) open = i
      } else if (closingFence.test(lines[i].line.trim())) {
        const body = lines.slice(open + 1, i)
        const index = examples.length + 1
        examples.push({
          module,
          index,
          virtualFile: path.join(module.packageDir, ".examples", `${module.modulePath}.example${index}.ts`),
          fenceLine: firstLine + open,
          prefixWidths: body.map((l) => l.width),
          code: body.map((l) => l.line).join("\n") + "\n"
        })
        open = undefined
      }
    }
    if (open !== undefined) {
      throw new Error(`${module.name}:${firstLine + open}: unterminated \`\`\`ts block`)
    }
  }
  return examples
}

const examplesByModule = new Map(modules.map((module) => [module, extractExamples(module)]))
const examples = Array.from(examplesByModule.values()).flat()
const examplesByFile = new Map(examples.map((example) => [path.normalize(example.virtualFile), example]))

// ---------------------------------------------------------------------------
// One program for all examples
// ---------------------------------------------------------------------------

const formatHost: ts.FormatDiagnosticsHost = {
  getCanonicalFileName: (fileName) => fileName,
  getCurrentDirectory: () => root,
  getNewLine: () => "\n"
}

const compilerOptions = (): ts.CompilerOptions => {
  const configFile = path.join(root, "tsconfig.base.json")
  const { config, error } = ts.readConfigFile(configFile, ts.sys.readFile)
  if (error !== undefined) {
    throw new Error(ts.formatDiagnostic(error, formatHost))
  }
  // Only the compiler options matter: do not let the parser enumerate the repository for inputs.
  const parseHost: ts.ParseConfigHost = { ...ts.sys, readDirectory: () => [] }
  const parsed = ts.parseJsonConfigFileContent(config, parseHost, root, undefined, configFile)
  const noInputs = 18003
  const errors = parsed.errors.filter((d) => d.code !== noInputs)
  if (errors.length > 0) {
    throw new Error(ts.formatDiagnostics(errors, formatHost))
  }
  return {
    ...parsed.options,
    noEmit: true,
    composite: false,
    declaration: false,
    declarationMap: false,
    sourceMap: false,
    incremental: false,
    emitDeclarationOnly: false,
    noUnusedLocals: false
  }
}

const createProgram = (): ts.Program => {
  const options = compilerOptions()
  const host = ts.createCompilerHost(options, true)
  const virtual = (fileName: string) => examplesByFile.get(path.normalize(fileName))
  const { fileExists, getSourceFile, readFile } = host
  host.fileExists = (fileName) => virtual(fileName) !== undefined || fileExists.call(host, fileName)
  host.readFile = (fileName) => virtual(fileName)?.code ?? readFile.call(host, fileName)
  host.getSourceFile = (fileName, languageVersionOrOptions, onError, shouldCreate) => {
    const example = virtual(fileName)
    return example !== undefined
      ? ts.createSourceFile(fileName, example.code, languageVersionOrOptions, true)
      : getSourceFile.call(host, fileName, languageVersionOrOptions, onError, shouldCreate)
  }
  return ts.createProgram({ rootNames: examples.map((example) => example.virtualFile), options, host })
}

// ---------------------------------------------------------------------------
// Reporting
// ---------------------------------------------------------------------------

const category = (diagnostic: ts.Diagnostic): string => ts.DiagnosticCategory[diagnostic.category].toLowerCase()

const message = (diagnostic: ts.Diagnostic): string =>
  ts.flattenDiagnosticMessageText(diagnostic.messageText, "\n").split("\n").join("\n      ")

/** A diagnostic located in the source module: `file:line:column - error TSxxxx: message`, then the offending line. */
const describeDiagnostic = (example: Example, diagnostic: ts.Diagnostic): string => {
  const code = `${category(diagnostic)} TS${diagnostic.code}`
  if (diagnostic.file === undefined || diagnostic.start === undefined) {
    return `    ${code}: ${message(diagnostic)}`
  }
  if (path.normalize(diagnostic.file.fileName) !== path.normalize(example.virtualFile)) {
    const { character, line } = diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start)
    return `    ${relative(diagnostic.file.fileName)}:${line + 1}:${character + 1} - ${code}: ${message(diagnostic)}`
  }
  const { character, line } = diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start)
  const sourceLine = example.fenceLine + 1 + line
  const column = character + 1 + (example.prefixWidths[line] ?? 0)
  const snippet = example.code.split("\n")[line] ?? ""
  return `    ${example.module.name}:${sourceLine}:${column} - ${code}: ${
    message(diagnostic)
  }\n      > ${snippet.trim()}`
}

// ---------------------------------------------------------------------------
// Exports without JSDoc
// ---------------------------------------------------------------------------

const isExported = (statement: ts.Statement): boolean =>
  ts.canHaveModifiers(statement) &&
  (ts.getModifiers(statement) ?? []).some((modifier) => modifier.kind === ts.SyntaxKind.ExportKeyword)

const declaredNames = (statement: ts.Statement): Array<string> => {
  if (ts.isVariableStatement(statement)) {
    return statement.declarationList.declarations.map((declaration) => declaration.name.getText())
  }
  if (
    ts.isFunctionDeclaration(statement) || ts.isClassDeclaration(statement) ||
    ts.isInterfaceDeclaration(statement) || ts.isTypeAliasDeclaration(statement) ||
    ts.isEnumDeclaration(statement) || ts.isModuleDeclaration(statement)
  ) {
    return [statement.name?.getText() ?? "default"]
  }
  return []
}

/** The exports of a module whose declaration has no `/** ... *\/` directly above it (no blank line between). */
const undocumentedExports = (module: Module): Array<string> => {
  const sourceFile = ts.createSourceFile(module.file, module.text, ts.ScriptTarget.Latest, true)
  const overloaded = new Set<string>()
  const missing: Array<string> = []
  for (const statement of sourceFile.statements) {
    const names = ts.isExportAssignment(statement) ? ["default"] : isExported(statement) ? declaredNames(statement) : []
    if (names.length === 0) continue
    // Overloads: the first signature carries the documentation.
    if (ts.isFunctionDeclaration(statement)) {
      if (overloaded.has(names[0])) continue
      overloaded.add(names[0])
    }
    const comments = ts.getLeadingCommentRanges(module.text, statement.getFullStart()) ?? []
    const last = comments.at(-1)
    const documented = last !== undefined &&
      module.text.startsWith("/**", last.pos) &&
      !module.text.startsWith("/**/", last.pos) &&
      module.text.slice(last.end, statement.getStart()).split("\n").length <= 2
    if (!documented) {
      const line = sourceFile.getLineAndCharacterOfPosition(statement.getStart()).line + 1
      missing.push(`${module.name}:${line} - ${names.join(", ")}`)
    }
  }
  return missing
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

const timeout = 60_000

describe("JSDoc examples", () => {
  let program: ts.Program

  beforeAll(() => {
    program = createProgram()
  }, timeout)

  it("finds public modules and examples", () => {
    assert.isAbove(modules.length, 0, `no public modules under ${relative(packagesDir)}/*/src`)
    assert.isAbove(examples.length, 0, "no ```ts examples found in the JSDoc of the public modules")
    // Every opening fence written in a JSDoc line was extracted (guards the extraction itself).
    for (const [module, moduleExamples] of examplesByModule) {
      const fences = module.text.split("\n").flatMap((line, i) =>
        /^\s*\*\s*```(?:ts|typescript)\s*$/.test(line) ? [i + 1] : []
      )
      assert.deepStrictEqual(moduleExamples.map((example) => example.fenceLine), fences, module.name)
    }
  })

  it("compiler options and globals are valid", () => {
    const diagnostics = [...program.getOptionsDiagnostics(), ...program.getGlobalDiagnostics()]
    assert.strictEqual(ts.formatDiagnostics(diagnostics, formatHost), "")
  }, timeout)

  for (const [module, moduleExamples] of examplesByModule) {
    if (moduleExamples.length === 0) continue
    it(`${module.name}: ${moduleExamples.length} example(s) type-check`, () => {
      const failures = moduleExamples.flatMap((example) => {
        const sourceFile = program.getSourceFile(example.virtualFile)
        if (sourceFile === undefined) {
          return [`  ${example.module.name}:${example.fenceLine} (example #${example.index}): not in the program`]
        }
        // Type errors in code that does not parse are noise: report the syntax errors alone.
        const syntactic = program.getSyntacticDiagnostics(sourceFile)
        const diagnostics = syntactic.length > 0 ? syntactic : program.getSemanticDiagnostics(sourceFile)
        return diagnostics.length === 0 ? [] : [
          [
            `  ${example.module.name}:${example.fenceLine} (example #${example.index}, ` +
            `compiled as ${relative(example.virtualFile)}):`,
            ...diagnostics.map((diagnostic) => describeDiagnostic(example, diagnostic))
          ].join("\n")
        ]
      })
      if (failures.length > 0) {
        assert.fail(
          `${failures.length} of ${moduleExamples.length} examples in ${module.name} do not type-check:\n\n` +
            failures.join("\n\n")
        )
      }
    }, timeout)
  }
})

describe("JSDoc", () => {
  it("every export of a public module has a JSDoc block directly above it", () => {
    const missing = modules.flatMap(undocumentedExports)
    if (missing.length > 0) {
      assert.fail(`${missing.length} exports have no JSDoc block directly above them:\n  ${missing.join("\n  ")}`)
    }
  })
})
