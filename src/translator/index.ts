/**
 * Translators: the fop table, frames, wind/unwind, the Translator base, graphs and volfiles.
 * @module
 */
export { FOPS, FOP_NAMES, FOP_TABLE_VERSION, isNamespaceFop, type FopName, type FopArgs, type FopResults, type FopReply, type Kind, type KindTypes } from './fops.ts';
export { CallRoot, Frame, type Credentials } from './frame.ts';
export {
  ROOT_GFID,
  NULL_GFID,
  IA,
  SETATTR,
  Inode,
  Fd,
  makeLoc,
  errno,
  errnoName,
  iaTypeFromMode,
  stModeOf,
  randomGfid,
  type Gfid,
  type IaType,
  type Iatt,
  type Loc,
  type Dict,
  type XattrDict,
  type DirEntry,
  type Statvfs,
} from './model.ts';
export { Translator, type TranslatorInit, type TranslatorHooks, type FopHooks, type CbkHooks, type GraphEvent } from './translator.ts';
export { type OptionSchema, type OptionSpec, type OptionType, type OptionValue } from './options.ts';
export { Graph, buildGraph, graphFromText, graphFromFile, DEFAULT_FRAME_TIMEOUT, type GraphOptions } from './graph.ts';
export { InodeTable } from './inode-table.ts';
export { registerTranslator, translatorTypes, type TranslatorClass } from './registry.ts';
export { parseVolfile, loadVolfile, formatVolfile, formatTree, type VolfileSpec, type VolumeDecl } from './volfile.ts';
