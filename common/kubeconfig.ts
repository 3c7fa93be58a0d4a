// Finding the cluster: --kubeconfig, else the in-cluster service account, else $KUBECONFIG or
// ~/.kube/config.
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';

export function loadKubeConfig(path: string | undefined): { kubeConfig: KubeConfig; source: string } {
  const kc = new KubeConfig();
  if (path) {
    kc.loadFromFile(path);
    return { kubeConfig: kc, source: path };
  }
  if (process.env.KUBERNETES_SERVICE_HOST && process.env.KUBERNETES_SERVICE_PORT) {
    kc.loadFromCluster();
    return { kubeConfig: kc, source: 'in-cluster service account' };
  }
  const candidates = (process.env.KUBECONFIG ?? '').split(':').filter((p) => p.length > 0);
  candidates.push(join(homedir(), '.kube', 'config'));
  const found = candidates.find((p) => existsSync(p));
  if (!found) {
    throw new Error('no cluster configured: pass --kubeconfig, run in a pod, or create ~/.kube/config');
  }
  kc.loadFromFile(found);
  return { kubeConfig: kc, source: found };
}
