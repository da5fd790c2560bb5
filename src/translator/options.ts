/**
 * Declared translator options (GlusterFS's `volume_option_t`): each translator class lists the
 * options it understands with a type, a default and bounds; values from the volfile are checked
 * against them when the graph is built, with errors that name the volume, the key and the value.
 * @module
 */
import { TranslatorError } from '../errors.ts';

/** The type of an option value. */
export type OptionType = 'str' | 'int' | 'bool' | 'time' | 'size' | 'percent' | 'path' | 'enum' | 'list';

/** One declared option. */
export interface OptionSpec {
  readonly type: OptionType;
  /** The value used when the volfile does not set the option (volfile text, e.g. `'60'`, `'on'`). */
  readonly default?: string | undefined;
  /** Lowest value (`int`, `time` in seconds, `size` in bytes, `percent`). */
  readonly min?: number | undefined;
  /** Highest value. */
  readonly max?: number | undefined;
  /** Allowed values of an `enum`. */
  readonly values?: readonly string[] | undefined;
  readonly description: string;
}

/** A translator class's option schema: keys to specs. */
export type OptionSchema = Readonly<Record<string, OptionSpec>>;

/** The option every translator understands: GlusterFS's `pass-through`. */
export const PASS_THROUGH_OPTION: OptionSpec = {
  type: 'bool',
  default: 'off',
  description: 'Switch this translator off: every fop passes to its first child unchanged (can be reconfigured live).',
};

const TRUE = new Set(['on', 'yes', 'true', 'enable', '1']);
const FALSE = new Set(['off', 'no', 'false', 'disable', '0']);

/** Parses GlusterFS's boolean spellings (`on/off`, `yes/no`, `true/false`, `enable/disable`, `1/0`). */
export function parseBool(value: string): boolean | undefined {
  const v = value.toLowerCase();
  if (TRUE.has(v)) return true;
  if (FALSE.has(v)) return false;
  return undefined;
}

const SIZE_UNITS: Record<string, number> = { '': 1, B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };

/** Parses a size (`131072`, `128KB`, `1MB`, `2GB`), as GlusterFS's `gf_string2bytesize`. */
export function parseSize(value: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([KMGT]?B?)\s*$/i.exec(value);
  if (!m) return undefined;
  const unit = SIZE_UNITS[(m[2] ?? '').toUpperCase()];
  return unit === undefined ? undefined : Math.floor(Number(m[1]) * unit);
}

/** Parses a time in seconds (`60`, `1.5`, `500ms`, `2m`, `1h`); returns seconds. */
export function parseTime(value: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/i.exec(value);
  if (!m) return undefined;
  const n = Number(m[1]);
  switch ((m[2] ?? 's').toLowerCase()) {
    case 'ms':
      return n / 1000;
    case 'm':
      return n * 60;
    case 'h':
      return n * 3600;
    case 'd':
      return n * 86400;
    default:
      return n;
  }
}

/** A checked option value. */
export type OptionValue = string | number | boolean | readonly string[];

/**
 * Checks one value against its spec; returns the parsed value or throws a {@link TranslatorError}
 * naming the volume, the key and what was expected.
 */
export function parseOption(volume: string, key: string, raw: string, spec: OptionSpec): OptionValue {
  const fail = (expected: string): never => {
    throw new TranslatorError(`volume '${volume}': option '${key}' has the invalid value '${raw}' (${expected})`, { translator: volume, option: key });
  };
  const bounded = (n: number, unit: string): number => {
    if (spec.min !== undefined && n < spec.min) fail(`at least ${spec.min}${unit} expected`);
    if (spec.max !== undefined && n > spec.max) fail(`at most ${spec.max}${unit} expected`);
    return n;
  };
  switch (spec.type) {
    case 'str':
    case 'path':
      if (spec.type === 'path' && raw === '') fail('a path expected');
      return raw;
    case 'int': {
      if (!/^[+-]?\d+$/.test(raw.trim())) fail('an integer expected');
      return bounded(Number(raw), '');
    }
    case 'bool': {
      const b = parseBool(raw);
      return b === undefined ? fail('on or off expected') : b;
    }
    case 'time': {
      const t = parseTime(raw);
      return t === undefined ? fail('a time in seconds expected, e.g. 60, 500ms, 2m') : bounded(t, ' s');
    }
    case 'size': {
      const s = parseSize(raw);
      return s === undefined ? fail('a size expected, e.g. 131072, 128KB, 1MB') : bounded(s, ' bytes');
    }
    case 'percent': {
      const m = /^\s*(\d+(?:\.\d+)?)\s*%?\s*$/.exec(raw);
      return m ? bounded(Number(m[1]), '%') : fail('a percentage expected, e.g. 10 or 10%');
    }
    case 'enum': {
      if (!spec.values?.includes(raw)) fail(`one of ${(spec.values ?? []).join(', ')} expected`);
      return raw;
    }
    case 'list':
      return raw
        .split(/[,\s]+/)
        .map((s) => s.trim())
        .filter((s) => s !== '');
  }
}

/**
 * Checks every option of a volume against the schema and fills in defaults. Keys the schema does
 * not know are kept as strings and reported in `unknown` (GlusterFS warns and goes on).
 */
export function resolveOptions(volume: string, raw: Readonly<Record<string, string>>, schema: OptionSchema): { values: Record<string, OptionValue>; unknown: string[] } {
  const values: Record<string, OptionValue> = {};
  const unknown: string[] = [];
  const all: OptionSchema = { 'pass-through': PASS_THROUGH_OPTION, ...schema };
  for (const [key, spec] of Object.entries(all)) {
    const v = raw[key] ?? spec.default;
    if (v !== undefined) values[key] = parseOption(volume, key, v, spec);
  }
  for (const [key, v] of Object.entries(raw)) {
    if (!(key in all)) {
      unknown.push(key);
      values[key] = v;
    }
  }
  return { values, unknown };
}
