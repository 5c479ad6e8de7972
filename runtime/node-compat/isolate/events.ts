// node:events: the `events` package (Node's EventEmitter, browserified).
import EventEmitter from 'events';

export { EventEmitter };
export const once = EventEmitter.once;
export const defaultMaxListeners = EventEmitter.defaultMaxListeners;
export default EventEmitter;
