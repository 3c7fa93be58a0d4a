// Waiting in tests without sleeping as synchronisation: poll a condition that only another
// component's watch can make true (there is no event to await across a process or an HTTP hop),
// with a deadline that names what never happened.

/** Checks `condition` every 10 ms until it holds; fails with `what` after `timeoutMs`. */
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  what: string | (() => string),
  timeoutMs = 5000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : what()}`,
      );
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Like waitFor, for a value: resolves with the first defined result of `read`. */
export async function eventually<T>(
  read: () => Promise<T | undefined>,
  what: string,
  timeoutMs = 5000,
): Promise<T> {
  let value: T | undefined;
  await waitFor(async () => (value = await read()) !== undefined, what, timeoutMs);
  return value!;
}

/** A loopback port free right now, for a command that must be told its port up front. */
export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
