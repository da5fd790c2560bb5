/**
 * `switchyard volfile check FILE`: parses a volfile, checks every translator type and option,
 * and prints the graph as a tree from its top (or the error, with its line).
 * @module
 */
import { Command } from 'commander';
import { TranslatorError, VolfileError } from '../errors.ts';
import { buildGraph } from '../translator/graph.ts';
import { formatTree, loadVolfile } from '../translator/volfile.ts';

/** Registers `volfile`. */
export function registerVolfile(program: Command): void {
  const volfile = program.command('volfile').description('Work with translator graphs described by volfiles (GlusterFS grammar).');
  volfile
    .command('check')
    .description('Parse FILE, check every translator type and option (nothing is started), and print the graph as a tree.')
    .argument('<file>', 'the volfile')
    .option('--top <volume>', 'use this volume as the top instead of the last one')
    .action(async (file: string, flags: { top?: string }) => {
      try {
        const spec = await loadVolfile(file);
        // Building constructs every translator (types and options are checked) without init().
        const graph = await buildGraph(spec, { source: file, ...(flags.top === undefined ? {} : { top: flags.top }) });
        const top = spec.volumes.find((v) => v.name === graph.top.name) ?? spec.top;
        const tree = formatTree({ volumes: spec.volumes, top });
        process.stdout.write(tree.endsWith('\n') ? tree : tree + '\n');
        const unknown = graph.ordered.filter((t) => t.unknownOptions.length > 0);
        for (const t of unknown) process.stderr.write(`warning: volume '${t.name}' (${t.type}): option(s) not recognised: ${t.unknownOptions.join(', ')}\n`);
      } catch (err) {
        if (err instanceof VolfileError || err instanceof TranslatorError) {
          process.stderr.write(`${file}: ${err instanceof VolfileError ? err.detail : err.message}\n`);
          process.exitCode = 1;
          return;
        }
        throw err;
      }
    });
}
