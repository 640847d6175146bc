/** A DNS-style label: what identities, users and parties are made of (docs/protocol.md, "Identities"). */
export const LABEL = "[A-Za-z0-9-]{1,63}";
const LABEL_RE = new RegExp(`^${LABEL}$`);
/**
 * `<party>.<user>` (the user part may itself be dotted), or one label alone: Flock's fr-adm
 * issues party certificates named just `0`, `1`, ... and a Flock site keeps them as they are.
 */
const IDENTITY_RE = new RegExp(`^${LABEL}(\\.${LABEL})*$`);

export function isLabel(s: string): boolean {
  return LABEL_RE.test(s);
}

export function isIdentity(s: string): boolean {
  return s.length <= 253 && IDENTITY_RE.test(s);
}

/** A user name: one or more labels (`user1`, `flock`, `team.example`). */
export function isUserName(s: string): boolean {
  return s.length <= 189 && s.split(".").every(isLabel);
}

/** Serials compare as upper-case hex without leading zeros. */
export function normalizeSerial(hex: string): string {
  return hex.toUpperCase().replace(/^0+(?=.)/, "");
}
