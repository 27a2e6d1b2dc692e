/** Public surface of the cluster-file module. */
export { DEFAULT_VERSIONS, DEFAULT_VRRP, DEFAULT_SPEAKER, DEFAULT_ADMISSION, DEFAULT_CONTROL_PLANE_LB_PORT, defaultBmlbSettings } from './defaults.js';
export type { ConfigError, ConfigErrorCode, ConfigNotice, ConfigNoticeCode } from './issues.js';
export { loadClusterConfig, checkClusterFile, resolveClusterFile, WORKSPACE_DIR, type CheckResult } from './load.js';
export { parseClusterFile, type ParseResult } from './parse.js';
export { toSpeakerConfig, parseSpeakerConfig, formatSpeakerConfig } from './speaker-config.js';
export { diffForUpdate, type FieldChange, type UpdateDiff } from './update-diff.js';
export * from './model.js';
