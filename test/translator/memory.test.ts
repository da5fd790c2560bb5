/**
 * storage/memory keeps the leaf contract (test/translator/leaf-contract.ts).
 */
import { Graph } from '../../src/translator/graph.ts';
import { MemoryStorage } from '../../src/translator/types/memory.ts';
import { runLeafContract } from './leaf-contract.ts';

runLeafContract('storage/memory', async () => {
  const graph = new Graph(new MemoryStorage({ name: 'mem', type: 'storage/memory' }));
  await graph.init();
  return { graph, cleanup: () => graph.fini() };
});
