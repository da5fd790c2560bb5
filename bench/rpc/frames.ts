/**
 * Length-prefixed frame splitting for the bench/rpc baselines: keeps the chunks of an incomplete
 * frame and joins them once, so large frames cost one copy (not one per chunk).
 */
export function frameSplitter(onFrame: (frame: Buffer) => void): (chunk: Buffer) => void {
  let buf: Buffer = Buffer.alloc(0);
  let parts: Buffer[] = [];
  let have = 0;
  let need = -1;
  return (chunk) => {
    if (need >= 0 && have + chunk.length < need) {
      parts.push(chunk);
      have += chunk.length;
      return;
    }
    buf = parts.length === 0 ? (buf.length === 0 ? chunk : Buffer.concat([buf, chunk])) : Buffer.concat([...parts, chunk]);
    parts = [];
    have = 0;
    need = -1;
    let off = 0;
    while (buf.length - off >= 4) {
      const n = buf.readUInt32BE(off);
      if (buf.length - off - 4 < n) {
        need = 4 + n;
        break;
      }
      onFrame(buf.subarray(off, off + 4 + n));
      off += 4 + n;
    }
    buf = off === buf.length ? Buffer.alloc(0) : buf.subarray(off);
    if (need >= 0) {
      parts = [buf];
      have = buf.length;
      buf = Buffer.alloc(0);
    }
  };
}

/** One write per event-loop turn on `sock` (cork now, uncork on the next tick), as Switchyard does. */
export function batchedWriter(sock: import('node:net').Socket): (b: Buffer) => void {
  let corked = false;
  return (b) => {
    if (!corked) {
      corked = true;
      sock.cork();
      process.nextTick(() => {
        corked = false;
        sock.uncork();
      });
    }
    sock.write(b);
  };
}
