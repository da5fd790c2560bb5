/**
 * Translator types by volfile name (`storage/posix`, `debug/trace`, ...). Built-ins load on first
 * use, so a graph pays only for the translators it names; users add their own with
 * {@link registerTranslator} or load a class from a file with `features/module`.
 * @module
 */
import { TranslatorError } from '../errors.ts';
import { isTranslatorClass, type Translator, type TranslatorInit } from './translator.ts';

/** A translator class. */
export type TranslatorClass = (new (init: TranslatorInit) => Translator) & typeof Translator;

type Loader = () => Promise<TranslatorClass>;

const builtIns = new Map<string, Loader>([
  ['storage/memory', async () => (await import('./types/memory.ts')).MemoryStorage],
  ['storage/posix', async () => (await import('./types/posix.ts')).PosixStorage],
  ['debug/trace', async () => (await import('./types/trace.ts')).Trace],
  ['debug/error-gen', async () => (await import('./types/error-gen.ts')).ErrorGen],
  ['debug/delay-gen', async () => (await import('./types/delay-gen.ts')).DelayGen],
  ['debug/io-stats', async () => (await import('./types/io-stats.ts')).IoStats],
  ['performance/nl-cache', async () => (await import('./types/nl-cache.ts')).NlCache],
  ['protocol/client', async () => (await import('./types/protocol-client.ts')).ProtocolClient],
  ['protocol/server', async () => (await import('./types/protocol-server.ts')).ProtocolServer],
]);

const userTypes = new Map<string, TranslatorClass>();

/** The type that loads a user's translator class from a file (glupy's `features/glupy`). */
export const MODULE_TYPE = 'features/module';

/**
 * Registers a translator class under a volfile type name (e.g. `'user/rot13'`). A built-in name
 * cannot be replaced.
 */
export function registerTranslator(type: string, cls: TranslatorClass): void {
  if (!/^[\w.-]+\/[\w.-]+$/.test(type)) throw new TranslatorError(`translator type '${type}' must look like 'category/name'`);
  if (builtIns.has(type) || type === MODULE_TYPE) throw new TranslatorError(`translator type '${type}' is built in and cannot be replaced`);
  if (!isTranslatorClass(cls)) throw new TranslatorError(`registerTranslator('${type}'): the value is not a Translator subclass`);
  userTypes.set(type, cls);
}

/** Every type name a volfile may use. */
export function translatorTypes(): string[] {
  return [...builtIns.keys(), MODULE_TYPE, ...userTypes.keys()].sort();
}

/** True when `type` names a known translator type. */
export function isKnownType(type: string): boolean {
  return builtIns.has(type) || userTypes.has(type) || type === MODULE_TYPE;
}

/** The class of a (non-module) type; `undefined` when unknown. */
export async function loadTranslatorClass(type: string): Promise<TranslatorClass | undefined> {
  const user = userTypes.get(type);
  if (user) return user;
  const loader = builtIns.get(type);
  return loader ? await loader() : undefined;
}
