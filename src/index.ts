/** The library's public surface. */
export { connect, type ConnectOptions, type RelayedConnection } from "./client/connect";
export { resolveSettings, type PartySettings } from "./client/settings";
export { loadConfig, type RelayConfig } from "./config/load";
export { RelayHost } from "./daemon/relay-host";
export {
  ClientError,
  ConfigError,
  DaemonError,
  FileError,
  FrelayError,
  PkiError,
  RefusalError,
  UsageError,
  type FrelayErrorCode,
} from "./errors";
export { createLogger, silentLogger, type Logger } from "./log/logger";
