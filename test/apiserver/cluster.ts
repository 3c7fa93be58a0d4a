// What an integration test talks to: the API-server double by default, or a real cluster when
// LOADWISE_TEST_KUBECONFIG names a kubeconfig. Tests create what they need through this (unique
// names, a fresh namespace) and `close()` removes it again.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, KubeConfig, PatchStrategy, type V1Node, setHeaderOptions } from '@kubernetes/client-node';
import { kubeConfigFor, writeKubeconfig } from '../../doubles/apiserver/kubeconfig.ts';
import { ApiServerDouble } from '../../doubles/apiserver/server.ts';

export const REAL_CLUSTER_ENV = 'LOADWISE_TEST_KUBECONFIG';

export interface TestCluster {
  /** The double, or undefined against a real cluster (tests that inject faults skip then). */
  double: ApiServerDouble | undefined;
  /** A fresh namespace for this test's namespaced objects. */
  namespace: string;
  /** Client configuration; against the double, `user` is recorded on each request. */
  kubeConfig(user?: string): KubeConfig;
  /** A kubeconfig file for code that takes --kubeconfig. */
  kubeconfigFile(user?: string): Promise<string>;
  /** A name no other test run uses: `<prefix>-<random>`. */
  unique(prefix: string): string;
  /** Creates a Node and removes it again on close(). */
  createNode(node: V1Node): Promise<V1Node>;
  close(): Promise<void>;
}

export async function openTestCluster(): Promise<TestCluster> {
  const realPath = process.env[REAL_CLUSTER_ENV];
  const double = realPath ? undefined : await ApiServerDouble.start();
  const dir = await mkdtemp(join(tmpdir(), 'loadwise-kube-'));
  const suffix = randomBytes(3).toString('hex');
  const kubeConfig = (user = 'test'): KubeConfig => {
    if (double) return kubeConfigFor(double.url, user);
    const kc = new KubeConfig();
    kc.loadFromFile(realPath!);
    return kc;
  };
  const core = kubeConfig('setup').makeApiClient(CoreV1Api);
  const namespace = `loadwise-test-${suffix}`;
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  const nodes: string[] = [];
  return {
    double,
    namespace,
    kubeConfig,
    kubeconfigFile: async (user = 'test') => {
      if (!double) return realPath!;
      return writeKubeconfig(join(dir, `${user}.kubeconfig`), double.url, user);
    },
    unique: (prefix) => `${prefix}-${suffix}-${randomBytes(2).toString('hex')}`,
    createNode: async (node) => {
      const created = await core.createNode({ body: node });
      const name = created.metadata!.name!;
      nodes.push(name);
      if (!node.status) return created;
      // A real API server may drop status on create; it belongs to the status subresource.
      return core.patchNodeStatus(
        { name, body: { status: node.status } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
    },
    close: async () => {
      const settle = (p: Promise<unknown>) => p.catch(() => undefined);
      await Promise.all(nodes.map((name) => settle(core.deleteNode({ name }))));
      await settle(core.deleteNamespace({ name: namespace }));
      await double?.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
