/**
 * CSV as RFC 4180 writes it and Excel saves it: fields separated by commas, records by CRLF or LF, a field in double
 * quotes may hold commas, line breaks and doubled quotes. Read leniently where Excel is lenient: a quote inside an
 * unquoted field is kept as it is, text after a closing quote is appended.
 */

/** A quoted field still open at the end of the file. */
export class UnclosedQuoteError extends Error {
  /** The 0-based record the quote opened in. */
  constructor(readonly record: number) {
    super(`a quoted cell opened in record ${record + 1} is never closed`);
  }
}

const State = {
  FieldStart: 0,
  Unquoted: 1,
  Quoted: 2,
  /** A quote inside a quoted field: the end of the field, or the first of a doubled quote. */
  QuoteInQuoted: 3,
} as const;

/** The records of the text, each its fields (a blank line is one empty field). */
export async function* parseCsv(chunks: AsyncIterable<string>): AsyncGenerator<string[]> {
  let state: (typeof State)[keyof typeof State] = State.FieldStart;
  let field = '';
  let row: string[] = [];
  let record = 0;
  /** A CR just ended a record: an LF right after it belongs to it. */
  let afterCr = false;
  const done: string[][] = [];
  const endRecord = (): void => {
    row.push(field);
    done.push(row);
    row = [];
    field = '';
    state = State.FieldStart;
    record++;
  };
  for await (const text of chunks) {
    let plainFrom = -1; // start of a run of ordinary characters in an unquoted or quoted field
    const flush = (to: number): void => {
      if (plainFrom >= 0) field += text.slice(plainFrom, to);
      plainFrom = -1;
    };
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (afterCr) {
        afterCr = false;
        if (c === 0x0a) continue;
      }
      switch (state) {
        case State.FieldStart:
          if (c === 0x22) state = State.Quoted;
          else if (c === 0x2c) row.push('');
          else if (c === 0x0d || c === 0x0a) {
            endRecord();
            afterCr = c === 0x0d;
          } else {
            state = State.Unquoted;
            plainFrom = i;
          }
          break;
        case State.Unquoted:
          if (c === 0x2c || c === 0x0d || c === 0x0a) {
            flush(i);
            if (c === 0x2c) {
              row.push(field);
              field = '';
              state = State.FieldStart;
            } else {
              endRecord();
              afterCr = c === 0x0d;
            }
          } else if (plainFrom < 0) plainFrom = i;
          break;
        case State.Quoted:
          if (c === 0x22) {
            flush(i);
            state = State.QuoteInQuoted;
          } else if (plainFrom < 0) plainFrom = i;
          break;
        case State.QuoteInQuoted:
          if (c === 0x22) {
            field += '"';
            state = State.Quoted;
          } else if (c === 0x2c) {
            row.push(field);
            field = '';
            state = State.FieldStart;
          } else if (c === 0x0d || c === 0x0a) {
            endRecord();
            afterCr = c === 0x0d;
          } else {
            state = State.Unquoted;
            plainFrom = i;
          }
          break;
      }
    }
    flush(text.length);
    yield* done;
    done.length = 0;
  }
  if (state === State.Quoted) throw new UnclosedQuoteError(record);
  if (state !== State.FieldStart || row.length > 0) endRecord();
  yield* done;
}
