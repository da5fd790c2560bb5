/**
 * Reads `test/fixtures/msl-network-wire-transcript.txt` (bytes captured from the real Python
 * Manager) so tests can replay its exchanges against the Switchyard Manager.
 */
import { readFileSync } from 'node:fs';
import { HOSTNAME } from '../../src/util/host.ts';

/** One line of a transcript section. */
export interface TranscriptLine {
  from: string;
  to: string;
  /** The bytes (decoded as UTF-8), or `<EOF>`. */
  text: string;
}

/** Decodes a Python bytes literal body (between `b'` and `'`). */
function pyBytes(body: string): string {
  const out: number[] = [];
  for (let i = 0; i < body.length; i++) {
    const c = body[i] as string;
    if (c !== '\\') {
      for (const b of Buffer.from(c, 'utf8')) out.push(b);
      continue;
    }
    const n = body[++i];
    if (n === 'n') out.push(10);
    else if (n === 'r') out.push(13);
    else if (n === 't') out.push(9);
    else if (n === 'x') {
      out.push(parseInt(body.slice(i + 1, i + 3), 16));
      i += 2;
    } else out.push((n as string).charCodeAt(0));
  }
  return Buffer.from(out).toString('utf8');
}

/** All sections, by number. */
export function loadTranscript(): Map<number, TranscriptLine[]> {
  const text = readFileSync(new URL('../fixtures/msl-network-wire-transcript.txt', import.meta.url), 'utf8');
  const sections = new Map<number, TranscriptLine[]>();
  let current: TranscriptLine[] | undefined;
  for (const raw of text.split('\n')) {
    const head = /^(\d+)\. /.exec(raw);
    if (head) {
      current = [];
      sections.set(Number(head[1]), current);
      continue;
    }
    const m = /^ {2}(\S+) -> (\S+)(?: \([^)]*\))?: (?:b'(.*)'|'<EOF>')$/.exec(raw);
    if (m && current) current.push({ from: m[1] as string, to: m[2] as string, text: m[3] === undefined ? '<EOF>' : pyBytes(m[3]) });
  }
  return sections;
}

/**
 * Masks what legitimately differs between two Managers: host names and ports, the Manager's own
 * language and os, and Python traceback lines (a TypeScript Manager has no Python frames).
 */
export function normalize(line: string): string {
  return line
    .replaceAll(`${HOSTNAME}:`, 'vm:')
    .replace(/vm:\d+/g, 'vm:<port>')
    .replace(/"hostname": "[^"]*", "port": \d+/g, '"hostname": "<host>", "port": <port>')
    .replace(/"language": "[^"]*", "os": "[^"]*", "clients"/g, '"language": "<lang>", "os": "<os>", "clients"')
    .replace(/"traceback": \[(?:"(?:[^"\\]|\\.)*"(?:, )?)+\]/g, '"traceback": []');
}
