/**
 * When the daemon's routers speak BGP, and how they stop (RFC 4271 Cease
 * NOTIFICATION, RFC 9003 shutdown communication, the TCP close of RFC
 * 9293).
 *
 * - A router's speaker starts when the change that placed it commits
 *   (routers are built with `holdControlPlane` and started with
 *   `startControlPlane` at commit): a router placed by a change that is
 *   then rolled back never opened a session, and a rebuilt router starts
 *   after the router it replaces has said goodbye.
 * - `VirtualRouter.shutdown` sends every peer a Cease NOTIFICATION
 *   (Administrative Shutdown, with the message as shutdown communication),
 *   closes the connections and keeps the speaker stopped: later polls run
 *   the TCP timers (retransmissions, TIME-WAIT) without opening sessions.
 * - `drainConnections` waits, with the hypervisor still running, until
 *   every TCP connection of the given routers is in TIME-WAIT or gone, or
 *   the grace time is up, so the NOTIFICATIONs and FINs actually leave and
 *   are acknowledged before the links close.
 */
import type { VirtualRouter } from "../../router/router.ts";
import { TcpState } from "../../router/tcp/state.ts";

/** How long a shutdown waits for the routers' TCP connections to close (ms). */
export const SHUTDOWN_GRACE_MS = 1000;
/** How often the wait looks (ms). */
const DRAIN_STEP_MS = 10;

/** TCP connections of `router` not yet closed (TIME-WAIT counts as closed). */
export function openConnections(router: VirtualRouter): number {
  let open = 0;
  for (const c of router.tcp.connections()) {
    if (c.state !== TcpState.TimeWait && c.state !== TcpState.Closed) open++;
  }
  return open;
}

/**
 * Waits until `routers` have no open TCP connection or `graceMs` has
 * passed; answers how long it waited and what was still open.
 */
export async function drainConnections(
  routers: readonly VirtualRouter[],
  graceMs = SHUTDOWN_GRACE_MS,
): Promise<{ waitedMs: number; open: number }> {
  const start = Date.now();
  const open = () => routers.reduce((sum, r) => sum + openConnections(r), 0);
  let left = open();
  while (left > 0 && Date.now() - start < graceMs) {
    await new Promise((r) => setTimeout(r, DRAIN_STEP_MS));
    left = open();
  }
  return { waitedMs: Date.now() - start, open: left };
}
