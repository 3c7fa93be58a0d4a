// Which pod and container a host process belongs to, from `<proc>/<pid>/cgroup`. kubelet puts every
// container in a cgroup whose path names the pod UID and the runtime's container ID; the spelling
// depends on the cgroup version (v1: one line per hierarchy; v2: one `0::` line), the cgroup driver
// and the runtime:
//
//   cgroupfs: /kubepods/burstable/pod<uid>/<64-hex id>            (Guaranteed pods: /kubepods/pod<uid>/…)
//   systemd:  /kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid, - as _>.slice/
//             cri-containerd-<id>.scope | crio-<id>.scope | docker-<id>.scope
//
// A path may have a prefix (kubelet's --cgroup-root, kind's /kubelet.slice/kubelet-kubepods.slice)
// and, under a cgroup namespace, leading `/..` segments: only the pod and container segments count.
// A pause (sandbox) container's process maps to its own ID, which no container status names; a
// runtime's conmon (`crio-conmon-<id>.scope`) is not a container process at all.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface ContainerRef {
  /** The pod UID with dashes, as the API server spells it. */
  podUID: string;
  /** The runtime's container ID: 64 lowercase hex digits. */
  containerID: string;
}

const UID = '[0-9a-fA-F]{8}[-_][0-9a-fA-F]{4}[-_][0-9a-fA-F]{4}[-_][0-9a-fA-F]{4}[-_][0-9a-fA-F]{12}';
// `pod<uid>` as a whole segment (cgroupfs) or the end of a systemd kubepods slice name.
const POD_SEGMENT = new RegExp(
  `^(?:pod(${UID})|[A-Za-z0-9_.-]*kubepods[A-Za-z0-9_.-]*-pod(${UID})\\.slice)$`,
);
const CONTAINER_SEGMENT = /^(?:(?:cri-containerd|crio|docker)-([0-9a-f]{64})\.scope|([0-9a-f]{64}))$/;
/** The most of a cgroup file read: real ones are a few hundred bytes, 13 lines at most on v1. */
const MAX_BYTES = 16 * 1024;

/** Finds the pod and container in one cgroup path, or undefined when it is not a container's. */
export function parseCgroupPath(path: string): ContainerRef | undefined {
  const segments = path.split('/');
  for (let i = 0; i < segments.length - 1; i++) {
    const pod = POD_SEGMENT.exec(segments[i]!);
    if (!pod) continue;
    const container = CONTAINER_SEGMENT.exec(segments[i + 1]!);
    if (!container) return undefined;
    return {
      podUID: (pod[1] ?? pod[2]!).replace(/_/g, '-').toLowerCase(),
      containerID: container[1] ?? container[2]!,
    };
  }
  return undefined;
}

/**
 * The container a `/proc/<pid>/cgroup` text names. v2's unified line is preferred; on v1 any
 * hierarchy that names a container will do (they agree, kubelet creates them together), the
 * memory or cpu one usually being first to say it.
 */
export function parseCgroupFile(text: string): ContainerRef | undefined {
  let found: ContainerRef | undefined;
  for (const line of text.split('\n')) {
    // hierarchy-ID:controller-list:path — the path may itself hold ':'.
    const first = line.indexOf(':');
    const second = first < 0 ? -1 : line.indexOf(':', first + 1);
    if (second < 0) continue;
    const ref = parseCgroupPath(line.slice(second + 1).trim());
    if (!ref) continue;
    if (line.startsWith('0::')) return ref;
    found ??= ref;
  }
  return found;
}

/** Reads and parses `<procPath>/<pid>/cgroup`; undefined when the process is gone or not a container's. */
export async function containerOfPid(procPath: string, pid: number): Promise<ContainerRef | undefined> {
  if (!Number.isSafeInteger(pid) || pid <= 0) return undefined;
  let text: string;
  try {
    const buffer = await readFile(join(procPath, String(pid), 'cgroup'));
    text = buffer.subarray(0, MAX_BYTES).toString('utf8');
  } catch {
    return undefined;
  }
  return parseCgroupFile(text);
}

/** `containerd://<id>`, `cri-o://<id>`, `docker://<id>` → the bare ID (status.containerStatuses). */
export function bareContainerID(statusID: string | undefined): string | undefined {
  if (statusID === undefined) return undefined;
  const cut = statusID.indexOf('://');
  const id = cut < 0 ? statusID : statusID.slice(cut + 3);
  return /^[0-9a-f]{64}$/.test(id) ? id : undefined;
}
