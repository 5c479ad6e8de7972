// DOMException (WebIDL §4.3), with the legacy numeric codes that older code
// still matches on (`err.code === 20` for AbortError).

import { defineGlobal } from './define.ts';
import { registerErrorFactory } from './bridge.ts';

// WebIDL's "error names" table: name → legacy code. Names added later have code 0.
const LEGACY_CODES = {
  IndexSizeError: 1,
  HierarchyRequestError: 3,
  WrongDocumentError: 4,
  InvalidCharacterError: 5,
  NoModificationAllowedError: 7,
  NotFoundError: 8,
  NotSupportedError: 9,
  InUseAttributeError: 10,
  InvalidStateError: 11,
  SyntaxError: 12,
  InvalidModificationError: 13,
  NamespaceError: 14,
  InvalidAccessError: 15,
  TypeMismatchError: 17,
  SecurityError: 18,
  NetworkError: 19,
  AbortError: 20,
  URLMismatchError: 21,
  QuotaExceededError: 22,
  TimeoutError: 23,
  InvalidNodeTypeError: 24,
  DataCloneError: 25,
} as const;

type LegacyName = keyof typeof LEGACY_CODES;

const CONSTANTS = {
  INDEX_SIZE_ERR: 1,
  DOMSTRING_SIZE_ERR: 2,
  HIERARCHY_REQUEST_ERR: 3,
  WRONG_DOCUMENT_ERR: 4,
  INVALID_CHARACTER_ERR: 5,
  NO_DATA_ALLOWED_ERR: 6,
  NO_MODIFICATION_ALLOWED_ERR: 7,
  NOT_FOUND_ERR: 8,
  NOT_SUPPORTED_ERR: 9,
  INUSE_ATTRIBUTE_ERR: 10,
  INVALID_STATE_ERR: 11,
  SYNTAX_ERR: 12,
  INVALID_MODIFICATION_ERR: 13,
  NAMESPACE_ERR: 14,
  INVALID_ACCESS_ERR: 15,
  VALIDATION_ERR: 16,
  TYPE_MISMATCH_ERR: 17,
  SECURITY_ERR: 18,
  NETWORK_ERR: 19,
  ABORT_ERR: 20,
  URL_MISMATCH_ERR: 21,
  QUOTA_EXCEEDED_ERR: 22,
  TIMEOUT_ERR: 23,
  INVALID_NODE_TYPE_ERR: 24,
  DATA_CLONE_ERR: 25,
} as const;

/** Set while Error's constructor runs for a DOMException, before its fields exist. */
let constructing = 0;

export class DOMException extends Error {
  #name: string;
  #message: string;

  constructor(message: unknown = '', name: unknown = 'Error') {
    const m = String(message);
    constructing++;
    try {
      super(m);
    } finally {
      constructing--;
    }
    this.#message = m;
    this.#name = String(name);
    // Error's constructor made `message` an own data property; WebIDL puts it on
    // the prototype as an accessor, so drop the own copy.
    delete (this as { message?: string }).message;
  }

  // Accessors, as WebIDL puts them on the prototype, with its brand checks
  // (WPT webidl/…/DOMException-custom-bindings: `getter.apply({})` throws).
  // V8 may read `name` while Error's constructor runs, before our fields
  // exist: then the defaults answer.
  override get name(): string {
    if (#name in this) return this.#name;
    if (constructing > 0) return 'Error';
    throw new TypeError('Illegal invocation');
  }

  override get message(): string {
    if (#message in this) return this.#message;
    if (constructing > 0) return '';
    throw new TypeError('Illegal invocation');
  }

  get code(): number {
    if (!(#name in this)) throw new TypeError('Illegal invocation');
    return Object.hasOwn(LEGACY_CODES, this.#name) ? LEGACY_CODES[this.#name as LegacyName] : 0;
  }
}

for (const [key, value] of Object.entries(CONSTANTS)) {
  const desc = { value, writable: false, enumerable: true, configurable: false };
  Object.defineProperty(DOMException, key, desc);
  Object.defineProperty(DOMException.prototype, key, desc);
}
Object.defineProperty(DOMException.prototype, Symbol.toStringTag, { value: 'DOMException', configurable: true });
// WebIDL: an interface's attributes are enumerable (class accessors are not).
// Still unlike WebIDL: the constructor inherits from Error (a class's
// `super()` looks its parent up on the constructor's prototype, so it
// cannot be made to inherit from Function.prototype alone).
for (const key of ['name', 'message', 'code'] as const) {
  Object.defineProperty(DOMException.prototype, key, { ...Object.getOwnPropertyDescriptor(DOMException.prototype, key), enumerable: true });
}

/** Shorthand for the many places that throw a named DOMException. */
export function domError(message: string, name: string): DOMException {
  return new DOMException(message, name);
}

defineGlobal('DOMException', DOMException);
registerErrorFactory('DOMException', (m, name) => new DOMException(m, name));
