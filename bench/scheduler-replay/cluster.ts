// The replay benchmark's API server, in a process of its own as a real one runs elsewhere: the
// API-server double holding the nodes (annotated as the controller writes them) and the pending
// pods the parent asks for. Pod writes (the Binding, the extender's GPU annotations) wait
// `writeLatencyMs` first, as kube-apiserver's round trip to etcd does.
// Usage (spawned with an IPC channel): node cluster.mjs '{"nodes":1000,...}'
import { writeKubeconfig } from '../../doubles/apiserver/kubeconfig.ts';
import type { JsonObject } from '../../doubles/apiserver/patch.ts';
import { ApiServerDouble } from '../../doubles/apiserver/server.ts';
import type { V1Pod } from '@kubernetes/client-node';
import { DEFAULT_SCHEDULER_NAME } from '../../contracts/index.ts';
import { benchNodeAnnotations } from '../scheduler/nodes.ts';
import { BENCH_POD, BENCH_VGPU_POD } from '../scheduler/pods.ts';
import {
  type ClusterReply,
  type ClusterRequest,
  type ClusterSettings,
  REPLAY_NAMESPACE,
  replayNodeName,
} from './protocol.ts';

const settings = JSON.parse(process.argv[2] ?? '{}') as ClusterSettings;
const send = (reply: ClusterReply) => process.send!(reply);
const double = await ApiServerDouble.start({ historyLimit: 50_000, requestLogLimit: 1000 });
if (settings.writeLatencyMs > 0) {
  for (const verb of ['create', 'patch'] as const) {
    double.faults.inject({
      verb,
      resource: 'pods',
      delayMs: settings.writeLatencyMs,
      times: Number.POSITIVE_INFINITY,
    });
  }
}
// Dated a minute ago by this machine's clock, which the extender reads them by.
const at = Date.now() - 60_000;
for (let i = 0; i < settings.nodes; i++) {
  const name = replayNodeName(i);
  double.putObject({
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      labels: { 'kubernetes.io/hostname': name },
      annotations: benchNodeAnnotations(i, at, settings.gpusPerNode),
    },
    status: {
      allocatable: { cpu: '64', memory: '256Gi', pods: '110' },
      capacity: { cpu: '64', memory: '256Gi', pods: '110' },
      conditions: [{ type: 'Ready', status: 'True' }],
    },
  });
}
await writeKubeconfig(settings.kubeconfig, double.url, 'replay');

/** A pending pod as the API server holds it: defaulted, with its UID and Pending phase. */
function pendingPod(name: string, vgpu: boolean): V1Pod {
  const template = vgpu ? BENCH_VGPU_POD : BENCH_POD;
  const pod: V1Pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: REPLAY_NAMESPACE },
    spec: { ...structuredClone(template.spec!), schedulerName: DEFAULT_SCHEDULER_NAME },
    status: { phase: 'Pending' },
  };
  // A V1Pod is plain JSON; its declared type only allows `undefined` where JSON has no value.
  return double.putObject(pod as unknown as JsonObject) as unknown as V1Pod;
}

process.on('message', (request: ClusterRequest) => {
  if (request.type === 'pods') {
    const pods = Array.from({ length: request.count }, (_, i) =>
      pendingPod(`${request.prefix}-${i}`, request.vgpu),
    );
    send({ type: 'pods', id: request.id, pods });
  } else if (request.type === 'placements') {
    const nodeNames: Record<string, string> = {};
    for (const name of request.names) {
      const pod = double.getObject('pods', name, REPLAY_NAMESPACE) as V1Pod | undefined;
      nodeNames[name] = pod?.spec?.nodeName ?? '';
    }
    send({ type: 'placements', id: request.id, nodeNames });
  } else {
    void double.close().then(() => process.exit(0));
  }
});
// Ends with its parent: the IPC channel closes when the benchmark exits.
process.on('disconnect', () => void double.close().then(() => process.exit(0)));
send({ type: 'ready', url: double.url });
