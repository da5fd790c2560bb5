/**
 * A graph's inode table: one {@link Inode} per gfid, bounded by an LRU limit (GlusterFS's
 * `inode-lru-limit`). Inodes with open fds and the root are never evicted; translators holding
 * context on an evicted inode are told through `forget`.
 * @module
 */
import { IA, Inode, ROOT_GFID, type Gfid, type IaType } from './model.ts';

/** The inode table of one graph. */
export class InodeTable {
  readonly #map = new Map<Gfid, Inode>();
  readonly #onForget: (inode: Inode) => void;
  /** Most inodes kept; the least recently used unpinned ones go first. */
  readonly limit: number;
  /** The root directory's inode (pinned). */
  readonly root: Inode;

  constructor(limit: number, onForget: (inode: Inode) => void) {
    this.limit = Math.max(16, limit);
    this.#onForget = onForget;
    this.root = new Inode(ROOT_GFID, IA.IFDIR);
    this.#map.set(ROOT_GFID, this.root);
  }

  /** The inode of `gfid`, if the table has it. */
  find(gfid: Gfid): Inode | undefined {
    return this.#map.get(gfid);
  }

  /** The inode of `gfid`, made if new; marks it recently used and records its type. */
  link(gfid: Gfid, type: IaType): Inode {
    const map = this.#map;
    let inode = map.get(gfid);
    if (inode !== undefined) {
      if (inode !== this.root) {
        map.delete(gfid);
        map.set(gfid, inode);
      }
      if (type !== IA.INVAL) inode.type = type;
      return inode;
    }
    inode = new Inode(gfid, type);
    map.set(gfid, inode);
    if (map.size > this.limit) this.prune();
    return inode;
  }

  /** Drops `gfid` from the table (after its last link is gone); its translators forget it. */
  forget(gfid: Gfid): void {
    const inode = this.#map.get(gfid);
    if (inode === undefined || inode === this.root || inode.fdCount > 0) return;
    this.#map.delete(gfid);
    this.#onForget(inode);
  }

  /** How many inodes the table holds. */
  get size(): number {
    return this.#map.size;
  }

  private prune(): void {
    const excess = this.#map.size - this.limit;
    let dropped = 0;
    for (const inode of this.#map.values()) {
      if (dropped >= excess) break;
      if (inode === this.root || inode.fdCount > 0) continue;
      this.#map.delete(inode.gfid);
      this.#onForget(inode);
      dropped++;
    }
  }

  /** Forgets every inode (graph teardown). */
  clear(): void {
    for (const inode of this.#map.values()) if (inode !== this.root) this.#onForget(inode);
    this.#map.clear();
    this.#map.set(ROOT_GFID, this.root);
  }
}
