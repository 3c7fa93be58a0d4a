// The local mode's status page: `/` is one self-contained HTML page that polls `/api/status`
// (JSON, the same data) every two seconds. No build step and no assets to fetch, so it works on a
// machine without network access.
import type { FastifyInstance } from 'fastify';
import { createServer, probeRoutes, route } from '../../common/http.ts';
import type { Logger } from '../../common/log.ts';
import type { ClusterStatus } from './status.ts';

export function createStatusServer(opts: {
  logger: Logger;
  status: () => Promise<ClusterStatus>;
}): FastifyInstance {
  const app = createServer({ logger: opts.logger, bodyLimit: 1024 });
  route(app, '/', ['GET'], async (_req, reply) => reply.type('text/html; charset=utf-8').send(PAGE));
  route(app, '/api/status', ['GET'], async (_req, reply) => {
    reply.header('cache-control', 'no-store');
    return opts.status();
  });
  // The page renders whatever the cluster's state is, so it is ready as soon as it listens.
  probeRoutes(app, () => undefined);
  return app;
}

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>loadwise — local cluster</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
 body{font:14px/1.4 system-ui,sans-serif;margin:1.2em;color:#1b1f24;background:#fafbfc}
 h1{font-size:20px;margin:0 0 .2em} h2{font-size:16px;margin:1.4em 0 .4em}
 table{border-collapse:collapse;background:#fff;width:100%} td,th{border:1px solid #d8dee4;padding:4px 6px;text-align:left;vertical-align:top}
 th{background:#f0f3f6;font-weight:600} .muted{color:#57606a} .err{color:#b42318} .ok{color:#1a7f37}
 .bar{display:inline-block;width:90px;height:9px;background:#eaeef2;border-radius:3px;overflow:hidden;vertical-align:middle;margin-right:4px}
 .bar>i{display:block;height:100%;background:#0969da} .bar.u>i{background:#bf8700}
 .gpu{white-space:nowrap;font-size:12px} code{font-size:12px} .pill{display:inline-block;padding:0 6px;margin:1px;border-radius:8px;background:#eaeef2;font-size:12px}
</style></head><body>
<h1>loadwise — local cluster</h1>
<div id="meta" class="muted">loading…</div>
<h2>Nodes: real load as the controller wrote it on each Node</h2>
<table id="nodes"></table>
<h2>GPUs: what loadwise allocated (blue) and what the GPU reports busy (amber)</h2>
<table id="gpus"></table>
<h2>Latest scheduling decisions (newest first)</h2>
<table id="decisions"></table>
<script>
const FIG=['cpu_usage_avg_5m','cpu_usage_max_avg_1h','mem_usage_avg_5m','mem_usage_max_avg_1h','gpu_usage_avg_5m','node_hot_value'];
const esc=s=>String(s).replace(/[&<>"]/g,c=>({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c]));
const pct=v=>(v*100).toFixed(1)+'%';
const bar=(v,c)=>'<span class="bar '+(c||'')+'"><i style="width:'+Math.min(100,Math.max(0,v*100)).toFixed(1)+'%"></i></span>';
function fig(a,k){const x=a[k];if(!x)return '<span class="muted">—</span>';if('raw' in x)return '<span class="err">'+esc(x.raw)+'</span>';
 return (k==='node_hot_value'?x.value:bar(x.value)+pct(x.value))+' <span class="muted">'+x.ageSeconds+'s</span>'}
function render(s){
 const w=s.workload;
 document.getElementById('meta').innerHTML='updated '+esc(s.generatedAt)+' · API server <code>'+esc(s.apiServer)+'</code> (kubectl --kubeconfig '+esc(s.kubeconfig)+') · extender <code>'+esc(s.extender)+'</code><br>demo pods: '+w.submitted+' submitted, '+w.bound+' bound, <b>'+w.running+' running</b>, '+w.unschedulable+' unschedulable, '+w.startFailed+' failed to start';
 let h='<tr><th>node</th>'+FIG.map(f=>'<th>'+f+'</th>').join('')+'<th>agent now (cpu / mem)</th><th>pods</th></tr>';
 for(const n of s.nodes){h+='<tr><td><b>'+esc(n.name)+'</b><br><span class="muted">'+(n.simulated?'simulated':'this machine')+' · '+esc(n.agentUrl)+'</span></td>'+FIG.map(f=>'<td>'+fig(n.annotations,f)+'</td>').join('')
  +'<td>'+(n.agentError?'<span class="err">'+esc(n.agentError)+'</span>':pct(n.agentWindows.cpu_usage_active??0)+' / '+pct(n.agentWindows.mem_usage_active??0))+'</td><td>'+Object.entries(n.pods).map(([k,v])=>'<span class="pill">'+esc(k)+' ×'+v+'</span>').join('')+'</td></tr>'}
 document.getElementById('nodes').innerHTML=h;
 h='<tr><th>node</th><th>GPU</th><th>model</th><th>allocated core</th><th>allocated memory</th><th>utilisation</th></tr>';
 for(const n of s.nodes)for(const g of n.gpus){const mem=g.memoryMiB?g.allocated.memoryMiB/g.memoryMiB:0;
  h+='<tr><td>'+esc(n.name)+'</td><td>'+g.index+'</td><td>'+esc(g.model)+'</td><td class="gpu">'+bar(g.allocated.core/100)+g.allocated.core+'%</td><td class="gpu">'+bar(mem)+g.allocated.memoryMiB+' / '+g.memoryMiB+' MiB</td><td class="gpu">'+(g.utilization===undefined?'—':bar(g.utilization,'u')+pct(g.utilization))+'</td></tr>'}
 document.getElementById('gpus').innerHTML=h;
 h='<tr><th>time</th><th>pod</th><th>placed on</th><th>scores (0–10)</th><th>filtered out, and why</th><th>device plugin env</th></tr>';
 for(const d of s.decisions){const sc=Object.entries(d.scores).sort((a,b)=>b[1]-a[1]).map(([k,v])=>'<span class="pill">'+esc(k)+' '+v+'</span>').join('');
  const f=Object.entries(d.filtered).map(([k,v])=>'<div><b>'+esc(k)+'</b>: '+esc(v)+'</div>').join('');
  const env=(d.started?.containers??[]).flatMap(c=>Object.entries(c.env).filter(([k])=>/VISIBLE|LIMIT/.test(k)).map(([k,v])=>'<div><code>'+esc(k)+'='+esc(v)+'</code></div>')).join('');
  h+='<tr><td>'+esc(new Date(d.atMs).toLocaleTimeString())+'<br><span class="muted">'+d.durationMs+' ms</span></td><td>'+esc(d.name)+'</td><td>'+(d.node?'<span class="ok">'+esc(d.node)+'</span>':'<span class="err">'+esc(d.error||'not bound')+'</span>')+(d.started?.error?'<div class="err">'+esc(d.started.error)+'</div>':'')+'</td><td>'+sc+'</td><td>'+(f||'<span class="muted">none</span>')+'</td><td>'+env+'</td></tr>'}
 document.getElementById('decisions').innerHTML=h}
async function tick(){try{const r=await fetch('api/status');if(r.ok)render(await r.json());else document.getElementById('meta').textContent='status: HTTP '+r.status}
 catch(e){document.getElementById('meta').textContent='cannot reach the local cluster: '+e.message}}
tick();setInterval(tick,2000);
</script></body></html>
`;
