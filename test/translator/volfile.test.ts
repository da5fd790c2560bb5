import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { SwitchyardError, VolfileError } from '../../src/errors.ts';
import {
  formatTree,
  formatVolfile,
  loadVolfile,
  MAX_VOLFILE_BYTES,
  parseVolfile,
  typeNotFoundMessage,
  type VolfileSpec,
  type VolumeDecl,
} from '../../src/translator/volfile.ts';

/** glupy's `doc/test.vol`, byte for byte (from af7e957b, the last tree with glupy). */
const TEST_VOL = `volume vol-posix
    type storage/posix
    option directory /path/to/brick
end-volume

volume vol-glupy
    type features/glupy
    option module-name debug-trace
    subvolumes vol-posix
end-volume
`;

const ALLOWED = "allowed tokens are 'volume', 'type', 'subvolumes', 'option', 'end-volume'";

/** The options as a plain object (the parser's have no prototype), for deepEqual. */
function opts(decl: VolumeDecl): Record<string, string> {
  return { ...decl.options };
}

function volume(spec: VolfileSpec, name: string): VolumeDecl {
  const decl = spec.volumes.find((v) => v.name === name);
  assert.ok(decl, `volume ${name} not found`);
  return decl;
}

/** Asserts that parsing `text` throws a VolfileError with exactly this detail, line and volume. */
function assertParseError(text: string, detail: string, line: number | undefined, volumeName: string | undefined): void {
  assert.throws(
    () => parseVolfile(text, { source: 'bad.vol' }),
    (err: unknown) => {
      assert.ok(err instanceof VolfileError, `expected VolfileError, got ${String(err)}`);
      assert.equal(err.detail, detail);
      assert.equal(err.message, `bad.vol: ${detail}`);
      assert.equal(err.line, line);
      assert.equal(err.volume, volumeName);
      assert.equal(err.source, 'bad.vol');
      return true;
    },
  );
}

const POSIX = 'volume p\n  type storage/posix\n  option directory /b\nend-volume\n';

test('volfile - a block with type alone is accepted (a leaf that needs no option)', () => {
  const spec = parseVolfile('volume m\n  type storage/memory\nend-volume\n');
  assert.equal(spec.top.type, 'storage/memory');
  assert.deepEqual({ ...spec.top.options }, {});
  assert.equal(parseVolfile(formatVolfile(spec)).top.name, 'm');
});

test('volfile - G1 doc/test.vol: top vol-glupy over leaf vol-posix', () => {
  const spec = parseVolfile(TEST_VOL);
  assert.deepEqual(
    spec.volumes.map((v) => v.name),
    ['vol-posix', 'vol-glupy'],
  );
  assert.equal(spec.top.name, 'vol-glupy');
  assert.equal(spec.top.type, 'features/glupy');
  assert.deepEqual(opts(spec.top), { 'module-name': 'debug-trace' });
  assert.deepEqual(spec.top.subvolumes, ['vol-posix']);
  assert.equal(spec.top.line, 6);
  const posix = volume(spec, 'vol-posix');
  assert.equal(posix.type, 'storage/posix');
  assert.deepEqual(opts(posix), { directory: '/path/to/brick' });
  assert.deepEqual(posix.subvolumes, []);
  assert.equal(posix.line, 1);
  assert.equal(spec.top, spec.volumes[1]);
});

test('volfile - the top is the last volume in the file, not the one without parents', () => {
  const text = `${POSIX}volume a\n type debug/trace\n subvolumes p\nend-volume\nvolume b\n type debug/trace\n subvolumes p\nend-volume\n`;
  assert.equal(parseVolfile(text).top.name, 'b');
});

test('volfile - results are frozen and options have no prototype', () => {
  const spec = parseVolfile(TEST_VOL);
  assert.ok(Object.isFrozen(spec));
  assert.ok(Object.isFrozen(spec.volumes));
  assert.ok(Object.isFrozen(spec.top));
  assert.ok(Object.isFrozen(spec.top.options));
  assert.ok(Object.isFrozen(spec.top.subvolumes));
  assert.equal(Object.getPrototypeOf(spec.top.options), null);
  const proto = parseVolfile('volume p\n type t\n option __proto__ x\n option toString y\nend-volume\n');
  assert.deepEqual(Object.entries(proto.top.options), [
    ['__proto__', 'x'],
    ['toString', 'y'],
  ]);
});

test('volfile - loadVolfile reads a file and errors carry its path', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'switchyard-volfile-'));
  try {
    const good = join(dir, 'test.vol');
    await writeFile(good, TEST_VOL);
    const spec = await loadVolfile(good);
    assert.equal(spec.top.name, 'vol-glupy');
    assert.deepEqual(opts(volume(spec, 'vol-posix')), { directory: '/path/to/brick' });

    const bad = join(dir, 'bad.vol');
    await writeFile(bad, 'volume a\n  type storage/posix\n  option directory\nend-volume\n');
    await assert.rejects(loadVolfile(bad), (err: unknown) => {
      assert.ok(err instanceof VolfileError);
      assert.equal(err.message, `${bad}: Volume a, before line 4: Please specify option <key> <value>`);
      assert.equal(err.source, bad);
      assert.equal(err.line, 4);
      assert.equal(err.errnoCode, undefined);
      return true;
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('volfile - loadVolfile of a missing file gives the errno code and the cause', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'switchyard-volfile-'));
  try {
    const missing = join(dir, 'nope.vol');
    await assert.rejects(loadVolfile(missing), (err: unknown) => {
      assert.ok(err instanceof VolfileError);
      assert.ok(err instanceof SwitchyardError);
      assert.equal(err.code, 'SWITCHYARD_ERR_VOLFILE');
      assert.equal(err.name, 'VolfileError');
      assert.equal(err.errnoCode, 'ENOENT');
      assert.equal(err.source, missing);
      assert.ok(err.cause instanceof Error);
      assert.equal((err.cause as NodeJS.ErrnoException).code, 'ENOENT');
      assert.ok(err.message.startsWith(`${missing}: cannot read the volfile: ENOENT`), err.message);
      return true;
    });
    await assert.rejects(loadVolfile(dir), (err: unknown) => {
      assert.ok(err instanceof VolfileError);
      assert.equal(err.errnoCode, 'EISDIR');
      return true;
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('volfile - input over 4 MiB is refused, exactly 4 MiB is read', async () => {
  assert.equal(MAX_VOLFILE_BYTES, 4 * 1024 * 1024);
  const padded = POSIX + '#'.padEnd(MAX_VOLFILE_BYTES - POSIX.length, 'x');
  assert.equal(Buffer.byteLength(padded), MAX_VOLFILE_BYTES);
  assert.equal(parseVolfile(padded).top.name, 'p');
  const tooBig = `${padded}\n`;
  assert.throws(
    () => parseVolfile(tooBig, { source: 'big.vol' }),
    (err: unknown) => {
      assert.ok(err instanceof VolfileError);
      assert.equal(
        err.message,
        `big.vol: the volfile is ${MAX_VOLFILE_BYTES + 1} bytes, more than the 4194304-byte (4 MiB) limit; ` +
          'volfiles are normally a few KiB, so check that this is the right file',
      );
      return true;
    },
  );
  // The limit counts UTF-8 bytes, not string length.
  const wide = POSIX + '#'.padEnd(MAX_VOLFILE_BYTES / 2, 'é');
  assert.throws(() => parseVolfile(wide), VolfileError);

  const dir = await mkdtemp(join(tmpdir(), 'switchyard-volfile-'));
  try {
    const file = join(dir, 'big.vol');
    await writeFile(file, tooBig);
    await assert.rejects(loadVolfile(file), (err: unknown) => {
      assert.ok(err instanceof VolfileError);
      assert.equal(err.source, file);
      assert.match(err.detail, /^the volfile is 4194305 bytes, more than the 4194304-byte \(4 MiB\) limit/);
      return true;
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('volfile - an empty file or one with only comments is an error', () => {
  const detail = "no volume defined: the volfile is empty or holds only comments (expected 'volume <name>' ... 'end-volume' blocks)";
  assertParseError('', detail, 1, undefined);
  assertParseError('# nothing here\n\n  # still nothing\n', detail, 4, undefined);
});

// ---- G2: errors, with GlusterFS's exact texts and line numbers ----

test('volfile - G2 a redefined volume name', () => {
  assertParseError(`${POSIX}\nvolume p\n  type debug/trace\n  subvolumes p\nend-volume\n`, "Line 6: volume 'p' defined again", 6, 'p');
});

test('volfile - G2 a block without type', () => {
  // Options only: graph.y accepts the shape and volume_end() rejects it.
  assertParseError('volume a\n  option directory /b\nend-volume\n', '"type" not specified for volume a', 3, 'a');
  assertParseError(
    `${POSIX}volume a\n  option x y\n  subvolumes p\n  option z w\nend-volume\n`,
    '"type" not specified for volume a',
    9,
    'a',
  );
});

test('volfile - G2 a subvolume defined after use', () => {
  const text = [
    'volume top',
    '  type features/glupy',
    '  option module-name debug-trace',
    '  subvolumes later-vol',
    'end-volume',
    'volume later-vol',
    '  type storage/posix',
    '  option directory /b',
    'end-volume',
  ].join('\n');
  assertParseError(text, "Volume 'top', line 4: subvolume 'later-vol' is not defined prior to usage", 4, 'top');
});

test('volfile - G2 a volume that names itself as subvolume', () => {
  assertParseError(
    `${POSIX}volume loop\n  type debug/trace\n  subvolumes p\n    loop\nend-volume\n`,
    "Volume 'loop', line 8: has 'loop' itself as subvolume",
    8,
    'loop',
  );
});

test('volfile - G2 option without a value, or without a key', () => {
  // "before line N": GlusterFS reports the line of the token after the incomplete option.
  assertParseError(
    'volume a\n  type storage/posix\n  option directory\nend-volume\n',
    'Volume a, before line 4: Please specify option <key> <value>',
    4,
    'a',
  );
  assertParseError(
    'volume a\n  type storage/posix\n  option\n  option k v\nend-volume\n',
    'Volume a, before line 4: Please specify option <key> <value>',
    4,
    'a',
  );
  // A keyword is never a word: `option type x` has no key.
  assertParseError('volume a\n  type t\n  option type x\nend-volume\n', 'Volume a, before line 3: Please specify option <key> <value>', 3, 'a');
  assertParseError('volume a\n  type t\n  option k', 'Volume a, before line 3: Please specify option <key> <value>', 3, 'a');
});

test('volfile - G2 two subvolumes lines, two type lines', () => {
  assertParseError(
    `${POSIX}volume a\n  type debug/trace\n  subvolumes p\n  subvolumes p\nend-volume\n`,
    "line 8: duplicate 'subvolumes' defined for volume 'a'",
    8,
    'a',
  );
  assertParseError(
    'volume a\n  type storage/posix\n  option directory /b\n  type storage/posix\nend-volume\n',
    "line 4: duplicate 'type' defined for volume 'a'",
    4,
    'a',
  );
});

test('volfile - G2 a missing end-volume', () => {
  assertParseError(
    'volume a\n  type storage/posix\n  option directory /b\n\nvolume b\n  type debug/trace\n  subvolumes a\nend-volume\n',
    "'end-volume' not defined for volume 'a'",
    5,
    'a',
  );
  assertParseError("volume a\n  type storage/posix\n  option directory /b\n", "'end-volume' not defined for volume 'a'", 4, 'a');
});

test('volfile - syntax errors inside and outside a block', () => {
  assertParseError(
    'volume a\n  type storage/posix\n  option directory /b extra\nend-volume\n',
    `syntax error: line 3 (volume 'a'): "extra"\n${ALLOWED}()`,
    3,
    'a',
  );
  assertParseError(`option directory /b\n`, `syntax error in line 1: "option"\n(${ALLOWED})`, 1, undefined);
  assertParseError(`${POSIX}garbage\n`, `syntax error in line 5: "garbage"\n(${ALLOWED})`, 5, undefined);
  assertParseError('volume\nend-volume\n', `syntax error in line 2: "end-volume"\n(${ALLOWED})`, 2, undefined);
  // Keywords are lower-case only.
  assertParseError('Volume a\n', `syntax error in line 1: "Volume"\n(${ALLOWED})`, 1, undefined);
  assertParseError(
    'volume a\n  Type storage/posix\nend-volume\n',
    `syntax error: line 2 (volume 'a'): "Type"\n${ALLOWED}()`,
    2,
    'a',
  );
  // `subvolume` without the s is a plain word.
  assertParseError(
    `${POSIX}volume a\n  type debug/trace\n  subvolume p\nend-volume\n`,
    `syntax error: line 7 (volume 'a'): "subvolume"\n${ALLOWED}()`,
    7,
    'a',
  );
  // A quoted token is shown as written.
  assertParseError(
    'volume a\n  type t\n  option k v "w x"\nend-volume\n',
    `syntax error: line 3 (volume 'a'): ""w x""\n${ALLOWED}()`,
    3,
    'a',
  );
});

test('volfile - type, subvolumes or a name missing its word', () => {
  assertParseError('volume a\n  type\n  option k v\nend-volume\n', 'Volume a, before line 3: Please specify volume type', 3, 'a');
  assertParseError(`${POSIX}volume a\n  type t\n  subvolumes\nend-volume\n`, 'Volume a, before line 8: Please specify subvolumes', 8, 'a');
  // A block that starts with `subvolumes` (no type): GlusterFS's token-text rule calls it a duplicate.
  assertParseError(`${POSIX}volume a\n  subvolumes p\nend-volume\n`, "line 6: duplicate 'subvolumes' defined for volume 'a'", 6, 'a');
});

test('volfile - stray backslash, unterminated and empty quotes are errors', () => {
  assertParseError(
    'volume a\n  type t\n  option path C:\\dir\nend-volume\n',
    "Line 3: '\\' outside a quoted string (GlusterFS drops it and splits the word there); put the value in double quotes and write \\\\ for a backslash",
    3,
    undefined,
  );
  assertParseError('volume a\n  type t\n  option k "open\nend-volume\n', `Line 3: unterminated quoted string (the '"' opened here is never closed)`, 3, undefined);
  assertParseError('volume a\n  type t\n  option k ""\nend-volume\n', 'Line 3: empty quoted string "" (GlusterFS ignores it); write a non-empty value', 3, undefined);
});

// ---- accepted forms ----

test('volfile - G2 a repeated option key overwrites silently (last wins)', () => {
  const spec = parseVolfile('volume a\n  type t\n  option a 1\n  option b x\n  option a 2\nend-volume\n');
  assert.deepEqual(opts(spec.top), { a: '2', b: 'x' });
  assert.deepEqual(Object.keys(spec.top.options), ['a', 'b']);
});

test('volfile - G2 quoted words: \\x escapes drop the backslash', () => {
  const spec = parseVolfile('volume a\n  type t\n  option k "x y\\"z"\n  option "key with space" "a\\\\b\\q"\nend-volume\n');
  assert.equal(spec.top.options.k, 'x y"z');
  assert.equal(spec.top.options['key with space'], 'a\\bq');
  // Keyword-looking text in quotes is a word, and a quoted name is a name.
  const quoted = parseVolfile('volume "my vol"\n  type "type"\n  option "option" "end-volume"\nend-volume\n');
  assert.equal(quoted.top.name, 'my vol');
  assert.equal(quoted.top.type, 'type');
  assert.deepEqual(opts(quoted.top), { option: 'end-volume' });
  // No STRING rule matches a raw newline or a backslash before one: both are dropped.
  const joined = parseVolfile('volume a\n  type t\n  option k "ab\ncd\\\nef"\nend-volume\n');
  assert.equal(joined.top.options.k, 'abcdef');
});

test('volfile - comments: # starts one only at the start of a token', () => {
  const text = [
    '# a volfile',
    'volume a # trailing comment',
    '  type t#not-a-comment',
    '  #option skipped line',
    '  option url http://x/#frag # comment "with quote',
    '  option b c#d',
    'end-volume#still a word? no: end-volume#x is one word',
  ].join('\n');
  assertParseError(text, `syntax error: line 7 (volume 'a'): "end-volume#still"\n${ALLOWED}()`, 7, 'a');
  const spec = parseVolfile(text.replace('end-volume#still a word? no: end-volume#x is one word', 'end-volume #done'));
  assert.equal(spec.top.type, 't#not-a-comment');
  assert.deepEqual(opts(spec.top), { url: 'http://x/#frag', b: 'c#d' });
});

test('volfile - options before and after subvolumes, several subvolume names', () => {
  const text = [
    'volume c1',
    '  type protocol/client',
    '  option remote-host h1',
    'end-volume',
    'volume c2',
    '  type protocol/client',
    '  option remote-host h2',
    'end-volume',
    'volume dist',
    '  type cluster/distribute',
    '  option before 1',
    '  subvolumeS c1 c2',
    '    c1',
    '  option after 2',
    '  option before 3',
    'end-volume',
  ].join('\r\n');
  const spec = parseVolfile(text);
  assert.deepEqual(spec.top.subvolumes, ['c1', 'c2', 'c1']);
  assert.deepEqual(opts(spec.top), { before: '3', after: '2' });
  assert.equal(spec.top.line, 9);
  // Subvolumes first, options after.
  const after = parseVolfile(`${POSIX}volume t\n  type debug/trace\n  subvolumes p\n  option log on\nend-volume\n`);
  assert.deepEqual(opts(after.top), { log: 'on' });
  assert.deepEqual(after.top.subvolumes, ['p']);
  // The whole block on one line: newlines are only whitespace.
  assert.equal(parseVolfile('volume x type t option k v end-volume').top.options.k, 'v');
});

test('volfile - names and types with odd characters are plain words', () => {
  const spec = parseVolfile("volume a/b:c@1'é\n  type x//y{}$\n  option end-volumes sub`volumes\nend-volume\n");
  assert.equal(spec.top.name, "a/b:c@1'é");
  assert.equal(spec.top.type, 'x//y{}$');
  assert.deepEqual(opts(spec.top), { 'end-volumes': 'sub`volumes' });
  // Longer runs that start with a keyword are words.
  assert.equal(parseVolfile('volume volumes\n type types\n option options end-volumex\nend-volume\n').top.name, 'volumes');
});

test('volfile - backticks are never executed, they are ordinary characters', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'switchyard-volfile-'));
  try {
    const marker = join(dir, 'x');
    // GlusterFS would run `touch <marker>` through a shell before parsing.
    const quoted = parseVolfile(`volume a\n  type t\n  option a "\`touch ${marker}\`"\nend-volume\n`);
    assert.equal(quoted.top.options.a, `\`touch ${marker}\``);
    const word = parseVolfile('volume a\n  type t\n  option a `id`\nend-volume\n');
    assert.equal(word.top.options.a, '`id`');
    // Unquoted, the command is two words: a syntax error, and still nothing runs.
    assertParseError(
      `volume a\n  type t\n  option a \`touch ${marker}\`\nend-volume\n`,
      `syntax error: line 3 (volume 'a'): "${marker}\`"\n${ALLOWED}()`,
      3,
      'a',
    );
    assert.equal(existsSync(marker), false);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('volfile - typeNotFoundMessage gives GlusterFS text', () => {
  assert.equal(typeNotFoundMessage('features/nope'), "type 'features/nope' is not valid or not found on this machine");
  assert.equal(
    typeNotFoundMessage('features/nope', { volume: 'v', line: 2 }),
    "Volume 'v', line 2: type 'features/nope' is not valid or not found on this machine",
  );
});

test('volfile - VolfileError keeps the bare text in detail and prefixes message with the source', () => {
  const withSource = new VolfileError('boom', { source: 'a.vol', line: 3, volume: 'v' });
  assert.equal(withSource.message, 'a.vol: boom');
  assert.equal(withSource.detail, 'boom');
  assert.equal(withSource.code, 'SWITCHYARD_ERR_VOLFILE');
  const bare = new VolfileError('boom', {});
  assert.equal(bare.message, 'boom');
  assert.equal(bare.source, undefined);
  assert.equal(bare.line, undefined);
  assert.equal(bare.volume, undefined);
});

// ---- writing ----

test('volfile - formatVolfile writes doc/test.vol back byte for byte', () => {
  assert.equal(formatVolfile(parseVolfile(TEST_VOL)), TEST_VOL);
});

test('volfile - formatVolfile quotes words that need it and round-trips', () => {
  const text = [
    'volume "my vol"',
    '  type "type"',
    '  option "#key" "x y\\"z"',
    '  option back "a\\\\b"',
    '  option tick "\\`id\\`"',
    '  option plain a#b',
    'end-volume',
    'volume top',
    '  type debug/trace',
    '  subvolumes "my vol" "my vol"',
    'end-volume',
  ].join('\n');
  const spec = parseVolfile(text);
  const written = formatVolfile(spec);
  assert.equal(
    written,
    [
      'volume "my vol"',
      '    type "type"',
      '    option "#key" "x y\\"z"',
      '    option back "a\\\\b"',
      '    option tick "\\`id\\`"',
      '    option plain a#b',
      'end-volume',
      '',
      'volume top',
      '    type debug/trace',
      '    subvolumes "my vol" "my vol"',
      'end-volume',
      '',
    ].join('\n'),
  );
  const again = parseVolfile(written);
  assert.deepEqual(
    again.volumes.map((v) => ({ ...v, options: opts(v), line: 0 })),
    spec.volumes.map((v) => ({ ...v, options: opts(v), line: 0 })),
  );
});

test('volfile - formatVolfile round-trips any spec it accepts (property)', () => {
  const wordArb = fc.string({ minLength: 1, maxLength: 8, unit: fc.constantFrom('a', 'Z', ' ', '\t', '"', '\\', '`', '#', '/', '-', 'é', 'volume', 'end-volume', 'subvolumeS') });
  const specArb = fc
    .array(fc.record({ type: wordArb, options: fc.dictionary(wordArb, wordArb, { minKeys: 1, maxKeys: 3 }), subs: fc.array(fc.nat(), { maxLength: 3 }) }), {
      minLength: 1,
      maxLength: 5,
    })
    .map((raw) => {
      const volumes: VolumeDecl[] = raw.map((r, i) => ({
        name: `v${i} x`,
        type: r.type,
        options: { ...r.options },
        subvolumes: i === 0 ? [] : r.subs.map((n) => `v${n % i} x`),
        line: 0,
      }));
      const top = volumes[volumes.length - 1];
      assert.ok(top);
      return { volumes, top } satisfies VolfileSpec;
    });
  fc.assert(
    fc.property(specArb, (spec) => {
      const back = parseVolfile(formatVolfile(spec));
      const strip = (s: VolfileSpec) => s.volumes.map((v) => ({ name: v.name, type: v.type, options: opts(v), subvolumes: [...v.subvolumes] }));
      assert.deepEqual(strip(back), strip(spec));
      assert.equal(back.top.name, spec.top.name);
    }),
    { numRuns: 200 },
  );
});

test('volfile - formatVolfile refuses specs no volfile can express', () => {
  const leaf: VolumeDecl = { name: 'p', type: 'storage/posix', options: { directory: '/b' }, subvolumes: [], line: 1 };
  const cases: Array<[VolfileSpec, string]> = [
    [{ volumes: [], top: leaf }, 'cannot write a volfile without volumes'],
    [{ volumes: [leaf, { ...leaf, name: 'q' }], top: leaf }, "the top volume 'p' is not the last volume ('q'); GlusterFS takes the last volume in the file as the top"],
    [{ volumes: [leaf, leaf], top: leaf }, "volume 'p' is declared twice"],
    [{ volumes: [{ ...leaf, subvolumes: ['z'] }], top: leaf }, "volume 'p': subvolume 'z' is not defined prior to usage"],
    [{ volumes: [{ ...leaf, subvolumes: ['p'] }], top: leaf }, "volume 'p' has 'p' itself as subvolume"],
    [{ volumes: [{ ...leaf, options: { k: '' } }], top: leaf }, "volume 'p': the value of option 'k' is empty, which a volfile cannot hold"],
    [{ volumes: [{ ...leaf, type: 'a\nb' }], top: leaf }, "volume 'p': the type contains a newline, which a volfile cannot hold"],
  ];
  for (const [spec, detail] of cases) {
    assert.throws(
      () => formatVolfile(spec),
      (err: unknown) => err instanceof VolfileError && err.detail === detail,
      detail,
    );
  }
});

test('volfile - formatTree of doc/test.vol', () => {
  assert.equal(
    formatTree(parseVolfile(TEST_VOL)),
    'vol-glupy (features/glupy) module-name=debug-trace\n└─ vol-posix (storage/posix) directory=/path/to/brick\n',
  );
});

test('volfile - formatTree draws branches and repeats a shared child under each parent', () => {
  const text = [
    'volume posix',
    '  type storage/posix',
    '  option directory /b',
    'end-volume',
    'volume locks',
    '  type features/locks',
    '  subvolumes posix',
    'end-volume',
    'volume trace',
    '  type debug/trace',
    '  option log-file "/tmp/a b"',
    '  option x 1',
    '  subvolumes locks posix',
    'end-volume',
    'volume top',
    '  type debug/io-stats',
    '  subvolumes trace locks',
    'end-volume',
  ].join('\n');
  assert.equal(
    formatTree(parseVolfile(text)),
    [
      'top (debug/io-stats)',
      '├─ trace (debug/trace) log-file="/tmp/a b" x=1',
      '│  ├─ locks (features/locks)',
      '│  │  └─ posix (storage/posix) directory=/b',
      '│  └─ posix (storage/posix) directory=/b',
      '└─ locks (features/locks)',
      '   └─ posix (storage/posix) directory=/b',
      '',
    ].join('\n'),
  );
});

test('volfile - formatTree is bounded and survives hand-built cycles and deep chains', () => {
  const a: VolumeDecl = { name: 'a', type: 't', options: {}, subvolumes: ['b', 'ghost'], line: 1 };
  const b: VolumeDecl = { name: 'b', type: 't', options: {}, subvolumes: ['a'], line: 2 };
  assert.equal(formatTree({ volumes: [a, b], top: a }), 'a (t)\n├─ b (t)\n│  └─ a (cycle)\n└─ ghost (not defined)\n');

  // 2^20 paths through a ladder of shared children: the view stops at maxLines.
  const ladder: VolumeDecl[] = [{ name: 'l0', type: 't', options: { k: 'v' }, subvolumes: [], line: 0 }];
  for (let i = 1; i <= 20; i++) ladder.push({ name: `l${i}`, type: 't', options: {}, subvolumes: [`l${i - 1}`, `l${i - 1}`], line: 0 });
  const top = ladder[ladder.length - 1];
  assert.ok(top);
  const lines = formatTree({ volumes: ladder, top }, { maxLines: 50 }).split('\n');
  assert.equal(lines.length, 52);
  assert.equal(lines[50], '… tree truncated after 50 lines');

  // A chain deeper than the call stack would allow for recursion.
  const chain: string[] = ['volume c0\n type t\n option k v\nend-volume'];
  for (let i = 1; i < 20_000; i++) chain.push(`volume c${i}\n type t\n subvolumes c${i - 1}\nend-volume`);
  const deep = formatTree(parseVolfile(chain.join('\n')));
  assert.ok(deep.length <= MAX_VOLFILE_BYTES + 100);
  assert.match(deep, /… tree truncated after \d+ lines\n$/);
});
