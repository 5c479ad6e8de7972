// event-target-shim 6 ships types but its package.json "exports" hides them from
// TypeScript's Bundler resolution. The shim follows the DOM, so describe it with
// the DOM's own types; only its two configuration hooks are extra.
declare module 'event-target-shim' {
  export const Event: typeof globalThis.Event;
  export const EventTarget: typeof globalThis.EventTarget;
  export function setErrorHandler(handler: ((error: Error) => void) | undefined): void;
  export function setWarningHandler(handler: ((warning: { code: string; message: string; args: unknown[] }) => void) | undefined): void;
}
