/** Rows read and written, as the platform bills them: what deciding a request cost the account object. */
export interface StorageWork {
  readonly rowsRead: number;
  readonly rowsWritten: number;
}
