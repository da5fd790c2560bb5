// Module resolve hook for running Switchyard from its TypeScript sources (tests, SWITCHYARD_SOURCE=1):
// the package's own entry points resolve to src/, so user code that imports 'switchyard/storage'
// (a translator module, say) shares the classes of the running sources instead of a dist/ build.
const ENTRIES = {
  switchyard: 'src/index.ts',
  'switchyard/gateway': 'src/gateway/index.ts',
  'switchyard/hooks': 'src/hooks/index.ts',
  'switchyard/storage': 'src/storage/index.ts',
};

export async function resolve(specifier, context, next) {
  const entry = ENTRIES[specifier];
  // Passed on (not short-circuited) so that tsx's resolver marks the file as TypeScript for its loader.
  if (entry !== undefined) return next(new URL(`../${entry}`, import.meta.url).href, context);
  return next(specifier, context);
}
