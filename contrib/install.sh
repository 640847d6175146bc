#!/usr/bin/env bash
# Installs frelay as a system service: a dedicated user, its folders, the code under
# /opt/frelay, /usr/local/bin/frelay, the systemd unit and the logrotate config, and a first
# config + relay PKI in /etc/frelay (only if absent). Run as root from a checkout:
#   sudo contrib/install.sh [--hostname relay.example.com]...
# Re-running it upgrades the code and keeps config, keys and logs.
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
prefix=/opt/frelay
etc=/etc/frelay

if [ "$(id -u)" != 0 ]; then
  echo "install.sh: run as root (it creates a user and writes under /opt, /etc and /usr/local)" >&2
  exit 1
fi
command -v node >/dev/null || { echo "install.sh: node (>= 20) is not installed" >&2; exit 1; }

id frelay >/dev/null 2>&1 || useradd --system --home-dir /var/lib/frelay --shell /usr/sbin/nologin frelay
install -d -o frelay -g frelay -m 0750 /var/lib/frelay /var/log/frelay
install -d -o root -g frelay -m 0750 "$etc"

# The code: built in the checkout, copied with its production dependencies.
(cd "$src" && npm ci --no-audit --no-fund && npm run build)
rm -rf "$prefix.new" && install -d "$prefix.new"
cp -r "$src/bin" "$src/dist" "$src/package.json" "$src/package-lock.json" "$src/config.example.json" "$src/README.md" "$prefix.new/"
(cd "$prefix.new" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund)
rm -rf "$prefix.old" && { [ -d "$prefix" ] && mv "$prefix" "$prefix.old" || true; } && mv "$prefix.new" "$prefix"
ln -sf "$prefix/bin/frelay.js" /usr/local/bin/frelay

# First config and relay PKI, as the frelay user so keys are its own and 0600.
if [ ! -f "$etc/config.json" ]; then
  chown frelay:frelay "$etc"
  runuser -u frelay -- /usr/local/bin/frelay init -c "$etc/config.json" "$@"
  runuser -u frelay -- node -e '
    const fs = require("fs"); const f = process.argv[1];
    const c = JSON.parse(fs.readFileSync(f, "utf8"));
    Object.assign(c, { pidfile: "/run/frelay/frelay.pid", control_socket: "/run/frelay/frelay.sock" });
    c.log = { ...(c.log || {}), file: "/var/log/frelay/frelay.log" };
    fs.writeFileSync(f + ".tmp", JSON.stringify(c, null, 2) + "\n"); fs.renameSync(f + ".tmp", f);' "$etc/config.json"
  chown root:frelay "$etc"
fi

install -m 0644 "$src/systemd/frelay.service" /etc/systemd/system/frelay.service
install -d /etc/logrotate.d && install -m 0644 "$src/contrib/logrotate/frelay" /etc/logrotate.d/frelay
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  echo "installed; start with: systemctl enable --now frelay"
else
  echo "installed (systemd is not running here; start with: runuser -u frelay -- frelay start -c $etc/config.json)"
fi
