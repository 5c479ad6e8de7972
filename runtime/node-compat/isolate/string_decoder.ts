// node:string_decoder: the `string_decoder` package (Node's, over Buffer).
import { StringDecoder } from 'string_decoder';

export { StringDecoder };
export default { StringDecoder };
