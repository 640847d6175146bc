import * as fs from "node:fs";
import type * as net from "node:net";
import type { ListenAddress } from "../config/address";
import { DaemonError } from "../errors";
import { bindServer } from "./bind";

export interface SocketAccess {
  /** File mode of the socket, e.g. 0o660. */
  readonly mode: number;
  /** Group name or numeric gid that should own it; absent keeps the process's group. */
  readonly group?: string;
}

/**
 * Binds a listener whose unix socket gets an explicit mode (and group), never the umask's:
 * whoever can connect to the fronting socket is believed about any identity. With a group the
 * socket is born 0600, handed to the group, and only then widened to `mode`, so no one outside
 * the owner and that group can ever connect, not even for an instant.
 */
export async function bindWithAccess(server: net.Server, address: ListenAddress, access: SocketAccess, setting: string): Promise<string> {
  if (address.kind !== "unix" || access.group === undefined) return bindServer(server, address, { setting, socketMode: access.mode });
  const bound = await bindServer(server, address, { setting, socketMode: 0o600 });
  try {
    setSocketAccess(address.path, access, setting);
  } catch (err) {
    server.close();
    throw err;
  }
  return bound;
}

/**
 * Gives an existing socket file its group and mode (a reload that changes only these). Narrowed
 * to the owner first, so the new mode never applies to the old group.
 */
export function setSocketAccess(file: string, access: SocketAccess, setting: string): void {
  const groupSetting = setting.replace(/address$/, "socket_group");
  const gid = access.group === undefined ? undefined : groupId(access.group, groupSetting);
  try {
    if (gid !== undefined) {
      fs.chmodSync(file, 0o600);
      fs.chownSync(file, -1, gid);
    }
    fs.chmodSync(file, access.mode);
  } catch (err) {
    throw new DaemonError("FRELAY_ERR_LISTEN", `${groupSetting} ${access.group ?? ""}: ${file} cannot be given that group and mode (${(err as NodeJS.ErrnoException).code}; run the relay as a member of the group)`);
  }
}

function groupId(group: string, groupSetting: string): number {
  if (/^\d+$/.test(group)) return Number(group);
  let text = "";
  try {
    text = fs.readFileSync("/etc/group", "utf8");
  } catch {
    // no group database: the name cannot be resolved
  }
  for (const line of text.split("\n")) {
    const [name, , gid] = line.split(":");
    if (name === group && gid !== undefined && /^\d+$/.test(gid)) return Number(gid);
  }
  throw new DaemonError("FRELAY_ERR_LISTEN", `${groupSetting} "${group}" is not a group on this host (create it, or give a numeric gid)`);
}
