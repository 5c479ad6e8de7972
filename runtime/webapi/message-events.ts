// MessageEvent, CloseEvent and ErrorEvent: plain data events that WebSockets
// and EventSource deliver and that workers may construct themselves. A lazy
// module of its own (runtime/prelude.ts, LAZY_MODULES): those two reach it
// through `required`, workers through its globals.

import { defineGlobal } from './define.ts';
import { Event } from './events.ts';
import { provide } from './lazy.ts';

// HTML §9.3, WebSockets §4.

interface MessageEventInit extends EventInit {
  data?: unknown;
  origin?: string;
  lastEventId?: string;
}

export class MessageEvent extends Event {
  #data: unknown;
  #origin: string;
  #lastEventId: string;
  constructor(type: string, init?: MessageEventInit) {
    if (arguments.length === 0) throw new TypeError("Failed to construct 'MessageEvent': 1 argument required, but only 0 present.");
    super(type, init);
    this.#data = init?.data ?? null;
    this.#origin = init?.origin === undefined ? '' : `${init.origin}`;
    this.#lastEventId = init?.lastEventId === undefined ? '' : `${init.lastEventId}`;
  }
  get data(): unknown {
    return this.#data;
  }
  get origin(): string {
    return this.#origin;
  }
  get lastEventId(): string {
    return this.#lastEventId;
  }
  get source(): null {
    return null;
  }
  get ports(): never[] {
    return [];
  }
}
Object.defineProperty(MessageEvent.prototype, Symbol.toStringTag, { value: 'MessageEvent', configurable: true });

interface CloseEventInit extends EventInit {
  code?: number;
  reason?: string;
  wasClean?: boolean;
}

export class CloseEvent extends Event {
  #code: number;
  #reason: string;
  #wasClean: boolean;
  constructor(type: string, init?: CloseEventInit) {
    if (arguments.length === 0) throw new TypeError("Failed to construct 'CloseEvent': 1 argument required, but only 0 present.");
    super(type, init);
    this.#code = init?.code === undefined ? 0 : Number(init.code) & 0xffff;
    this.#reason = init?.reason === undefined ? '' : `${init.reason}`;
    this.#wasClean = Boolean(init?.wasClean);
  }
  get code(): number {
    return this.#code;
  }
  get reason(): string {
    return this.#reason;
  }
  get wasClean(): boolean {
    return this.#wasClean;
  }
}
Object.defineProperty(CloseEvent.prototype, Symbol.toStringTag, { value: 'CloseEvent', configurable: true });

interface ErrorEventInit extends EventInit {
  message?: string;
  error?: unknown;
}

export class ErrorEvent extends Event {
  #message: string;
  #error: unknown;
  constructor(type: string, init?: ErrorEventInit) {
    if (arguments.length === 0) throw new TypeError("Failed to construct 'ErrorEvent': 1 argument required, but only 0 present.");
    super(type, init);
    this.#message = init?.message === undefined ? '' : `${init.message}`;
    this.#error = init?.error;
  }
  get message(): string {
    return this.#message;
  }
  get error(): unknown {
    return this.#error;
  }
  get filename(): string {
    return '';
  }
  get lineno(): number {
    return 0;
  }
  get colno(): number {
    return 0;
  }
}
Object.defineProperty(ErrorEvent.prototype, Symbol.toStringTag, { value: 'ErrorEvent', configurable: true });

export interface MessageEvents {
  MessageEvent: typeof MessageEvent;
  CloseEvent: typeof CloseEvent;
  ErrorEvent: typeof ErrorEvent;
}

provide('message-events', { MessageEvent, CloseEvent, ErrorEvent } satisfies MessageEvents);
defineGlobal('MessageEvent', MessageEvent);
defineGlobal('CloseEvent', CloseEvent);
defineGlobal('ErrorEvent', ErrorEvent);
