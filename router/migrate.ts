/**
 * Moving a live virtual router between hosts, the router's side of it
 * (DESIGN.md, Migration; the protocol is migration/): the data-plane image
 * and its changes, the control image and the final state, the source
 * adapter over a running `VirtualRouter` and the standby that becomes the
 * router on the target. The parts live in router/migrate/.
 */
export { type ControlImage, decodeControl, encodeControl } from "./migrate/control.ts";
export {
  decodeDataPlane,
  encodeDataPlaneChanges,
  encodeDataPlaneImage,
} from "./migrate/dataplane.ts";
export { ImageKind } from "./migrate/frame.ts";
export { decodeKept, encodeKept, keptSegment } from "./migrate/kept.ts";
export { MigratableVirtualRouter, type MigratableVirtualRouterOptions } from "./migrate/source.ts";
export {
  type StandbyOptions,
  type StandbyResult,
  VirtualStandbyFactory,
  VirtualStandbyRouter,
} from "./migrate/standby.ts";
