// Leader election on a coordination.k8s.io/v1 Lease, with client-go's rules: a candidate takes the
// Lease when its holder has not renewed for leaseDuration (measured on the candidate's own clock,
// from when it last saw the record change, so clock skew between replicas does not matter); the
// leader renews every retryPeriod and stops leading when it sees another holder, or when it could
// not renew for renewDeadline (< leaseDuration, so it steps down before anyone may take over).
import { CoordinationV1Api, type KubeConfig, type V1Lease, V1MicroTime } from '@kubernetes/client-node';
import type { Clock } from '../common/clock.ts';
import type { Logger } from '../common/log.ts';
import { sleep } from './backoff.ts';
import { apiStatus, classifyApiError, errorMessage, requestOptions } from '../common/kube.ts';

export interface LeaderElectionOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  clock: Clock;
  logger: Logger;
  onChange?: (leading: boolean) => void;
}

export class LeaderElector {
  private readonly api: CoordinationV1Api;
  private leading = false;
  private lastRenewMs = 0;
  private observedRecord = '';
  private observedAtMs = 0;
  private running = false;
  private loop: Promise<void> | undefined;
  private readonly stopSignal = new AbortController();

  constructor(private readonly options: LeaderElectionOptions) {
    if (!(options.renewDeadlineMs < options.leaseDurationMs)) {
      throw new RangeError('the renew deadline must be shorter than the lease duration');
    }
    if (!(options.retryPeriodMs < options.renewDeadlineMs)) {
      throw new RangeError('the retry period must be shorter than the renew deadline');
    }
    this.api = options.kubeConfig.makeApiClient(CoordinationV1Api);
  }

  /**
   * Whether this replica may write now. Checked right before every write: true only while the
   * last successful renewal is younger than the renew deadline.
   */
  isLeader(): boolean {
    return this.leading && this.options.clock.now() - this.lastRenewMs < this.options.renewDeadlineMs;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** Stops campaigning; a leader hands the Lease back so a successor need not wait it out. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.stopSignal.abort();
    await this.loop;
    if (this.leading) {
      this.setLeading(false);
      await this.release();
    }
  }

  private async run(): Promise<void> {
    while (this.running) {
      const started = this.options.clock.now();
      const renewed = await this.tryAcquireOrRenew();
      if (renewed) {
        this.lastRenewMs = started;
        if (!this.leading) this.setLeading(true);
      } else if (
        this.leading &&
        this.options.clock.now() - this.lastRenewMs >= this.options.renewDeadlineMs
      ) {
        this.options.logger.warn(
          { lease: this.options.name },
          'could not renew the lease in time; stepping down',
        );
        this.setLeading(false);
      }
      await sleep(this.options.retryPeriodMs, this.stopSignal.signal);
    }
  }

  private setLeading(leading: boolean): void {
    if (this.leading === leading) return;
    this.leading = leading;
    this.options.logger.info(
      { lease: this.options.name, identity: this.options.identity },
      leading ? 'became leader' : 'stopped leading',
    );
    this.options.onChange?.(leading);
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, name, identity } = this.options;
    const timeout = requestOptions(Math.max(1000, this.options.retryPeriodMs));
    const nowMs = this.options.clock.now();
    const now = new V1MicroTime(nowMs);
    const leaseSeconds = Math.max(1, Math.ceil(this.options.leaseDurationMs / 1000));
    let lease: V1Lease;
    try {
      lease = await this.api.readNamespacedLease({ namespace, name }, timeout);
    } catch (err: unknown) {
      if (apiStatus(err) !== 404) {
        this.options.logger.warn({ err: errorMessage(err) }, 'cannot read the lease');
        return false;
      }
      try {
        await this.api.createNamespacedLease(
          {
            namespace,
            body: {
              metadata: { name, namespace },
              spec: {
                holderIdentity: identity,
                leaseDurationSeconds: leaseSeconds,
                acquireTime: now,
                renewTime: now,
                leaseTransitions: 0,
              },
            },
          },
          timeout,
        );
        return true;
      } catch (createErr: unknown) {
        if (classifyApiError(createErr) !== 'conflict') {
          this.options.logger.warn({ err: errorMessage(createErr) }, 'cannot create the lease');
        }
        return false;
      }
    }
    const spec = lease.spec ?? {};
    const record = JSON.stringify([spec.holderIdentity, toMs(spec.renewTime), spec.leaseTransitions]);
    if (record !== this.observedRecord) {
      this.observedRecord = record;
      this.observedAtMs = nowMs;
    }
    const holder = spec.holderIdentity ?? '';
    const durationMs = (spec.leaseDurationSeconds ?? leaseSeconds) * 1000;
    if (holder !== '' && holder !== identity && this.observedAtMs + durationMs > nowMs) {
      if (this.leading) {
        this.options.logger.warn({ holder }, 'the lease is held by another replica');
        this.setLeading(false);
      }
      return false;
    }
    const taking = holder !== identity;
    lease.spec = {
      ...spec,
      holderIdentity: identity,
      leaseDurationSeconds: leaseSeconds,
      renewTime: now,
      acquireTime: taking ? now : spec.acquireTime,
      leaseTransitions: (spec.leaseTransitions ?? 0) + (taking ? 1 : 0),
    };
    try {
      const updated = await this.api.replaceNamespacedLease({ namespace, name, body: lease }, timeout);
      const u = updated.spec ?? {};
      this.observedRecord = JSON.stringify([u.holderIdentity, toMs(u.renewTime), u.leaseTransitions]);
      this.observedAtMs = nowMs;
      return true;
    } catch (err: unknown) {
      // A conflict means another replica wrote first; whoever it is, we are not the leader now.
      if (classifyApiError(err) === 'conflict' && this.leading) this.setLeading(false);
      else if (classifyApiError(err) !== 'conflict')
        this.options.logger.warn({ err: errorMessage(err) }, 'cannot update the lease');
      return false;
    }
  }

  private async release(): Promise<void> {
    const { namespace, name, identity } = this.options;
    try {
      const lease = await this.api.readNamespacedLease({ namespace, name }, requestOptions(2000));
      if (lease.spec?.holderIdentity !== identity) return;
      const now = new V1MicroTime(this.options.clock.now());
      lease.spec = {
        ...lease.spec,
        holderIdentity: '',
        leaseDurationSeconds: 1,
        renewTime: now,
        acquireTime: now,
      };
      await this.api.replaceNamespacedLease({ namespace, name, body: lease }, requestOptions(2000));
      this.options.logger.info({ lease: name }, 'released the lease');
    } catch (err: unknown) {
      this.options.logger.warn(
        { err: errorMessage(err) },
        'could not release the lease; it will expire on its own',
      );
    }
  }
}

function toMs(value: Date | string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = value instanceof Date ? value.getTime() : Date.parse(value);
  return Number.isNaN(ms) ? undefined : ms;
}
