/**
 * A first-in first-out queue with O(1) push and shift (an array with a moving head, compacted
 * when the dead prefix is large). Bounds are enforced by its users.
 * @module
 */

/** FIFO queue. */
export class Fifo<T> {
  private items: Array<T | undefined> = [];
  private head = 0;

  /** Number of queued values. */
  get length(): number {
    return this.items.length - this.head;
  }

  push(value: T): void {
    this.items.push(value);
  }

  /** Removes and returns the oldest value, or `undefined` when empty. */
  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const v = this.items[this.head];
    this.items[this.head] = undefined;
    this.head++;
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return v;
  }

  /** The oldest value without removing it. */
  peek(): T | undefined {
    return this.head < this.items.length ? this.items[this.head] : undefined;
  }

  /** Removes a value (first match); returns true when found. */
  remove(value: T): boolean {
    for (let i = this.head; i < this.items.length; i++) {
      if (this.items[i] === value) {
        this.items.splice(i, 1);
        return true;
      }
    }
    return false;
  }

  /** Removes and returns every value, oldest first. */
  drain(): T[] {
    const out = this.items.slice(this.head) as T[];
    this.items = [];
    this.head = 0;
    return out;
  }
}
