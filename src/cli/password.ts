/**
 * Helpers shared by the commands: msl-network's "words or a file" password options, and output
 * through commander's configurable `writeOut`.
 * @module
 */
import { readFileSync, statSync } from 'node:fs';
import type { Command } from 'commander';

/** Writes a line of a command's normal output. */
export type LinePrinter = (line?: string) => void;

/**
 * The line printer of `command`: its configured `writeOut` (inherited from the program; stdout by
 * default), so that embedding programs and tests can redirect the output without touching
 * `process.stdout`.
 */
export function linePrinter(command: Command): LinePrinter {
  const writeOut = command.configureOutput().writeOut;
  const write = writeOut === undefined ? (s: string): void => void process.stdout.write(s) : writeOut;
  return (line = '') => write(`${line}\n`);
}

/**
 * Turns the words of a `--password`-style option into the password, as msl-network does: the words
 * are joined with single spaces; if the result names an existing file, the first line of that file
 * (trimmed) is the password instead, and `notice` (if given) is printed. Returns `undefined` when
 * no words were given.
 * The password itself is never printed.
 */
export function passwordFromWords(words: string[] | undefined, notice?: string, printLine?: LinePrinter): string | undefined {
  if (words === undefined) return undefined;
  const joined = words.join(' ');
  let isFile = false;
  try {
    isFile = statSync(joined).isFile();
  } catch {
    isFile = false;
  }
  if (!isFile) return joined;
  if (notice !== undefined) printLine?.(notice);
  const first = readFileSync(joined, 'utf8').split(/\r?\n/, 1)[0] ?? '';
  return first.trim();
}

