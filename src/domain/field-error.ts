/** One invalid field of a request: its dotted path and what is wrong with it. */
export interface FieldError {
  readonly field: string;
  readonly message: string;
}
