/**
 * The value codec of the native dialect and of channel items: MessagePack (msgpackr, readable by
 * any MessagePack peer: no records) with these types carried exactly:
 *
 * everything JSON has, plus `NaN`/`±Infinity`, `undefined`, `bigint` (any size), `Uint8Array` and
 * `Buffer` (as MessagePack bin: bytes, never base64; decoded as `Buffer`), the other typed arrays,
 * `Date`, `Map`, `Set`, and references to channels (see {@link CodecContext}).
 *
 * {@link encodeValue} refuses anything else — functions, symbols, class instances, cycles — with an
 * {@link EncodeError} whose `path` names the bad value, instead of silently dropping it.
 * @module
 */
import { Packr, addExtension } from 'msgpackr';
import { EncodeError, ProtocolError } from '../errors.ts';

/** MessagePack extension type numbers owned by Switchyard. */
export const EXT = { map: 0x51, channel: 0x52, splice: 0x53, negativeZero: 0x54 } as const;

/** Buffers at least this large are written by reference by {@link encodeValueChunks}, not copied. */
export const SPLICE_MIN_BYTES = 64 * 1024;

/** Deepest nesting accepted in a value. */
export const MAX_VALUE_DEPTH = 512;

/**
 * A reference to a channel inside a value. The channel layer turns its `Channel` objects into
 * references when encoding, and references back into channels when decoding (through
 * {@link CodecContext}).
 */
export class ChannelRef {
  constructor(readonly id: number) {}
}

/** Hooks the channel layer gives the codec for one encode or decode call. */
export interface CodecContext {
  /** Returns a {@link ChannelRef} for `value` if it is a channel, else `undefined`. */
  toRef?(value: object): ChannelRef | undefined;
  /** Turns a decoded reference into the caller's channel object. */
  fromRef?(ref: ChannelRef): unknown;
}

let decodeContext: CodecContext | undefined;

// Zero-copy large binaries: while encoding, a large Buffer is replaced by a 16-byte placeholder
// (a per-process random tag + its index) that is later cut out of the packed bytes and replaced by
// a bin32 header and the caller's own Buffer. The tag is 12 random bytes: it cannot occur by chance.
// Made on first use, with Web Crypto: importing node:crypto here would load it into every gateway
// worker at start (about 170 KB of young heap and a scavenge on the way to the first round trip,
// bench/gateway (a)); a worker needs the tag only once it sends a large item.
let spliceTag: Buffer | undefined;
const spliceTagBytes = (): Buffer => (spliceTag ??= Buffer.from(globalThis.crypto.getRandomValues(new Uint8Array(12))));
class Splice {
  constructor(readonly index: number) {}
}
addExtension({
  Class: Splice,
  type: EXT.splice,
  write(s: Splice): Buffer {
    const b = Buffer.allocUnsafe(16);
    spliceTagBytes().copy(b, 0);
    b.writeUInt32BE(s.index, 12);
    return b;
  },
  read(): never {
    throw new ProtocolError('A splice placeholder reached a decoder');
  },
});
// -0: msgpackr writes it as the integer 0, losing the sign; an empty extension keeps it.
class NegativeZero {}
const NEGATIVE_ZERO = new NegativeZero();
addExtension({
  Class: NegativeZero,
  type: EXT.negativeZero,
  write(): number {
    return 0;
  },
  read(): number {
    return -0;
  },
});

/** Large Buffers collected by the walk of the current {@link encodeValueChunks} call. */
let spliced: Buffer[] | undefined;

// Map: carried as an extension holding the flat [k0, v0, k1, v1, ...] array, so that plain objects
// stay MessagePack maps that any peer reads. msgpackr writes Map natively (as a plain map) before it
// looks at extensions, so the checking walk boxes every Map first.
class MapBox {
  constructor(readonly flat: unknown[]) {}
}
addExtension({
  Class: MapBox,
  type: EXT.map,
  write(box: MapBox): unknown[] {
    return box.flat;
  },
  read(flat: unknown[]): Map<unknown, unknown> {
    const map = new Map<unknown, unknown>();
    for (let i = 0; i + 1 < flat.length; i += 2) map.set(flat[i], flat[i + 1]);
    return map;
  },
});
addExtension({
  Class: ChannelRef,
  type: EXT.channel,
  write(ref: ChannelRef): number {
    return ref.id;
  },
  read(id: number): unknown {
    const ref = new ChannelRef(id);
    return decodeContext?.fromRef ? decodeContext.fromRef(ref) : ref;
  },
});

const packr = new Packr({
  useRecords: false,
  mapsAsObjects: true,
  moreTypes: true,
  int64AsType: 'bigint',
  largeBigIntToString: false,
  bundleStrings: false,
});

const TYPED_ARRAY_PROTOS = new Set<object>(
  [Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array, Float32Array, Float64Array, BigInt64Array, BigUint64Array].map(
    (C) => C.prototype as object,
  ),
);

/**
 * Checks that `value` contains only supported types, replacing channels by {@link ChannelRef}s.
 * Returns the value to pack (the same object when nothing had to be replaced).
 */
function check(value: unknown, path: string, depth: number, ctx: CodecContext | undefined): unknown {
  switch (typeof value) {
    case 'number':
      return value === 0 && 1 / value < 0 ? NEGATIVE_ZERO : value;
    case 'string':
    case 'boolean':
    case 'bigint':
    case 'undefined':
      return value;
    case 'function':
      throw new EncodeError(path, `Cannot send a function (at ${path}); send data, or source text with remoteExec`);
    case 'symbol':
      throw new EncodeError(path, `Cannot send a symbol (at ${path})`);
    default:
      break;
  }
  if (value === null) return value;
  const obj = value as object;
  // A cycle shows up as nesting beyond the limit; no per-encode bookkeeping on the hot path.
  if (depth > MAX_VALUE_DEPTH) throw new EncodeError(path, `Value nested deeper than ${MAX_VALUE_DEPTH} levels (at ${path}); is it circular?`);
  const proto = Object.getPrototypeOf(obj) as object | null;
  if (Buffer.isBuffer(obj)) {
    if (spliced !== undefined && obj.length >= SPLICE_MIN_BYTES) {
      spliced.push(obj);
      return new Splice(spliced.length - 1);
    }
    return value;
  }
  if (proto !== null && TYPED_ARRAY_PROTOS.has(proto)) return value;
  if (obj instanceof Date || obj instanceof ChannelRef) return value;
  const ref = ctx?.toRef?.(obj);
  if (ref) return ref;
  {
    if (Array.isArray(obj)) {
      let out: unknown[] | undefined;
      for (let i = 0; i < obj.length; i++) {
        const item: unknown = obj[i];
        const c = check(item, `${path}[${i}]`, depth + 1, ctx);
        if (c !== item) (out ??= obj.slice())[i] = c;
      }
      return out ?? obj;
    }
    if (obj instanceof Map) {
      let i = 0;
      const flat: unknown[] = [];
      for (const [k, v] of obj) {
        flat.push(check(k, `${path}.<key ${i}>`, depth + 1, ctx));
        flat.push(check(v, `${path}.get(${typeof k === 'string' ? JSON.stringify(k) : `<key ${i}>`})`, depth + 1, ctx));
        i++;
      }
      return new MapBox(flat);
    }
    if (obj instanceof Set) {
      let i = 0;
      let changed = false;
      const items: unknown[] = [];
      for (const v of obj) {
        const c = check(v, `${path}.<item ${i++}>`, depth + 1, ctx);
        if (c !== v) changed = true;
        items.push(c);
      }
      return changed ? new Set(items) : obj;
    }
    if (proto !== Object.prototype && proto !== null) {
      const cls = (obj as { constructor?: { name?: string } }).constructor?.name ?? 'unknown';
      throw new EncodeError(path, `Cannot send an instance of class ${cls} (at ${path}); send a plain object, array, Map, Set, Date, bigint or bytes`);
    }
    let out: Record<string, unknown> | undefined;
    const rec = obj as Record<string, unknown>;
    for (const k of Object.keys(rec)) {
      const item = rec[k];
      const c = check(item, `${path}.${k}`, depth + 1, ctx);
      if (c !== item) (out ??= { ...rec })[k] = c;
    }
    return out ?? obj;
  }
}

/**
 * Encodes `value`. Throws {@link EncodeError} naming the path of an unsupported value. The returned
 * buffer is owned by the caller.
 */
export function encodeValue(value: unknown, ctx?: CodecContext): Buffer {
  const checked = check(value, '$', 0, ctx);
  return packr.pack(checked);
}

/**
 * Encodes `value` like {@link encodeValue}, but returns chunks: Buffers of at least
 * {@link SPLICE_MIN_BYTES} inside the value are not copied — the caller's Buffers are among the
 * chunks (as MessagePack bin32 data), so they must not change until the chunks are written. The
 * concatenation of the chunks equals a standard MessagePack encoding of the value.
 */
export function encodeValueChunks(value: unknown, ctx?: CodecContext): Buffer[] {
  const collected: Buffer[] = [];
  spliced = collected;
  let checked: unknown;
  try {
    checked = check(value, '$', 0, ctx);
  } finally {
    spliced = undefined;
  }
  const packed = packr.pack(checked);
  if (collected.length === 0) return [packed];
  const out: Buffer[] = [];
  let from = 0;
  for (let i = 0; i < collected.length; i++) {
    const tag = packed.indexOf(spliceTagBytes(), from);
    // msgpackr writes an extension's value packed behind a marker: d4 <type> 00, then the 16-byte
    // placeholder as bin8 (c4 10).
    const at = tag - 5;
    if (tag < 0 || at < from || packed[at] !== 0xd4 || packed[at + 1] !== EXT.splice || packed[at + 2] !== 0 || packed[at + 3] !== 0xc4 || packed[at + 4] !== 16) {
      throw new ProtocolError('Lost a splice placeholder while encoding');
    }
    const data = collected[packed.readUInt32BE(tag + 12)] as Buffer;
    if (at > from) out.push(packed.subarray(from, at));
    const head = Buffer.allocUnsafe(5);
    head[0] = 0xc6; // bin32
    head.writeUInt32BE(data.length, 1);
    out.push(head, data);
    from = tag + 16;
  }
  if (from < packed.length) out.push(packed.subarray(from));
  return out;
}

/**
 * Checks that `value` could be encoded (same rules as {@link encodeValue}) without encoding it.
 * Throws {@link EncodeError} naming the path of an unsupported value.
 */
export function assertEncodable(value: unknown): void {
  check(value, '$', 0, undefined);
}

/**
 * Decodes one value from `bytes` (the whole buffer). Binary values come back as `Buffer` views
 * that may share memory with `bytes`. Throws {@link ProtocolError} on malformed input.
 */
export function decodeValue(bytes: Uint8Array, ctx?: CodecContext): unknown {
  const prev = decodeContext;
  decodeContext = ctx;
  try {
    return packr.unpack(bytes);
  } catch (err) {
    throw new ProtocolError(`Malformed MessagePack value (${(err as Error).message})`, { cause: err });
  } finally {
    decodeContext = prev;
  }
}
