/**
 * The bootstrap: a one-line script for `node -e` that reads the preamble (worker source and
 * config, see `protocol.ts`) from the protocol descriptor, compiles the source and starts it. It
 * is the only code that must exist as text on the command line, so it is short and has no single
 * quotes (it travels inside single quotes through a remote shell).
 *
 * Arguments after the script: the input descriptor and the output descriptor (the same number
 * for a socketpair, e.g. `3 3` for popen; `3 4` over ssh).
 * @module
 */
import type { WorkerConfig } from './protocol.ts';

/** The bootstrap script. */
export const BOOTSTRAP =
  'var a=process.argv,i=+a[1],o=+a[2],s=new (require("net").Socket)({fd:i,readable:true,writable:i===o}),b=Buffer.alloc(0);' +
  'function d(c){b=b.length?Buffer.concat([b,c]):c;if(b.length<4)return;var l=b.readUInt32BE(0);if(b.length<8+l)return;' +
  'var m=b.readUInt32BE(4+l);if(b.length<8+l+m)return;s.removeListener("data",d);s.pause();var t=b.toString("utf8",4,4+l),M={exports:{}};' +
  'require("vm").compileFunction(t,["require","module","exports"],{filename:"switchyard-worker.js"})(require,M,M.exports);' +
  'M.exports.start(s,o,JSON.parse(b.toString("utf8",8+l,8+l+m)),b.subarray(8+l+m),t)}s.on("data",d)';

/**
 * Builds the preamble the host writes first: `u32 | source | u32 | config JSON`. The returned
 * buffer is new and owned by the caller.
 */
export function buildPreamble(source: string, config: WorkerConfig): Buffer {
  const src = Buffer.from(source, 'utf8');
  const cfg = Buffer.from(JSON.stringify(config), 'utf8');
  const out = Buffer.allocUnsafe(8 + src.length + cfg.length);
  out.writeUInt32BE(src.length, 0);
  src.copy(out, 4);
  out.writeUInt32BE(cfg.length, 4 + src.length);
  cfg.copy(out, 8 + src.length);
  return out;
}
