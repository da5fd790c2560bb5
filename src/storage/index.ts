/**
 * `switchyard/storage`: translator graphs (GlusterFS's model, with glupy's interface in
 * TypeScript), volfiles, and the front doors onto a graph.
 *
 * @example
 * ```ts
 * import { Translator, graphFromText, makeLoc } from 'switchyard/storage';
 *
 * class Hello extends Translator {
 *   lookupFop(frame, loc, xdata) {
 *     console.log('Hello!', loc.path);
 *     this.windLookup(frame, loc, xdata);
 *   }
 * }
 * ```
 * @module
 */
export * from '../translator/index.ts';
export { TranslatorError, VolfileError, FsError, MountError } from '../errors.ts';
export * from '../volume/index.ts';
