/** Length in Unicode code points, which is how every text limit is counted. */
export function codePointLength(text: string): number {
  let length = 0;
  for (const _ of text) length += 1;
  return length;
}
