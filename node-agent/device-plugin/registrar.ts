// Registers the plugin's resources with kubelet: at start, again whenever kubelet.sock is recreated
// (a kubelet restart forgets every plugin), and with backoff after a failure. A restarting kubelet
// also deletes the sockets in its directory, so a server whose socket is gone is bound afresh first.
import { join } from 'node:path';
import type { Logger } from '../../common/log.ts';
import {
  DEVICE_PLUGIN_API_VERSION,
  KUBELET_SOCKET,
  VGPU_PLUGIN_SOCKETS,
  VGPU_RESOURCE_NAMES,
  type VgpuResourceKind,
} from '../../contracts/device-plugin.ts';
import { type SocketIdentity, socketIdentity } from './kubelet-watch.ts';
import { type DevicePluginOptions, devicepluginApi, insecure, unixTarget } from './proto.ts';
import type { ResourceServer } from './resource-server.ts';

const REGISTER_DEADLINE_MS = 5000;
const BACKOFF = { initialMs: 500, maxMs: 30_000 };

export interface RegistrarOptions {
  socketDir: string;
  /** The resource name registered per kind (loadwise's by default; gpu-manager's with --resource-names). */
  resourceNames?: Readonly<Record<VgpuResourceKind, string>>;
  servers: Readonly<Record<VgpuResourceKind, ResourceServer>>;
  options: DevicePluginOptions;
  logger: Logger;
  onRegistered: (kind: VgpuResourceKind) => void;
  /**
   * Whether there is anything true to advertise yet (the GPU inventory was read): until then no
   * registration happens, whatever asks for one, so kubelet never counts devices the plugin does
   * not know. Call registerAll() again once it is.
   */
  mayRegister?: () => boolean;
}

export class KubeletRegistrar {
  private timer: NodeJS.Timeout | undefined;
  private failures = 0;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;

  constructor(private readonly opts: RegistrarOptions) {}

  private get names(): Readonly<Record<VgpuResourceKind, string>> {
    return this.opts.resourceNames ?? VGPU_RESOURCE_NAMES;
  }

  /** What the kubelet.sock watcher reports. */
  kubeletChanged(identity: SocketIdentity): void {
    if (identity === undefined) {
      this.opts.logger.info('kubelet.sock is gone; waiting for kubelet to come back');
      return;
    }
    this.opts.logger.info('kubelet.sock was recreated (kubelet restarted); registering again');
    this.failures = 0;
    void this.registerAll();
  }

  /** Registers every resource; concurrent callers share one run, and a call during a run queues one more. */
  registerAll(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = this.registerOnce().finally(() => {
      this.running = undefined;
      if (this.again && !this.stopped) {
        this.again = false;
        void this.registerAll();
      }
    });
    return this.running;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  private async registerOnce(): Promise<void> {
    clearTimeout(this.timer);
    if (this.opts.mayRegister && !this.opts.mayRegister()) {
      this.opts.logger.info('the GPU inventory is not known yet; registering with kubelet once it is');
      return;
    }
    const kubelet = join(this.opts.socketDir, KUBELET_SOCKET);
    if ((await socketIdentity(kubelet)) === undefined) {
      this.opts.logger.info({ socket: kubelet }, 'kubelet.sock not there yet; will register when it appears');
      return;
    }
    try {
      for (const kind of Object.keys(this.opts.servers) as VgpuResourceKind[]) {
        if (this.stopped) return;
        const server = this.opts.servers[kind];
        if (!(await server.socketPresent())) {
          await server.stop();
          await server.start();
        }
        await this.register(kubelet, kind);
        this.opts.logger.info({ resource: this.names[kind] }, 'registered with kubelet');
        this.opts.onRegistered(kind);
      }
      this.failures = 0;
    } catch (err) {
      if (this.stopped) return;
      this.failures++;
      const delay = Math.min(BACKOFF.maxMs, BACKOFF.initialMs * 2 ** Math.min(this.failures - 1, 10));
      this.opts.logger.warn(
        { err: (err as Error).message, retryInMs: delay },
        'registration with kubelet failed',
      );
      this.timer = setTimeout(() => void this.registerAll(), delay);
      this.timer.unref();
    }
  }

  private register(kubeletSocket: string, kind: VgpuResourceKind): Promise<void> {
    const { Registration } = devicepluginApi();
    const client = new Registration(unixTarget(kubeletSocket), insecure());
    return new Promise<void>((resolve, reject) => {
      client.Register(
        {
          version: DEVICE_PLUGIN_API_VERSION,
          endpoint: VGPU_PLUGIN_SOCKETS[kind],
          resource_name: this.names[kind],
          options: this.opts.options,
        },
        { deadline: Date.now() + REGISTER_DEADLINE_MS },
        (err) => {
          client.close();
          if (err) reject(err);
          else resolve();
        },
      );
    });
  }
}
