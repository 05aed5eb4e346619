/** What a tenant's directory answers (see tenant-directory.ts). */

/** The configured jurisdiction agrees with the pin (or there is none yet), or the pin it disagrees with. */
export type PinCheck =
  { readonly ok: true; readonly pinned: boolean } | { readonly ok: false; readonly pinnedTo: string | null };

export interface AccountPage {
  readonly accounts: readonly string[];
  readonly hasMore: boolean;
}
