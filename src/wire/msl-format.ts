/**
 * The exact JSON lines the Python msl-network Manager writes (key order, `repr` quoting), so that
 * Python clients and services see what they expect. See reference §2.3 and the wire transcript.
 * @module
 */
import { toPythonJson } from './json.ts';

/**
 * Python's `repr()` of a `str`, used wherever msl-network puts `{name!r}` into a message
 * (`the 'X' service does not exist`, `Cannot delete 'j.doe'. ...`): single quotes unless the text
 * has `'` and no `"`; control characters, C1 controls and lone surrogates escaped as Python does.
 */
export function pyRepr(value: string): string {
  const quote = value.includes("'") && !value.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of value) {
    const cp = ch.codePointAt(0) ?? 0;
    if (ch === '\\') out += '\\\\';
    else if (ch === quote) out += `\\${quote}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0)) out += `\\x${cp.toString(16).padStart(2, '0')}`;
    else if (cp >= 0xd800 && cp <= 0xdfff) out += `\\u${cp.toString(16).padStart(4, '0')}`;
    else out += ch;
  }
  return out + quote;
}

/** An error as msl-network writes it: `"<Class>: <text>"`. KeyError texts are `repr`-quoted as in Python. */
export interface PyError {
  /** Python exception class name, e.g. `KeyError`, `PermissionError`. */
  readonly name: string;
  /** The text after `"<Class>: "`. */
  readonly text: string;
  /** Traceback lines; empty for errors raised by the Manager's own checks. */
  readonly traceback?: readonly string[];
}

/** Builds a {@link PyError}; KeyError messages are quoted with `repr` like Python's `str(KeyError(msg))`. */
export function pyError(name: string, text: string, traceback: readonly string[] = []): PyError {
  return { name, text: name === 'KeyError' ? pyRepr(text) : text, traceback };
}

const CRLF = '\r\n';

/** Shape B: a prompt from the Manager (`identity`, `username`, `password`). */
export function promptLine(attribute: string, args: readonly unknown[], managerName: string): string {
  return `{"args": ${toPythonJson(args)}, "attribute": ${JSON.stringify(attribute)}, "error": false, "kwargs": {}, "requester": ${JSON.stringify(managerName)}, "uid": ""}${CRLF}`;
}

/** Shape C as the Manager writes it (key order error, requester, result, uid). */
export function managerResultLine(requester: string | null, result: unknown, uid: string): string {
  return `{"error": false, "requester": ${JSON.stringify(requester)}, "result": ${toPythonJson(result)}, "uid": ${JSON.stringify(uid)}}${CRLF}`;
}

/** Shape C as a Python Service writes it (key order error, result, requester, uid). */
export function serviceResultLine(requester: string | null, result: unknown, uid: string): string {
  return `{"error": false, "result": ${toPythonJson(result)}, "requester": ${JSON.stringify(requester)}, "uid": ${JSON.stringify(uid)}}${CRLF}`;
}

/** Shape D (key order error, message, requester, result, traceback, uid). */
export function errorLine(requester: string | null, err: PyError, uid: string): string {
  return `{"error": true, "message": ${JSON.stringify(`${err.name}: ${err.text}`)}, "requester": ${JSON.stringify(requester)}, "result": null, "traceback": ${toPythonJson(err.traceback ?? [])}, "uid": ${JSON.stringify(uid)}}${CRLF}`;
}

/** Shape E: a notification (key order error, result, service, uid). */
export function notificationLine(service: string, args: readonly unknown[], kwargs: Record<string, unknown>): string {
  return `{"error": false, "result": [${toPythonJson(args)}, ${toPythonJson(kwargs)}], "service": ${JSON.stringify(service)}, "uid": "notification"}${CRLF}`;
}

/** Shape A′: a request forwarded to a Service, in the key order the Python Manager produces. */
export function requestLine(service: string, attribute: string, args: readonly unknown[], kwargs: Record<string, unknown>, uid: string, requester: string): string {
  return `{"service": ${JSON.stringify(service)}, "attribute": ${JSON.stringify(attribute)}, "args": ${toPythonJson(args)}, "kwargs": ${toPythonJson(kwargs)}, "uid": ${JSON.stringify(uid)}, "error": false, "requester": ${JSON.stringify(requester)}}${CRLF}`;
}

/** Splits msl's `"<Class>: <text>"` message into its parts (class `Error` when there is no prefix). */
export function splitPyMessage(message: string): { name: string; text: string } {
  const m = /^([A-Za-z_][\w.]*): ([\s\S]*)$/.exec(message);
  if (m) return { name: m[1] as string, text: m[2] as string };
  return { name: 'Error', text: message };
}
