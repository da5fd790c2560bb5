/**
 * Front doors onto a translator graph: {@link Volume} (fs.promises-shaped) and the FUSE mount.
 * @module
 */
export { Volume, VolumeFileHandle, VolumeStats, VolumeDirent, openVolume, parseOpenFlags, type VolumeOptions, type VolumeSource, type RmOptions } from './volume.ts';
