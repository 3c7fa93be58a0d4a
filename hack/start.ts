// `npm start`: the local all-in-one mode (agent, controller and extender against an embedded
// cluster) is its own issue and has not landed yet. Until it does, say so and point at what
// runs today, and exit cleanly so scripts that call `npm start` do not hang.
const message = `loadwise local all-in-one mode: not yet available.

What runs today:
  npm run agent -- --listen 127.0.0.1:19101     # the node agent on this machine's /proc
  curl -s http://127.0.0.1:19101/statistics      # its real-load windows (JSON)
  curl -s http://127.0.0.1:19101/metrics         # the same as Prometheus text
  npm run controller -- --help                   # annotates Nodes (needs a cluster)
  npm run scheduler -- --help                    # the kube-scheduler extender (needs a cluster)
  npm run simulate -- --help                     # GPU placement on the Alibaba openb traces
`;
process.stdout.write(message);
