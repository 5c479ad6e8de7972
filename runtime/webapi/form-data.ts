// FormData (XHR §4.3). There are no forms in a worker, so the constructor takes
// no arguments, as in workerd and Deno.

import { defineGlobal } from './define.ts';
import { Blob, File } from './blob.ts';
import { apply } from './intrinsics.ts';

export type FormDataEntryValue = string | File;

// WebIDL USVString: lone surrogates become U+FFFD.
function usv(v: unknown): string {
  return String(v).toWellFormed();
}

function toEntryValue(value: unknown, filename: unknown, argc: number): FormDataEntryValue {
  if (value instanceof Blob) {
    if (value instanceof File && filename === undefined) return value;
    const name = filename !== undefined ? usv(filename) : value instanceof File ? value.name : 'blob';
    const init: FilePropertyBag = { type: value.type };
    if (value instanceof File) init.lastModified = value.lastModified;
    return new File([value], name, init);
  }
  if (argc > 2) throw new TypeError("Failed to execute 'append' on 'FormData': parameter 2 is not of type 'Blob'.");
  return usv(value);
}

/** FormData's entry list, for the multipart encoder. */
export let formDataEntries: (fd: FormData) => ReadonlyArray<readonly [string, FormDataEntryValue]>;

export class FormData {
  #entries: Array<[string, FormDataEntryValue]> = [];

  constructor(form?: unknown) {
    if (form !== undefined) throw new TypeError("Failed to construct 'FormData': parameter 1 is not of type 'HTMLFormElement'.");
  }

  append(name: string, value: string | Blob, filename?: string): void {
    if (arguments.length < 2) throw new TypeError(`Failed to execute 'append' on 'FormData': 2 arguments required, but only ${arguments.length} present.`);
    this.#entries.push([usv(name), toEntryValue(value, filename, arguments.length)]);
  }

  delete(name: string): void {
    const n = usv(name);
    this.#entries = this.#entries.filter((e) => e[0] !== n);
  }

  get(name: string): FormDataEntryValue | null {
    const n = usv(name);
    for (const e of this.#entries) if (e[0] === n) return e[1];
    return null;
  }

  getAll(name: string): FormDataEntryValue[] {
    const n = usv(name);
    const out: FormDataEntryValue[] = [];
    for (const e of this.#entries) if (e[0] === n) out.push(e[1]);
    return out;
  }

  has(name: string): boolean {
    const n = usv(name);
    return this.#entries.some((e) => e[0] === n);
  }

  set(name: string, value: string | Blob, filename?: string): void {
    if (arguments.length < 2) throw new TypeError(`Failed to execute 'set' on 'FormData': 2 arguments required, but only ${arguments.length} present.`);
    const n = usv(name);
    const entry: [string, FormDataEntryValue] = [n, toEntryValue(value, filename, arguments.length)];
    // Replace the first entry with this name in place and drop the rest (XHR §4.3, set()).
    const i = this.#entries.findIndex((e) => e[0] === n);
    if (i < 0) {
      this.#entries.push(entry);
      return;
    }
    this.#entries[i] = entry;
    this.#entries = this.#entries.filter((e, j) => j <= i || e[0] !== n);
  }

  *entries(): FormDataIterator<[string, FormDataEntryValue]> {
    // Index-based so that entries appended during iteration are visited, as
    // WebIDL's live iterators do.
    for (let i = 0; i < this.#entries.length; i++) {
      const e = this.#entries[i];
      if (e !== undefined) yield [e[0], e[1]];
    }
  }

  *keys(): FormDataIterator<string> {
    for (const [k] of this.entries()) yield k;
  }

  *values(): FormDataIterator<FormDataEntryValue> {
    for (const [, v] of this.entries()) yield v;
  }

  forEach(callback: (value: FormDataEntryValue, key: string, parent: FormData) => void, thisArg?: unknown): void {
    if (typeof callback !== 'function') throw new TypeError("Failed to execute 'forEach' on 'FormData': The callback provided as parameter 1 is not a function.");
    for (const [k, v] of this.entries()) apply(callback, thisArg, [v, k, this]);
  }

  [Symbol.iterator](): FormDataIterator<[string, FormDataEntryValue]> {
    return this.entries();
  }

  static {
    formDataEntries = (fd) => fd.#entries;
  }
}
Object.defineProperty(FormData.prototype, Symbol.toStringTag, { value: 'FormData', configurable: true });

defineGlobal('FormData', FormData);
