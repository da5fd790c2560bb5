/**
 * GlusterFS volfiles: the text that declares a translator graph, one `volume ... end-volume` block
 * per translator. The lexer and grammar follow libglusterfs `graph.l` / `graph.y`, and so do the
 * error texts and line numbers.
 *
 * ```
 * volume vol-posix
 *     type storage/posix
 *     option directory /path/to/brick
 * end-volume
 *
 * volume vol-glupy
 *     type features/glupy
 *     option module-name debug-trace
 *     subvolumes vol-posix
 * end-volume
 * ```
 *
 * Where this parser differs from GlusterFS (each on purpose):
 * - Backticks are ordinary characters. GlusterFS runs backticked text through a shell before
 *   parsing; Switchyard never executes anything from a volfile.
 * - An undefined or self-referencing subvolume is an error. GlusterFS logs these and goes on
 *   without the child.
 * - A `\` outside quotes and an empty quoted string `""` are errors. GlusterFS drops the
 *   backslash, which splits the word there, and ignores an empty string.
 * - A missing `end-volume` at the end of the file uses GlusterFS's "'end-volume' not defined"
 *   text. GlusterFS reports a syntax error on an empty token there.
 * - In a syntax error, a quoted token is shown as written. GlusterFS shows only its closing `"`.
 * - A block may hold `type` alone. graph.y wants an option or a subvolumes line after it, because
 *   every GlusterFS leaf needs options; storage/memory and user leaves may need none.
 * @module
 */
import { open } from 'node:fs/promises';
import { VolfileError } from '../errors.ts';

/** One `volume <name> ... end-volume` block. */
export interface VolumeDecl {
  readonly name: string;
  /** The translator type, e.g. `storage/posix`. It is not checked here: the graph builder checks it. */
  readonly type: string;
  /** `option <key> <value>` lines. When a key repeats, the last value wins, as in GlusterFS. The object has no prototype. */
  readonly options: Record<string, string>;
  /** Names from the `subvolumes` line, in order, repeats kept. Each one is declared earlier in the file. */
  readonly subvolumes: readonly string[];
  /** The 1-based line of the `volume` keyword. */
  readonly line: number;
}

/** A parsed volfile. Every object in it is frozen. */
export interface VolfileSpec {
  /** The volumes in file order. */
  readonly volumes: readonly VolumeDecl[];
  /** The top of the graph: the last volume in the file, as in GlusterFS. */
  readonly top: VolumeDecl;
}

/** The largest volfile accepted: 4 MiB. Real volfiles are a few KiB. */
export const MAX_VOLFILE_BYTES = 4 * 1024 * 1024;

const ALLOWED_TOKENS = "allowed tokens are 'volume', 'type', 'subvolumes', 'option', 'end-volume'";

/**
 * GlusterFS's text for a translator type that cannot be loaded (`volume_type()` in `graph.y`).
 * With `where`, it gives the whole line GlusterFS logs. The parser never checks types: the graph
 * builder uses this text when it rejects one.
 * @example
 * typeNotFoundMessage('features/nope'); // "type 'features/nope' is not valid or not found on this machine"
 */
export function typeNotFoundMessage(type: string, where?: { readonly volume: string; readonly line: number }): string {
  const text = `type '${type}' is not valid or not found on this machine`;
  return where === undefined ? text : `Volume '${where.volume}', line ${where.line}: ${text}`;
}

/**
 * Parses volfile text.
 *
 * Returns the volumes in file order. The top is the last one. Throws {@link VolfileError} on the
 * first error. Its `detail` is GlusterFS's text, its `line` the line GlusterFS reports (or where
 * the error was found), and its `volume` the block being parsed. `options.source` (a file name)
 * goes in front of the message and into the error's `source`. Text over
 * {@link MAX_VOLFILE_BYTES} (UTF-8) is refused.
 * @example
 * const spec = parseVolfile('volume p\n type storage/posix\n option directory /b\nend-volume\n');
 * spec.top.options.directory; // '/b'
 */
export function parseVolfile(text: string, options: { source?: string | undefined } = {}): VolfileSpec {
  const size = Buffer.byteLength(text, 'utf8');
  if (size > MAX_VOLFILE_BYTES) throw tooLarge(options.source, size);
  return parseText(text, options.source);
}

/**
 * Reads a volfile (UTF-8) and parses it with `source = path`.
 *
 * Rejects with {@link VolfileError}. A file that cannot be read gives `errnoCode` (`'ENOENT'`...)
 * and the fs error as `cause`. A file over {@link MAX_VOLFILE_BYTES} is refused without being
 * read whole. Parse errors are as for {@link parseVolfile}.
 * @example
 * const spec = await loadVolfile('/etc/switchyard/brick.vol');
 * console.log(formatTree(spec));
 */
export async function loadVolfile(path: string): Promise<VolfileSpec> {
  let bytes: Buffer;
  try {
    bytes = await readBounded(path, MAX_VOLFILE_BYTES);
  } catch (err) {
    if (err instanceof VolfileError) throw err;
    const errnoCode = errnoCodeOf(err);
    const why = err instanceof Error ? err.message : String(err);
    throw new VolfileError(`cannot read the volfile: ${why}`, { source: path, errnoCode }, { cause: err });
  }
  return parseText(bytes.toString('utf8'), path);
}

async function readBounded(path: string, limit: number): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    const stats = await handle.stat();
    if (stats.isFile() && stats.size > limit) throw tooLarge(path, stats.size);
    // Read to the bound, not to the size from stat: a FIFO reports size 0 and a file can grow.
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const chunk = Buffer.allocUnsafe(64 * 1024);
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, null);
      if (bytesRead === 0) break;
      chunks.push(chunk.subarray(0, bytesRead));
      total += bytesRead;
      if (total > limit) throw tooLarge(path, undefined);
    }
    return Buffer.concat(chunks, total);
  } finally {
    await handle.close();
  }
}

function tooLarge(source: string | undefined, size: number | undefined): VolfileError {
  const what = size === undefined ? 'the volfile is larger than' : `the volfile is ${size} bytes, more than`;
  return new VolfileError(
    `${what} the ${MAX_VOLFILE_BYTES}-byte (4 MiB) limit; volfiles are normally a few KiB, so check that this is the right file`,
    { source },
  );
}

function errnoCodeOf(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string') return err.code;
  return undefined;
}

// ---- lexer (graph.l) ----

type TokenKind = 'volume' | 'type' | 'option' | 'subvolumes' | 'end-volume' | 'word' | 'eof';

interface Token {
  readonly kind: TokenKind;
  /** A word's value: quotes removed, escapes resolved. */
  readonly value: string;
  /** The text as written, for messages (empty at end of input, like flex's `yytext`). */
  readonly raw: string;
  /** flex's `yylineno` once the token is read: the line the token ends on. */
  readonly line: number;
}

// graph.l lists keywords before the catch-all word rule. So a run that spells a keyword exactly
// is that keyword, and a longer run (`volumes`, `end-volume2`) is a word. Keywords are
// lower-case, except the last letter of `subvolumeS`.
const KEYWORDS: ReadonlyMap<string, TokenKind> = new Map<string, TokenKind>([
  ['volume', 'volume'],
  ['type', 'type'],
  ['option', 'option'],
  ['end-volume', 'end-volume'],
  ['subvolumes', 'subvolumes'],
  ['subvolumeS', 'subvolumes'],
]);

const NL = 0x0a;
const CR = 0x0d;
const TAB = 0x09;
const SPACE = 0x20;
const QUOTE = 0x22;
const HASH = 0x23;
const BACKSLASH = 0x5c;

function endsWord(c: number): boolean {
  return c === SPACE || c === TAB || c === CR || c === NL || c === QUOTE || c === BACKSLASH;
}

class Lexer {
  readonly #text: string;
  readonly #source: string | undefined;
  #pos = 0;
  #line = 1;
  #pushedBack: Token | undefined;

  constructor(text: string, source: string | undefined) {
    this.#text = text;
    this.#source = source;
  }

  pushBack(token: Token): void {
    this.#pushedBack = token;
  }

  next(): Token {
    const pushed = this.#pushedBack;
    if (pushed !== undefined) {
      this.#pushedBack = undefined;
      return pushed;
    }
    const text = this.#text;
    while (this.#pos < text.length) {
      const c = text.charCodeAt(this.#pos);
      if (c === NL) {
        this.#line++;
        this.#pos++;
      } else if (c === SPACE || c === TAB || c === CR) {
        this.#pos++;
      } else if (c === HASH) {
        // `\#.*` is the first rule, and it always matches at least as far as a word would.
        // So a `#` that starts a token starts a comment. A `#` inside a word is part of it.
        const end = text.indexOf('\n', this.#pos);
        this.#pos = end === -1 ? text.length : end;
      } else if (c === QUOTE) {
        return this.#quoted();
      } else if (c === BACKSLASH) {
        throw new VolfileError(
          `Line ${this.#line}: '\\' outside a quoted string (GlusterFS drops it and splits the word there); ` +
            'put the value in double quotes and write \\\\ for a backslash',
          { source: this.#source, line: this.#line },
        );
      } else {
        const start = this.#pos;
        let end = start + 1;
        while (end < text.length && !endsWord(text.charCodeAt(end))) end++;
        this.#pos = end;
        const raw = text.slice(start, end);
        return { kind: KEYWORDS.get(raw) ?? 'word', value: raw, raw, line: this.#line };
      }
    }
    return { kind: 'eof', value: '', raw: '', line: this.#line };
  }

  #quoted(): Token {
    const text = this.#text;
    const start = this.#pos;
    const startLine = this.#line;
    let value = '';
    let chunk = start + 1;
    let i = chunk;
    for (;;) {
      if (i >= text.length) {
        throw new VolfileError(`Line ${startLine}: unterminated quoted string (the '"' opened here is never closed)`, {
          source: this.#source,
          line: startLine,
        });
      }
      const c = text.charCodeAt(i);
      if (c === QUOTE) break;
      if (c === BACKSLASH) {
        // `\\.` keeps the character after the backslash. `.` does not match a newline, so
        // flex's default rule drops a backslash before a newline, and the newline too.
        value += text.slice(chunk, i);
        if (i + 1 < text.length && text.charCodeAt(i + 1) !== NL) {
          value += text.charAt(i + 1);
          i += 2;
        } else {
          i += 1;
        }
        chunk = i;
      } else if (c === NL) {
        // No STRING rule matches a raw newline: flex drops it, so a quoted value joins its lines.
        value += text.slice(chunk, i);
        this.#line++;
        i++;
        chunk = i;
      } else {
        i++;
      }
    }
    value += text.slice(chunk, i);
    this.#pos = i + 1;
    if (value === '') {
      throw new VolfileError(`Line ${this.#line}: empty quoted string "" (GlusterFS ignores it); write a non-empty value`, {
        source: this.#source,
        line: this.#line,
      });
    }
    return { kind: 'word', value, raw: text.slice(start, i + 1), line: this.#line };
  }
}

// ---- grammar (graph.y) ----

function parseText(text: string, source: string | undefined): VolfileSpec {
  const lexer = new Lexer(text, source);
  const volumes: VolumeDecl[] = [];
  const declared = new Set<string>();
  for (;;) {
    const token = lexer.next();
    if (token.kind === 'eof') break;
    if (token.kind !== 'volume') throw syntaxErrorOutside(token, source);
    const nameToken = lexer.next();
    if (nameToken.kind !== 'word') throw syntaxErrorOutside(nameToken, source);
    const name = nameToken.value;
    if (declared.has(name)) {
      // new_volume(): the line is the name's, read just before the check.
      throw new VolfileError(`Line ${nameToken.line}: volume '${name}' defined again`, { source, line: nameToken.line, volume: name });
    }
    volumes.push(parseBlock(lexer, name, token.line, declared, source));
    declared.add(name);
  }
  const top = volumes[volumes.length - 1];
  if (top === undefined) {
    throw new VolfileError(
      "no volume defined: the volfile is empty or holds only comments (expected 'volume <name>' ... 'end-volume' blocks)",
      { source, line: lexer.next().line },
    );
  }
  return Object.freeze({ volumes: Object.freeze(volumes), top });
}

/**
 * Parses a block body after `volume <name>`, up to and including `end-volume`.
 *
 * graph.y's VOLUME_DATA allows: TYPE OPTS [SUB [OPTS]] | TYPE SUB [OPTS] | OPTS [SUB OPTS].
 * The last form has no type, so volume_end() rejects it at `end-volume`. graph.y also rejects
 * `type` alone; Switchyard accepts it, because leaves such as storage/memory need no option.
 */
function parseBlock(lexer: Lexer, name: string, line: number, declared: ReadonlySet<string>, source: string | undefined): VolumeDecl {
  const options: Record<string, string> = Object.create(null) as Record<string, string>;
  const subvolumes: string[] = [];
  let type: string | undefined;
  let optionsBefore = false;
  let optionsAfter = false;
  let hasSubvolumes = false;
  const fail = (detail: string, at: number): VolfileError => new VolfileError(detail, { source, line: at, volume: name });

  for (;;) {
    const token = lexer.next();
    switch (token.kind) {
      case 'type': {
        if (type !== undefined || optionsBefore || hasSubvolumes) throw syntaxErrorInside(token, name, source);
        const word = lexer.next();
        // type_error() etc. run when the next token is read, so "before line" is that token's line.
        if (word.kind !== 'word') throw fail(`Volume ${name}, before line ${word.line}: Please specify volume type`, word.line);
        type = word.value;
        break;
      }
      case 'option': {
        const key = lexer.next();
        if (key.kind !== 'word') throw fail(`Volume ${name}, before line ${key.line}: Please specify option <key> <value>`, key.line);
        const value = lexer.next();
        if (value.kind !== 'word') throw fail(`Volume ${name}, before line ${value.line}: Please specify option <key> <value>`, value.line);
        // dict_set_option() replaces an existing key: graph.y's "duplicate entry" branch never runs.
        options[key.value] = value.value;
        if (hasSubvolumes) optionsAfter = true;
        else optionsBefore = true;
        break;
      }
      case 'subvolumes': {
        if (hasSubvolumes || (type === undefined && !optionsBefore)) throw syntaxErrorInside(token, name, source);
        let word = lexer.next();
        if (word.kind !== 'word') throw fail(`Volume ${name}, before line ${word.line}: Please specify subvolumes`, word.line);
        while (word.kind === 'word') {
          const sub = word.value;
          // volume_sub() looks the name up among the volumes declared so far, this one included.
          if (sub === name) throw fail(`Volume '${name}', line ${word.line}: has '${sub}' itself as subvolume`, word.line);
          if (!declared.has(sub)) {
            throw fail(`Volume '${name}', line ${word.line}: subvolume '${sub}' is not defined prior to usage`, word.line);
          }
          subvolumes.push(sub);
          word = lexer.next();
        }
        lexer.pushBack(word);
        hasSubvolumes = true;
        break;
      }
      case 'end-volume': {
        const complete = type !== undefined ? true : optionsBefore && (!hasSubvolumes || optionsAfter);
        if (!complete) throw syntaxErrorInside(token, name, source);
        if (type === undefined) throw fail(`"type" not specified for volume ${name}`, token.line);
        return Object.freeze({ name, type, options: Object.freeze(options), subvolumes: Object.freeze(subvolumes), line });
      }
      case 'eof':
        throw fail(`'end-volume' not defined for volume '${name}'`, token.line);
      case 'volume':
      case 'word':
        throw syntaxErrorInside(token, name, source);
    }
  }
}

/** graphyyerror() inside a block: GlusterFS picks its text from the offending token's text. */
function syntaxErrorInside(token: Token, volume: string, source: string | undefined): VolfileError {
  const facts = { source, line: token.line, volume };
  switch (token.raw) {
    case 'volume':
      return new VolfileError(`'end-volume' not defined for volume '${volume}'`, facts);
    case 'type':
      return new VolfileError(`line ${token.line}: duplicate 'type' defined for volume '${volume}'`, facts);
    case 'subvolumes':
      return new VolfileError(`line ${token.line}: duplicate 'subvolumes' defined for volume '${volume}'`, facts);
    default:
      return new VolfileError(`syntax error: line ${token.line} (volume '${volume}'): "${token.raw}"\n${ALLOWED_TOKENS}()`, facts);
  }
}

/** graphyyerror() outside a block (GlusterFS's trailing newline dropped). */
function syntaxErrorOutside(token: Token, source: string | undefined): VolfileError {
  return new VolfileError(`syntax error in line ${token.line}: "${token.raw}"\n(${ALLOWED_TOKENS})`, { source, line: token.line });
}

// ---- writing ----

/** True when `word` must be quoted to read back as one word with the same value. */
function needsQuotes(word: string): boolean {
  return KEYWORDS.has(word) || word.startsWith('#') || /[ \t\r\n"\\`]/.test(word);
}

/**
 * Writes a word as volfile text. Backticks are quoted and escaped too. GlusterFS's preprocessor
 * would run a bare backtick pair as a shell command, and it leaves an escaped backtick alone.
 */
function quoteWord(word: string): string {
  return needsQuotes(word) ? `"${word.replace(/[\\"`]/g, '\\$&')}"` : word;
}

/**
 * Writes a spec as volfile text that {@link parseVolfile} reads back to an equal spec. The layout
 * is GlusterFS's: type, then options, then subvolumes, with a blank line between blocks.
 *
 * Throws {@link VolfileError} for a spec no volfile can express. That is: no volumes, a top that
 * is not the last volume, a name declared twice, a subvolume not declared before use or naming
 * itself, or an empty word or a newline in any word.
 */
export function formatVolfile(spec: VolfileSpec): string {
  const last = spec.volumes[spec.volumes.length - 1];
  if (last === undefined) throw new VolfileError('cannot write a volfile without volumes', {});
  if (last.name !== spec.top.name) {
    throw new VolfileError(
      `the top volume '${spec.top.name}' is not the last volume ('${last.name}'); GlusterFS takes the last volume in the file as the top`,
      { volume: spec.top.name },
    );
  }
  const declared = new Set<string>();
  const blocks: string[] = [];
  for (const volume of spec.volumes) {
    const name = volume.name;
    const word = (value: string, what: string): string => {
      if (value === '') throw new VolfileError(`volume '${name}': the ${what} is empty, which a volfile cannot hold`, { volume: name });
      if (value.includes('\n')) {
        throw new VolfileError(`volume '${name}': the ${what} contains a newline, which a volfile cannot hold`, { volume: name });
      }
      return quoteWord(value);
    };
    if (declared.has(name)) throw new VolfileError(`volume '${name}' is declared twice`, { volume: name });
    const lines = [`volume ${word(name, 'name')}`, `    type ${word(volume.type, 'type')}`];
    const entries = Object.entries(volume.options);
    for (const [key, value] of entries) lines.push(`    option ${word(key, `key of option '${key}'`)} ${word(value, `value of option '${key}'`)}`);
    if (volume.subvolumes.length > 0) {
      for (const sub of volume.subvolumes) {
        if (sub === name) throw new VolfileError(`volume '${name}' has '${sub}' itself as subvolume`, { volume: name });
        if (!declared.has(sub)) throw new VolfileError(`volume '${name}': subvolume '${sub}' is not defined prior to usage`, { volume: name });
      }
      lines.push(`    subvolumes ${volume.subvolumes.map((sub) => word(sub, 'subvolume name')).join(' ')}`);
    }
    lines.push('end-volume');
    blocks.push(lines.join('\n'));
    declared.add(name);
  }
  return `${blocks.join('\n\n')}\n`;
}

/** Options of {@link formatTree}. */
export interface FormatTreeOptions {
  /** Stop after this many lines and add a last line saying so (default 10,000). */
  readonly maxLines?: number | undefined;
}

/**
 * Draws the graph from the top, one volume per line: `name (type) key=value ...`. Values are
 * written as in a volfile, quoted when needed. Children are indented with `├─ `, `└─ ` and `│  `.
 * A volume with two parents is drawn under each. The output ends with a newline.
 *
 * A hand-built spec that names an undeclared child shows `name (not defined)`. A cycle shows
 * `name (cycle)`. The tree can be much larger than the file, because shared children repeat. It
 * stops at `maxLines` or at 4 MiB of text.
 * @example
 * formatTree(spec);
 * // vol-glupy (features/glupy) module-name=debug-trace
 * // └─ vol-posix (storage/posix) directory=/path/to/brick
 */
export function formatTree(spec: VolfileSpec, options: FormatTreeOptions = {}): string {
  const maxLines = options.maxLines ?? 10_000;
  const maxChars = MAX_VOLFILE_BYTES;
  const byName = new Map<string, VolumeDecl>();
  for (const volume of spec.volumes) byName.set(volume.name, volume);

  const out: string[] = [];
  let chars = 0;
  // An explicit stack rather than recursion: a long chain of volumes must not overflow the call stack.
  interface Frame {
    readonly volume: VolumeDecl;
    readonly prefix: string;
    next: number;
  }
  // The volumes on the stack are the path from the top, so this set always mirrors it.
  const onPath = new Set<string>();
  const describe = (volume: VolumeDecl): string => {
    const opts = Object.entries(volume.options).map(([k, v]) => ` ${quoteWord(k)}=${quoteWord(v)}`);
    return `${volume.name} (${volume.type})${opts.join('')}`;
  };
  const emit = (line: string): boolean => {
    if (out.length >= maxLines || chars + line.length > maxChars) {
      out.push(`… tree truncated after ${out.length} lines`);
      return false;
    }
    out.push(line);
    chars += line.length + 1;
    return true;
  };

  if (!emit(describe(spec.top))) return `${out.join('\n')}\n`;
  const stack: Frame[] = [{ volume: spec.top, prefix: '', next: 0 }];
  onPath.add(spec.top.name);
  for (;;) {
    const frame = stack[stack.length - 1];
    if (frame === undefined) break;
    const subs = frame.volume.subvolumes;
    const name = subs[frame.next];
    if (name === undefined) {
      stack.pop();
      onPath.delete(frame.volume.name);
      continue;
    }
    frame.next++;
    const isLast = frame.next === subs.length;
    const branch = `${frame.prefix}${isLast ? '└─ ' : '├─ '}`;
    const child = byName.get(name);
    const cycle = onPath.has(name);
    const label = child === undefined ? `${name} (not defined)` : cycle ? `${name} (cycle)` : describe(child);
    if (!emit(branch + label)) break;
    if (child !== undefined && !cycle && child.subvolumes.length > 0) {
      stack.push({ volume: child, prefix: `${frame.prefix}${isLast ? '   ' : '│  '}`, next: 0 });
      onPath.add(name);
    }
  }
  return `${out.join('\n')}\n`;
}
