/**
 * How current a CRL is, for warnings: the relay enforces its entries whatever its dates, but an
 * operator must renew it (`frelay cert crl renew`) before `nextUpdate` so that other verifiers
 * (a TLS-terminating front given the same CRL, `openssl verify -crl_check`) keep accepting it.
 */
export const CRL_WARN_DAYS = 30;
const DAY_MS = 24 * 3600_000;

export interface CrlDates {
  readonly revoked: readonly string[];
  readonly thisUpdate: string;
  readonly nextUpdate?: string;
}

export interface CrlFreshness {
  state: "ok" | "expiring" | "expired" | "not_yet_valid";
  nextUpdate?: string;
  /** Whole days until nextUpdate (negative once past). */
  daysLeft?: number;
  /** One line for check, status and the log. */
  text: string;
}

export function crlFreshness(crl: CrlDates, now = Date.now()): CrlFreshness {
  const n = crl.revoked.length;
  const entries = `${n} revoked certificate${n === 1 ? "" : "s"}`;
  if (Date.parse(crl.thisUpdate) > now) {
    return { state: "not_yet_valid", ...(crl.nextUpdate ? { nextUpdate: crl.nextUpdate } : {}), text: `${entries}; its thisUpdate ${crl.thisUpdate} is in the future (check this host's clock and the signer's); its revocations are enforced all the same` };
  }
  if (!crl.nextUpdate) return { state: "ok", text: `${entries}; no nextUpdate` };
  const ms = Date.parse(crl.nextUpdate) - now;
  const daysLeft = Math.floor(ms / DAY_MS);
  const base = { nextUpdate: crl.nextUpdate, daysLeft };
  if (ms <= 0) return { state: "expired", ...base, text: `${entries}; nextUpdate ${crl.nextUpdate} has passed: renew it with "frelay cert crl renew" (its revocations are enforced all the same)` };
  if (daysLeft < CRL_WARN_DAYS) return { state: "expiring", ...base, text: `${entries}; nextUpdate ${crl.nextUpdate} is in ${daysLeft} days: renew it with "frelay cert crl renew"` };
  return { state: "ok", ...base, text: `${entries}; next update ${crl.nextUpdate} (in ${daysLeft} days)` };
}
