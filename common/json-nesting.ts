// How deep a JSON text nests, found in one pass over the text before it is parsed: JSON.parse
// itself copes with any depth, but everything that walks the result recursively afterwards
// (validation, serialisation, the scheduling code) would overflow the stack on a hostile body.

const OPEN_OBJECT = 0x7b; // {
const OPEN_ARRAY = 0x5b; // [
const CLOSE_OBJECT = 0x7d; // }
const CLOSE_ARRAY = 0x5d; // ]
const QUOTE = 0x22; // "
const BACKSLASH = 0x5c; // \

/**
 * Why `text` nests deeper than `maxDepth` objects and arrays, or undefined when it does not.
 * Brackets inside strings do not count. Malformed JSON is left to the parser to report.
 */
export function jsonNestingProblem(text: string, maxDepth: number): string | undefined {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) inString = true;
    else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      if (++depth > maxDepth) return `the JSON body nests deeper than ${maxDepth} levels`;
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) depth--;
  }
  return undefined;
}
