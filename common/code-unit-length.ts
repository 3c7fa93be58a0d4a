// String bounds counted in UTF-16 code units, for strings a server validates by the hundred per
// request (kube-scheduler's ~420 node names per /filter call). Ajv's own minLength/maxLength count
// code points with a function call that walks every string: a third of validating a /filter body.
// Counted in code units a bound is never looser (a string has at least as many code units as code
// points), and the messages are Ajv's own.
import { _, type CodeKeywordDefinition, type KeywordCxt, str } from 'ajv';

export const MIN_UNITS = 'minUnits';
export const MAX_UNITS = 'maxUnits';

export const codeUnitLengthKeyword: CodeKeywordDefinition = {
  keyword: [MIN_UNITS, MAX_UNITS],
  type: 'string',
  schemaType: 'number',
  error: {
    message: ({ keyword, schemaCode }) =>
      str`must NOT have ${keyword === MAX_UNITS ? 'more' : 'fewer'} than ${schemaCode} characters`,
    params: ({ schemaCode }) => _`{limit: ${schemaCode}}`,
  },
  code(cxt: KeywordCxt) {
    const { keyword, data, schemaCode } = cxt;
    cxt.fail(keyword === MAX_UNITS ? _`${data}.length > ${schemaCode}` : _`${data}.length < ${schemaCode}`);
  },
};

/** `{ minUnits, maxUnits }` for a schema's options. */
export function codeUnitLength(min: number, max: number): { [MIN_UNITS]: number; [MAX_UNITS]: number } {
  return { [MIN_UNITS]: min, [MAX_UNITS]: max };
}
