/**
 * Compile-time checks of the typed link proxy (run by `npm run typecheck`, which `npm test`
 * runs first): a wrong argument type or an unknown method must not compile.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Link } from '../../src/client/client.ts';

interface Adder {
  add(a: number, b: number): number;
  concat(a: string, b: string): Promise<string>;
  _private(): void;
}

// Never called: only type-checked.
export function typeChecks(adder: Link<Adder>): void {
  const sum: Promise<number> = adder.add(1, 2);
  const text: Promise<string> = adder.concat('a', 'b');
  // @ts-expect-error a string is not a number
  void adder.add('1', 2);
  // @ts-expect-error too few arguments
  void adder.add(1);
  // @ts-expect-error unknown method
  void adder.subtract(1, 2);
  // @ts-expect-error private names are not callable remotely
  void adder._private();
  // @ts-expect-error the result is a Promise<number>, not a string
  const wrong: Promise<string> = adder.add(1, 2);
  void sum;
  void text;
  void wrong;
  void adder.$call('anything', [1, 'x'], { timeout: 10 });
}

test('types - the typed link proxy is checked at compile time (see npm run typecheck)', () => {
  assert.equal(typeof typeChecks, 'function');
});
