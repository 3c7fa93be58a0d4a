// The local mode's status page: `/` is one self-contained HTML page that polls `/api/status` (JSON,
// the current state) and `/api/history` (the sampled series its charts plot) every two seconds. No
// build step and no assets to fetch — the charts are SVG drawn by the page's own script — so it
// works on a machine without network access.
import type { FastifyInstance } from 'fastify';
import { createServer, errorBody, probeRoutes, route } from '../common/http.ts';
import type { Logger } from '../common/log.ts';
import { ANNOTATION_PREFIX } from '../contracts/annotations.ts';
import { HOT_VALUE, WINDOWS, type WindowName } from '../contracts/figures.ts';
import type { ClusterStatus } from './status.ts';
import { HISTORY_CAPACITY, type StatusHistory } from './status-history.ts';

/** The figures the node table shows, in order. */
const TABLE_FIGURES = [
  'cpu_usage_avg_5m',
  'cpu_usage_max_avg_1h',
  'mem_usage_avg_5m',
  'mem_usage_max_avg_1h',
  'gpu_usage_avg_5m',
  HOT_VALUE,
];

const RESOURCE_LABELS: Readonly<Record<string, string>> = { cpu: 'CPU', mem: 'Memory', gpu: 'GPU busy' };
const WINDOW_LABELS: Readonly<Record<WindowName, string>> = {
  active: 'now',
  avg_1m: '1-min average',
  avg_5m: '5-min average',
  max_avg_1h: 'busiest 5 min of the last hour',
  max_avg_1d: 'busiest 5 min of the last day',
};

/** A figure's name as a person reads it; the raw key stays on hover. */
export function figureLabel(figure: string): string {
  if (figure === HOT_VALUE) return 'Recent bindings (hot value)';
  const m = /^(cpu|mem|gpu)_usage_(.+)$/.exec(figure);
  const window = m && (WINDOWS as readonly string[]).includes(m[2]!) ? (m[2] as WindowName) : undefined;
  return m && window ? `${RESOURCE_LABELS[m[1]!]}, ${WINDOW_LABELS[window]}` : figure;
}

export function createStatusServer(opts: {
  logger: Logger;
  status: () => Promise<ClusterStatus>;
  history?: StatusHistory;
}): FastifyInstance {
  const app = createServer({ logger: opts.logger, bodyLimit: 1024 });
  route(app, '/', ['GET'], async (_req, reply) => reply.type('text/html; charset=utf-8').send(PAGE));
  route(app, '/api/status', ['GET'], async (_req, reply) => {
    reply.header('cache-control', 'no-store');
    return opts.status();
  });
  route(app, '/api/history', ['GET'], async (req, reply) => {
    reply.header('cache-control', 'no-store');
    const since = (req.query as Record<string, unknown>).since ?? '0';
    if (typeof since !== 'string' || !/^\d{1,15}$/.test(since)) {
      return reply
        .code(400)
        .send(errorBody('Bad Request', 'since must be a time in epoch milliseconds (digits only)'));
    }
    return { points: opts.history?.since(Number(since)) ?? [] };
  });
  // The page renders whatever the cluster's state is, so it is ready as soon as it listens.
  probeRoutes(app, () => undefined);
  return app;
}

const AGENT_ACTIVE = 'its newest sample: cpu_usage_active, mem_usage_active';
const FIGURES = TABLE_FIGURES.map((key) => ({ key, raw: ANNOTATION_PREFIX + key, label: figureLabel(key) }));

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>loadwise — local cluster</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
 body{font:14px/1.4 system-ui,sans-serif;margin:1.2em;color:#1b1f24;background:#fafbfc}
 h1{font-size:20px;margin:0 0 .2em} h2{font-size:16px;margin:1.4em 0 .4em}
 table{border-collapse:collapse;background:#fff;width:100%} td,th{border:1px solid #d8dee4;padding:4px 6px;text-align:left;vertical-align:top}
 th{background:#f0f3f6;font-weight:600} th[title]{cursor:help;text-decoration:underline dotted #8c959f} .muted{color:#57606a} .err{color:#b42318} .ok{color:#1a7f37}
 .bar{display:inline-block;width:90px;height:9px;background:#eaeef2;border-radius:3px;overflow:hidden;vertical-align:middle;margin-right:4px}
 .bar>i{display:block;height:100%;background:#0969da} .bar.u>i{background:#bf8700}
 .gpu{white-space:nowrap;font-size:12px} code{font-size:12px} .pill{display:inline-block;padding:0 6px;margin:1px;border-radius:8px;background:#eaeef2;font-size:12px}
 .charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(440px,1fr));gap:12px}
 .chart{background:#fff;border:1px solid #d8dee4;border-radius:6px;padding:8px}
 .chart h3{font-size:14px;margin:0 0 4px} .chart svg{display:block;width:100%;height:auto}
 .legend{font-size:12px;margin-top:4px} .legend span{margin-right:10px;white-space:nowrap;cursor:default} .legend i{display:inline-block;width:12px;height:3px;vertical-align:middle;margin-right:4px}
 .count{display:inline-block;padding:0 6px;border-radius:8px;background:#b42318;color:#fff;font-size:12px;font-weight:600}
</style></head><body>
<h1>loadwise — local cluster</h1>
<div id="meta" class="muted">loading…</div>
<h2>Over time</h2>
<div class="charts" id="charts"><div class="muted">collecting the first samples…</div></div>
<h2>Nodes: real load as the controller wrote it on each Node</h2>
<table id="nodes"></table>
<h2>GPUs: what loadwise allocated (blue) and what the GPU reports busy (amber)</h2>
<table id="gpus"></table>
<h2>Latest scheduling decisions (newest first; identical failures in a row shown once, with a count)</h2>
<table id="decisions"></table>
<script>
const FIG=${JSON.stringify(FIGURES)};
const COLORS=['#0969da','#bf3989','#1a7f37','#bf8700','#8250df','#cf222e','#0a7b83','#6e7781'];
const esc=s=>String(s).replace(/[&<>"]/g,c=>({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c]));
const pct=v=>(v*100).toFixed(1)+'%';
const two=n=>String(n).padStart(2,'0');
// One time format everywhere on the page: 24-hour local time of day.
const fmtTime=ms=>{const d=new Date(ms);return two(d.getHours())+':'+two(d.getMinutes())+':'+two(d.getSeconds())};
const bar=(v,c)=>'<span class="bar '+(c||'')+'"><i style="width:'+Math.min(100,Math.max(0,v*100)).toFixed(1)+'%"></i></span>';
function fig(a,k){const x=a[k];if(!x)return '<span class="muted">—</span>';if('raw' in x)return '<span class="err">'+esc(x.raw)+'</span>';
 return (k==='${HOT_VALUE}'?x.value:bar(x.value)+pct(x.value))+' <span class="muted">'+x.ageSeconds+' s old</span>'}
let points=[];
// A line chart: series [{name, title, values:[[t,v]]}], y from 0 to yMax (fractions shown as %).
function chart(id,title,series,opt){
 const W=460,H=190,L=44,R=10,T=8,B=24,now=points.length?points[points.length-1].t:Date.now();
 const t0=points.length?points[0].t:now-60000,t1=Math.max(now,t0+20000);
 let yMax=opt.yMax;if(yMax===undefined){yMax=1;for(const s of series)for(const [,v] of s.values)if(v>yMax)yMax=v;yMax=Math.ceil(yMax*1.1/4)*4}
 const sx=t=>L+(t-t0)/(t1-t0)*(W-L-R),sy=v=>H-B-v/yMax*(H-T-B);
 let g='';
 for(let i=0;i<=4;i++){const v=yMax*i/4;g+='<line x1="'+L+'" x2="'+(W-R)+'" y1="'+sy(v)+'" y2="'+sy(v)+'" stroke="#eaeef2"/><text x="'+(L-4)+'" y="'+(sy(v)+4)+'" font-size="10" text-anchor="end" fill="#57606a">'+(opt.pct?Math.round(v*100)+'%':Math.round(v*10)/10)+'</text>'}
 for(let i=0;i<=3;i++){const t=t0+(t1-t0)*i/3;g+='<text x="'+sx(t)+'" y="'+(H-6)+'" font-size="10" text-anchor="'+(i===0?'start':i===3?'end':'middle')+'" fill="#57606a">'+fmtTime(t)+'</text>'}
 series.forEach((s,i)=>{const c=COLORS[i%COLORS.length];const v=s.values.filter(p=>p[1]!==undefined&&p[1]!==null);
  if(!v.length)return;const d=v.map((p,j)=>(j?'L':'M')+sx(p[0]).toFixed(1)+','+sy(p[1]).toFixed(1)).join(' ');
  g+='<path class="series" d="'+d+'" fill="none" stroke="'+c+'" stroke-width="2"'+(s.dash?' stroke-dasharray="5 3"':'')+'><title>'+esc(s.name+' ('+s.title+')')+'</title></path>';
  if(v.length===1)g+='<circle cx="'+sx(v[0][0])+'" cy="'+sy(v[0][1])+'" r="3" fill="'+c+'"/>'});
 const legend=series.map((s,i)=>'<span title="'+esc(s.title)+'"><i style="background:'+COLORS[i%COLORS.length]+'"></i>'+esc(s.name)+' '+
  (s.values.length&&s.values[s.values.length-1][1]!=null?'<b>'+(opt.pct?pct(s.values[s.values.length-1][1]):s.values[s.values.length-1][1])+'</b>':'')+'</span>').join('');
 return '<div class="chart" id="'+id+'"><h3>'+esc(title)+'</h3><svg viewBox="0 0 '+W+' '+H+'" role="img" aria-label="'+esc(title)+'">'+g+'</svg><div class="legend">'+legend+'</div></div>'}
function renderCharts(){
 if(!points.length)return;
 const names=[...new Set(points.flatMap(p=>Object.keys(p.nodes)))];
 const per=(k)=>names.map(n=>({name:n,title:k+' of '+n+', as its agent reports it (${AGENT_ACTIVE})',values:points.map(p=>[p.t,p.nodes[n]?.[k]])}));
 let h=chart('chart-cpu','CPU in use per node',per('cpu'),{pct:true,yMax:1})+chart('chart-mem','Memory in use per node',per('mem'),{pct:true,yMax:1});
 h+=chart('chart-pods','Demo pods',[
  {name:'bound',title:'pods with a node, not finished (API server)',values:points.map(p=>[p.t,p.pods.bound])},
  {name:'waiting',title:'pods without a node yet (API server)',values:points.map(p=>[p.t,p.pods.waiting])},
  {name:'unschedulable (last minute)',title:'scheduling attempts no node could take, in the last 60 s',values:points.map(p=>[p.t,p.pods.unschedulable])}],{});
 if(points.some(p=>p.gpu))h+=chart('chart-gpu','GPU share: allocated vs utilised',[
  {name:'allocated',title:'share of all GPUs loadwise allocated to pods (vgpu-core / 100 per GPU)',values:points.map(p=>[p.t,p.gpu?.allocated])},
  {name:'utilised',title:'mean GPU utilisation the agents measure',values:points.map(p=>[p.t,p.gpu?.utilised]),dash:true}],{pct:true,yMax:1});
 document.getElementById('charts').innerHTML=h}
// Consecutive failed decisions that read the same become one row with a count: same error, and the
// same nodes refused for the same reasons (figures may move between attempts; digits are ignored).
const gist=s=>String(s).replace(/[0-9]+(\\.[0-9]+)?/g,'#');
function collapse(ds){const out=[];for(const d of ds){const key=d.node?null:gist(d.error||'not bound')+'|'+Object.entries(d.filtered).map(([k,v])=>k+':'+gist(v)).sort().join('|');
 const last=out[out.length-1];if(key&&last&&last.key===key){last.count++;last.firstMs=d.atMs;last.shapes.add(d.shape)}else out.push({d,key,count:1,firstMs:d.atMs,shapes:new Set([d.shape])})}return out}
function render(s){
 const w=s.workload;
 document.getElementById('meta').innerHTML='updated '+fmtTime(s.generatedAtMs)+' · API server <code>'+esc(s.apiServer)+'</code> (kubectl --kubeconfig '+esc(s.kubeconfig)+') · extender <code>'+esc(s.extender)+'</code><br>demo pods: '+w.submitted+' submitted, '+w.bound+' bound, <b>'+w.running+' running</b>, '+w.unschedulable+' unschedulable, '+w.startFailed+' failed to start';
 let h='<tr><th>node</th>'+FIG.map(f=>'<th title="'+esc(f.raw)+'">'+esc(f.label)+'</th>').join('')+'<th title="cpu_usage_active / mem_usage_active from the agent\\'s /statistics">agent now (CPU / memory)</th><th>pods</th></tr>';
 for(const n of s.nodes){h+='<tr><td><b>'+esc(n.name)+'</b><br><span class="muted">'+(n.simulated?'simulated':'this machine')+' · '+esc(n.agentUrl)+'</span></td>'+FIG.map(f=>'<td>'+fig(n.annotations,f.key)+'</td>').join('')
  +'<td>'+(n.agentError?'<span class="err">'+esc(n.agentError)+'</span>':pct(n.agentWindows.cpu_usage_active??0)+' / '+pct(n.agentWindows.mem_usage_active??0))+'</td><td>'+Object.entries(n.pods).map(([k,v])=>'<span class="pill">'+esc(k)+' ×'+v+'</span>').join('')+'</td></tr>'}
 document.getElementById('nodes').innerHTML=h;
 h='<tr><th>node</th><th>GPU</th><th>model</th><th>allocated compute</th><th>allocated memory</th><th>utilisation</th></tr>';
 let gpus=0;for(const n of s.nodes)for(const g of n.gpus){gpus++;const mem=g.memoryMiB?g.allocated.memoryMiB/g.memoryMiB:0;
  h+='<tr><td>'+esc(n.name)+'</td><td>'+g.index+'</td><td>'+esc(g.model)+'</td><td class="gpu">'+bar(g.allocated.core/100)+g.allocated.core+'%</td><td class="gpu">'+bar(mem)+g.allocated.memoryMiB+' / '+g.memoryMiB+' MiB</td><td class="gpu">'+(g.utilization===undefined?'—':bar(g.utilization,'u')+pct(g.utilization))+'</td></tr>'}
 if(!gpus)h+='<tr><td colspan="6" class="muted">no GPUs in this cluster</td></tr>';
 document.getElementById('gpus').innerHTML=h;
 h='<tr><th>time</th><th>pod</th><th>placed on</th><th>scores (0–10)</th><th>filtered out, and why</th><th>device plugin env</th></tr>';
 for(const {d,count,firstMs,shapes} of collapse(s.decisions)){const sc=Object.entries(d.scores).sort((a,b)=>b[1]-a[1]).map(([k,v])=>'<span class="pill">'+esc(k)+' '+v+'</span>').join('');
  const f=Object.entries(d.filtered).map(([k,v])=>'<div><b>'+esc(k)+'</b>: '+esc(v)+'</div>').join('');
  const env=(d.started?.containers??[]).flatMap(c=>Object.entries(c.env).filter(([k])=>/VISIBLE|LIMIT/.test(k)).map(([k,v])=>'<div><code>'+esc(k)+'='+esc(v)+'</code></div>')).join('');
  const when=count>1?fmtTime(firstMs)+'–'+fmtTime(d.atMs):fmtTime(d.atMs)+'<br><span class="muted">'+d.durationMs+' ms</span>';
  const pod=count>1?'<span class="count">×'+count+'</span> '+esc([...shapes].join(', '))+' pods':esc(d.name);
  h+='<tr><td>'+when+'</td><td>'+pod+'</td><td>'+(d.node?'<span class="ok">'+esc(d.node)+'</span>':'<span class="err">'+esc(d.error||'not bound')+'</span>')+(d.started?.error?'<div class="err">'+esc(d.started.error)+'</div>':'')+'</td><td>'+sc+'</td><td>'+(f||'<span class="muted">none</span>')+'</td><td>'+env+'</td></tr>'}
 document.getElementById('decisions').innerHTML=h}
async function tick(){try{
 const since=points.length?points[points.length-1].t:0;
 const [r,hr]=await Promise.all([fetch('api/status'),fetch('api/history?since='+since)]);
 if(hr.ok){points=points.concat((await hr.json()).points);if(points.length>${HISTORY_CAPACITY})points=points.slice(-${HISTORY_CAPACITY});renderCharts()}
 if(r.ok)render(await r.json());else document.getElementById('meta').textContent='status: HTTP '+r.status}
 catch(e){document.getElementById('meta').textContent='cannot reach the local cluster: '+e.message}}
tick();setInterval(tick,2000);
</script></body></html>
`;
