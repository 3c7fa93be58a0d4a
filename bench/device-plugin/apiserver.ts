// The benchmark's API server: the double in a process of its own, so its work (serving the PATCH,
// fanning out watch events) is not billed to the plugin being measured, as in a real cluster.
// Usage: tsx bench/device-plugin/apiserver.ts KUBECONFIG_PATH   → prints "ready" once the kubeconfig is written.
import { writeKubeconfig } from '../../doubles/apiserver/kubeconfig.ts';
import { ApiServerDouble } from '../../doubles/apiserver/server.ts';

const path = process.argv[2];
if (!path) throw new Error('usage: apiserver.ts KUBECONFIG_PATH');
const double = await ApiServerDouble.start();
await writeKubeconfig(path, double.url, 'bench');
console.log('ready');
// Ends with its parent: stdin closes when the benchmark exits.
process.stdin.resume();
process.stdin.on('end', () => void double.close().then(() => process.exit(0)));
