import * as fs from "node:fs";
import * as path from "node:path";
import type { Fixture } from "./fixture";
import { renderContrib, runServer, type RunningServer } from "./fronts";

/** The relay's PKI paths, to replace the contrib files' /etc/frelay defaults. */
export function pkiReplacements(fx: Fixture): [string, string][] {
  return [
    ["/etc/frelay/certs/relay-ca.pem", path.join(fx.certsDir, "relay-ca.pem")],
    ["/etc/frelay/certs/relay.pem", path.join(fx.certsDir, "relay.pem")],
    ["/etc/frelay/certs/relay.key", path.join(fx.certsDir, "relay.key")],
  ];
}

/** nginx in the foreground on `port`, with the rendered contrib file included where it belongs. */
export async function startNginx(parent: string, port: number, contrib: { file: string; replacements: [string, string][]; stream: boolean }): Promise<RunningServer> {
  const dir = fs.mkdtempSync(path.join(parent, "nginx-"));
  const name = path.basename(contrib.file);
  fs.writeFileSync(path.join(dir, name), renderContrib(contrib.file, contrib.replacements));
  const temps = ["body", "proxy", "fastcgi", "uwsgi", "scgi"];
  for (const t of temps) fs.mkdirSync(path.join(dir, t));
  const include = `include ${dir}/${name};`;
  fs.writeFileSync(
    path.join(dir, "nginx.conf"),
    [
      contrib.stream ? "load_module /usr/lib/nginx/modules/ngx_stream_module.so;" : "",
      `daemon off; user root; worker_processes 1; pid ${dir}/nginx.pid; error_log ${dir}/error.log warn;`,
      "events { worker_connections 256; }",
      contrib.stream ? include : `http { access_log off; ${temps.map((t) => `${t === "body" ? "client_body" : t}_temp_path ${dir}/${t};`).join(" ")} ${include} }`,
      "",
    ].join("\n"),
  );
  return runServer("nginx", ["-c", path.join(dir, "nginx.conf"), "-p", dir], port, path.join(dir, "out.log"));
}

/** nginx from contrib/nginx/frelay-h2.conf on `port`, forwarding to the relay's fronting port. */
export function startNginxH2(fx: Fixture, port: number, fronting: number): Promise<RunningServer> {
  return startNginx(fx.dir, port, {
    file: "nginx/frelay-h2.conf",
    replacements: [...pkiReplacements(fx), ["listen 443", `listen 127.0.0.1:${port}`], ["127.0.0.1:13490", `127.0.0.1:${fronting}`]],
    stream: false,
  });
}
