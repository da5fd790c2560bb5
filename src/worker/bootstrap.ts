/**
 * The bootstrap: a one-line script for `node -e` that reads the preamble (worker source, config
 * and an optional V8 code cache) from the protocol descriptor, compiles the source and starts it. It
 * is the only code that must exist as text on the command line, so it is short and has no single
 * quotes (it travels inside single quotes through a remote shell).
 *
 * Arguments after the script: the input descriptor and the output descriptor (the same number
 * for a socketpair, e.g. `3 3` for popen; `3 4` over ssh).
 * @module
 */
import type { WorkerConfig } from './protocol.ts';

/**
 * The bootstrap script. It compiles the bundle (a function expression taking `require`, `module`
 * and `exports`, see `build.ts`) with `vm.Script` and the V8 code cache from the
 * preamble, when there is one (V8 checks that the cache fits this node and this source and
 * ignores it otherwise), and hands the script to `start` so the worker can make a cache itself.
 */
export const BOOTSTRAP =
  'var a=process.argv,i=+a[1],o=+a[2],s=new (require("net").Socket)({fd:i,readable:true,writable:i===o}),b=Buffer.alloc(0);' +
  'function d(c){b=b.length?Buffer.concat([b,c]):c;if(b.length<12)return;var l=b.readUInt32BE(0),m=b.readUInt32BE(4),k=b.readUInt32BE(8),e=12+l+m+k;' +
  'if(b.length<e)return;s.removeListener("data",d);s.pause();var t=b.toString("utf8",12,12+l),M={exports:{}},' +
  'S=new (require("vm").Script)(t,{filename:"switchyard-worker.js",cachedData:k?b.subarray(12+l+m,e):undefined});' +
  'S.runInThisContext()(require,M,M.exports);M.exports.start(s,o,JSON.parse(b.toString("utf8",12+l,12+l+m)),b.subarray(e),t,S)}s.on("data",d)';

/**
 * Builds the preamble the host writes first: `u32 | u32 | u32` (lengths) then the source, the
 * config JSON and the code cache (possibly empty). The returned buffer is new and owned by the
 * caller.
 */
export function buildPreamble(source: string, config: WorkerConfig, codeCache?: Uint8Array): Buffer {
  const src = Buffer.from(source, 'utf8');
  const cfg = Buffer.from(JSON.stringify(config), 'utf8');
  const cache = codeCache ?? new Uint8Array(0);
  const out = Buffer.allocUnsafe(12 + src.length + cfg.length + cache.length);
  out.writeUInt32BE(src.length, 0);
  out.writeUInt32BE(cfg.length, 4);
  out.writeUInt32BE(cache.length, 8);
  src.copy(out, 12);
  cfg.copy(out, 12 + src.length);
  out.set(cache, 12 + src.length + cfg.length);
  return out;
}
