/**
 * Task ids: the id every callout of one connection (or listener) is given, so that managers can
 * account per connection. GCT's default is the string `"unset"`; Switchyard gives each connection
 * a fresh id unless the caller or the configuration (`task-id=`) sets one.
 * @module
 */
import { randomUUID } from 'node:crypto';

/** A new task id: a random UUID (RFC 4122 version 4), unique across processes and hosts. */
export function newTaskId(): string {
  return randomUUID();
}
