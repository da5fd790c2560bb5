/**
 * `features/module`: a translator class loaded from a JavaScript/TypeScript file named by
 * `option module-name` (glupy's loader, with its three errors). The module's default export is the
 * user's {@link Translator} subclass. Modules are cached by the runtime, so two volumes loading the
 * same module share its module-level state (as glupy's Python modules did).
 * @module
 */
import { access } from 'node:fs/promises';
import { delimiter, isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { TranslatorError } from '../errors.ts';
import { isTranslatorClass } from './translator.ts';
import type { TranslatorClass } from './registry.ts';

const EXTENSIONS = ['', '.js', '.mjs', '.ts', '.mts'];

async function exists(p: string): Promise<boolean> {
  try {
    await access(p);
    return true;
  } catch {
    return false;
  }
}

/**
 * Where `moduleName` is: a path (`./x.js`, `../x`, `/abs/x.js`) relative to `baseDir`; otherwise
 * the first `<dir>/<name>[.js|.mjs|.ts|.mts]` in `SWITCHYARD_TRANSLATOR_PATH` (glupy's
 * `GLUSTER_PYTHON_PATH`), else the name as a package specifier.
 */
export async function resolveModule(moduleName: string, baseDir: string): Promise<string> {
  const candidates: string[] = [];
  if (moduleName.startsWith('./') || moduleName.startsWith('../') || isAbsolute(moduleName)) {
    const base = isAbsolute(moduleName) ? moduleName : resolve(baseDir, moduleName);
    for (const ext of EXTENSIONS) candidates.push(base + ext);
  } else {
    for (const dir of (process.env['SWITCHYARD_TRANSLATOR_PATH'] ?? '').split(delimiter).filter((d) => d !== '')) {
      for (const ext of EXTENSIONS) candidates.push(resolve(dir, moduleName) + ext);
    }
    if (candidates.length === 0 || !(await firstExisting(candidates))) return moduleName;
  }
  return (await firstExisting(candidates)) ?? (candidates[0] as string);
}

async function firstExisting(paths: readonly string[]): Promise<string | undefined> {
  for (const p of paths) if (await exists(p)) return p;
  return undefined;
}

/**
 * Loads the translator class of a `features/module` volume. Throws {@link TranslatorError} with
 * glupy's messages: `missing module-name`, `import of <M> failed: <why>`, `missing init func: ...`.
 */
export async function loadModuleTranslator(volume: string, options: Readonly<Record<string, string>>, baseDir: string): Promise<TranslatorClass> {
  const moduleName = options['module-name'];
  if (moduleName === undefined || moduleName === '') throw new TranslatorError(`volume '${volume}': missing module-name`, { translator: volume, option: 'module-name' });
  const where = await resolveModule(moduleName, baseDir);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(isAbsolute(where) ? pathToFileURL(where).href : where)) as Record<string, unknown>;
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new TranslatorError(`volume '${volume}': import of ${moduleName} failed: ${why}`, { translator: volume, option: 'module-name' }, { cause: err });
  }
  const cls = mod['default'];
  if (!isTranslatorClass(cls)) {
    throw new TranslatorError(`volume '${volume}': missing init func: ${moduleName} has no default export that extends Translator`, {
      translator: volume,
      option: 'module-name',
    });
  }
  return cls as TranslatorClass;
}
