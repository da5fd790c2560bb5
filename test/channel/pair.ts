/**
 * An in-memory pair of channel multiplexers for unit tests: frames written by one side are
 * delivered to the other on a later macrotask, in order, with an optional simulated congestion
 * threshold so that the send backpressure path is exercised.
 */
import { ChannelMux, type ChannelMuxOptions } from '../../src/channel/mux.ts';
import type { Channel } from '../../src/channel/channel.ts';
import type { OutFrame } from '../../src/wire/protocol.ts';

type Side = Omit<ChannelMuxOptions, 'send' | 'drained' | 'initiator'>;

/** One direction of the in-memory link. */
class Pipe {
  queued: Buffer[] = [];
  queuedBytes = 0;
  /** Data frames delivered, for assertions. */
  frames: Buffer[] = [];
  private scheduled = false;
  private drainWaiters: Array<() => void> = [];
  target: ChannelMux | undefined;
  paused = false;

  constructor(readonly highWater: number) {}

  send(frame: OutFrame): boolean {
    const buf = Buffer.isBuffer(frame) ? frame : Buffer.concat(frame);
    // Strip the u32 length prefix: handleFrame takes the body.
    const body = Buffer.from(buf.subarray(4));
    this.queued.push(body);
    this.queuedBytes += body.length;
    this.schedule();
    return this.queuedBytes < this.highWater;
  }

  drained(): Promise<void> {
    return new Promise((resolve) => {
      if (this.queuedBytes < this.highWater) resolve();
      else this.drainWaiters.push(resolve);
    });
  }

  schedule(): void {
    if (this.scheduled || this.paused) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  flush(): void {
    if (this.paused) return;
    const batch = this.queued;
    this.queued = [];
    for (const body of batch) {
      this.queuedBytes -= body.length;
      this.frames.push(body);
      this.target?.handleFrame(body);
    }
    if (this.queuedBytes < this.highWater) for (const w of this.drainWaiters.splice(0)) w();
  }
}

/** A connected pair: `a` is the initiator (odd ids), `b` the acceptor (even ids). */
export interface MuxPair {
  a: ChannelMux;
  b: ChannelMux;
  /** a → b direction. */
  ab: Pipe;
  /** b → a direction. */
  ba: Pipe;
  /** Channels opened by the peer, per side. */
  openedOnA: Array<{ channel: Channel; meta: unknown; target: string }>;
  openedOnB: Array<{ channel: Channel; meta: unknown; target: string }>;
  /** Both sides see the connection end. */
  cut(err?: Error): void;
}

/** Creates a pair. `highWater` simulates a congested transport (default: never congested). */
export function muxPair(options: { a?: Side; b?: Side; highWater?: number } = {}): MuxPair {
  const ab = new Pipe(options.highWater ?? Infinity);
  const ba = new Pipe(options.highWater ?? Infinity);
  const openedOnA: MuxPair['openedOnA'] = [];
  const openedOnB: MuxPair['openedOnB'] = [];
  const a = new ChannelMux({
    peerName: 'B',
    onOpen: (channel, meta, target) => openedOnA.push({ channel, meta, target }),
    ...options.a,
    initiator: true,
    send: (f) => ab.send(f),
    drained: () => ab.drained(),
  });
  const b = new ChannelMux({
    peerName: 'A',
    onOpen: (channel, meta, target) => openedOnB.push({ channel, meta, target }),
    ...options.b,
    initiator: false,
    send: (f) => ba.send(f),
    drained: () => ba.drained(),
  });
  ab.target = b;
  ba.target = a;
  return {
    a,
    b,
    ab,
    ba,
    openedOnA,
    openedOnB,
    cut(err) {
      ab.paused = true;
      ba.paused = true;
      a.closeAll(err);
      b.closeAll(err);
    },
  };
}

/** Resolves after `n` macrotask turns (lets frames cross the in-memory link). */
export async function turns(n = 3): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise<void>((r) => setImmediate(r));
}

/** Waits until `cond()` holds, failing after `ms`. */
export async function until(cond: () => boolean, ms = 2000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`Timed out after ${ms} ms waiting for ${what}`);
    await new Promise<void>((r) => setTimeout(r, 1));
  }
}

/** The peer's end of a channel opened on `a` with `pair.a.open()`. */
export async function peerOf(pair: MuxPair, index = pair.openedOnB.length): Promise<Channel> {
  await until(() => pair.openedOnB.length > index, 2000, 'the peer to see the open');
  return (pair.openedOnB[index] as { channel: Channel }).channel;
}
