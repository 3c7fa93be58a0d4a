// Client configuration that points the real @kubernetes/client-node at an API-server double.
import { writeFile } from 'node:fs/promises';
import { KubeConfig } from '@kubernetes/client-node';
import { stringify } from 'yaml';

/**
 * A KubeConfig for `server` (plain HTTP, so TLS verification must be off for the client to accept
 * it). `user` travels as the bearer token, which the double records per request: two controllers
 * with different users can be told apart in its request log.
 */
export function kubeConfigFor(server: string, user = 'test'): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'double', server, skipTLSVerify: true }],
    users: [{ name: user, token: user }],
    contexts: [{ name: 'double', cluster: 'double', user }],
    currentContext: 'double',
  });
  return kc;
}

/** Writes a kubeconfig file for `server`, for code under test that takes `--kubeconfig PATH`. */
export async function writeKubeconfig(path: string, server: string, user = 'test'): Promise<string> {
  const doc = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'double', cluster: { server, 'insecure-skip-tls-verify': true } }],
    users: [{ name: user, user: { token: user } }],
    contexts: [{ name: 'double', context: { cluster: 'double', user } }],
    'current-context': 'double',
  };
  await writeFile(path, stringify(doc), { mode: 0o600 });
  return path;
}
