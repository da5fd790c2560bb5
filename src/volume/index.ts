/**
 * Front doors onto a translator graph: {@link Volume} (fs.promises-shaped) and the FUSE mount.
 * @module
 */
export { Volume, VolumeFileHandle, VolumeStats, VolumeDirent, openVolume, parseOpenFlags, type VolumeOptions, type VolumeSource, type RmOptions } from './volume.ts';
export { mountVolume, fuseUnavailableReason, type Mount, type MountOptions } from './fuse.ts';
